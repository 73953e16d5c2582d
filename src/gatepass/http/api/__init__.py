"""The JSON management and registration API under ``/api/v1`` (FastAPI, with OpenAPI).

FastAPI serves only this API (DESIGN §2 "Hot paths stay thin"); the RFC endpoints stay plain
Starlette routes. Bodies are capped before anything parses them.
"""

from __future__ import annotations

from fastapi import FastAPI

from gatepass.http.api import admin, agents, billing
from gatepass.http.api._shared import install_error_handlers
from gatepass.http.jsonbody import BodyLimit
from gatepass.ratelimit import Policy
from gatepass.runtime import Runtime

__all__ = ["API_PREFIX", "api_app"]

API_PREFIX = "/api/v1"


def api_app(runtime: Runtime, source_policy: Policy) -> BodyLimit:
    """The API as an ASGI app to mount at ``API_PREFIX``; ``source_policy`` resolves client
    addresses exactly as the registration rate limit does."""
    app = FastAPI(title="Gatepass API", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", redirect_slashes=False)  # no Host-built redirect
    app.state.runtime = runtime
    app.state.source_policy = source_policy
    install_error_handlers(app)
    for module in (agents, admin, billing):
        app.include_router(module.router)
    return BodyLimit(app, runtime.settings.max_body_bytes)
