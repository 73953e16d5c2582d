"""FastAPI dependency (RFC 6750 §2.1, §3.1; RFC 9728 §2): ``require_scopes(...)`` -> ``Principal``.

The dependency reads the ``Principal`` that ``BearerAuthMiddleware`` (or the Starlette backend)
put in the ASGI scope; given a ``verifier`` it authenticates the ``Authorization`` header itself.
Refusals raise ``GatepassHTTPException``. Call ``install_exception_handler(app)`` so they are sent
as the Gatepass JSON body; without it FastAPI's default handler wraps that body in ``detail``
(status and headers are the same). Each dependency exposes ``gatepass_scopes``, which
``gatepass.rs.metadata.declared_scopes`` collects for ``scopes_supported``.

``protect(app, verifier)`` is the one-line setup: the exception handler, then
``BearerAuthMiddleware`` around the app, leaving FastAPI's own documentation pages
(``docs_url``, ``redoc_url``, ``openapi_url``; pass ``None`` to FastAPI to drop them) and
``/.well-known/`` public, and serving the RFC 9728 metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from starlette.responses import Response

from gatepass.errors import OAuthError
from gatepass.models import Principal
from gatepass.rs._responses import check_scopes, refusal
from gatepass.rs.asgi import CONFIG_KEY, PRINCIPAL_KEY, BearerAuthMiddleware
from gatepass.rs.config import ResourceServerConfig
from gatepass.rs.verifier import TokenVerifier

__all__ = [
    "GatepassHTTPException",
    "ScopeRequirement",
    "install_exception_handler",
    "protect",
    "public_paths",
    "require_scopes",
]


class GatepassHTTPException(HTTPException):
    """A refusal raised from a dependency; ``detail`` is the Gatepass JSON body."""

    def __init__(
        self, error: OAuthError, config: ResourceServerConfig, scopes: Sequence[str] = ()
    ) -> None:
        rendered = refusal(error, config, scopes)
        super().__init__(rendered.status, detail=error.body(), headers=rendered.headers)
        self.error, self.rendered = error, rendered


async def _handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatepassHTTPException)
    rendered = exc.rendered
    return Response(rendered.body, status_code=rendered.status, headers=rendered.headers)


def install_exception_handler(app: FastAPI) -> None:
    """Send ``GatepassHTTPException`` refusals with the exact Gatepass body and challenge."""
    app.add_exception_handler(GatepassHTTPException, _handle)


class ScopeRequirement:
    """The dependency: needs every scope in ``gatepass_scopes``, returns the ``Principal``."""

    def __init__(self, scopes: Sequence[str], verifier: TokenVerifier | None = None) -> None:
        self.gatepass_scopes = tuple(scopes)
        self.verifier = verifier

    async def __call__(self, request: Request) -> Principal:
        config = self._config(request)
        try:
            principal = request.scope.get(PRINCIPAL_KEY)
            if principal is None and self.verifier is not None:
                values = request.headers.getlist("authorization")
                principal = await self.verifier.authenticate(values)
                request.scope[PRINCIPAL_KEY] = principal
            return check_scopes(principal, self.gatepass_scopes, config)
        except OAuthError as err:
            raise GatepassHTTPException(err, config, self.gatepass_scopes) from None

    def _config(self, request: Request) -> ResourceServerConfig:
        config = self.verifier.config if self.verifier else request.scope.get(CONFIG_KEY)
        if not isinstance(config, ResourceServerConfig):
            raise RuntimeError("require_scopes needs BearerAuthMiddleware or a verifier")
        return config


def require_scopes(*scopes: str, verifier: TokenVerifier | None = None) -> ScopeRequirement:
    """``Depends(require_scopes("read:projects"))`` -> the caller's ``Principal`` or a refusal."""
    return ScopeRequirement(scopes, verifier)


def public_paths(app: FastAPI) -> frozenset[str]:
    """FastAPI's documentation paths that are switched on (Swagger UI, its OAuth2 redirect,
    ReDoc, the OpenAPI document)."""
    urls = (app.docs_url, app.swagger_ui_oauth2_redirect_url if app.docs_url else None,
            app.redoc_url, app.openapi_url)
    return frozenset(url for url in urls if url)


def protect(app: FastAPI, verifier: TokenVerifier, **options: Any) -> BearerAuthMiddleware:
    """``app`` behind the bearer check, except its documentation pages and ``/.well-known/``;
    refusals in the Gatepass format; the RFC 9728 metadata served. ``options`` go to
    ``BearerAuthMiddleware`` (e.g. ``protected_paths``, ``metadata_options``)."""
    install_exception_handler(app)
    public = public_paths(app)
    options.setdefault(
        "exempt", lambda path: path in public or path.startswith("/.well-known/"))
    return BearerAuthMiddleware(app, verifier, **options)
