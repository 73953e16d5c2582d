"""The guide's "Putting it all together": discover -> register -> token -> call.

Authlib's httpx client fetches the token (RFC 6749 §4.4) through the ASGI transport; the call
goes to a resource server built with ``gatepass.rs`` that verifies the token against our JWKS.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, request_response

from gatepass.rs import BearerAuthMiddleware, ResourceServerConfig, TokenVerifier, require_scopes

from .conftest import API, ISSUER, Harness, bearer

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

authlib_httpx: types.ModuleType
try:  # Authlib's httpx integration runs on httpx2 when it is installed, else on httpx
    import httpx2 as authlib_httpx
except ImportError:  # pragma: no cover - depends on the environment
    authlib_httpx = httpx


async def projects(request: Request) -> JSONResponse:
    return JSONResponse({"projects": ["apollo"], "caller": request.user.display_name})


async def analytics(request: Request) -> JSONResponse:
    return JSONResponse({"visits": 42})


@pytest.fixture
async def api(h: Harness) -> AsyncIterator[httpx.AsyncClient]:
    """The guide's API at ``https://api.example.com``, trusting our issuer's JWKS."""
    as_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url=ISSUER)
    verifier = TokenVerifier(ResourceServerConfig(issuer=ISSUER, resource=API,
                                                  jwks_uri=ISSUER + "/.well-known/jwks.json",
                                                  revocation="none"),
                             http_client=as_http)
    inner = Starlette(routes=[
        Route("/api/projects", require_scopes("read:projects")(request_response(projects))),
        Route("/api/analytics", require_scopes("read:analytics")(request_response(analytics))),
    ])
    app = BearerAuthMiddleware(inner, verifier)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url=API) as client:
        yield client
    await as_http.aclose()


async def test_guide_full_agent_journey_with_authlib(h: Harness, api: httpx.AsyncClient) -> None:
    # 1. Discover
    config = (await h.http.get("/.well-known/openid-configuration")).json()
    token_endpoint, registration = config["token_endpoint"], config["agent_registration_url"]
    assert registration == ISSUER + "/api/v1/agents/register"
    assert config["agent_tos_url"] == ISSUER + "/terms/agent-tos"
    assert config["agent_documentation"].startswith(ISSUER)
    assert (await h.http.get(config["agent_tos_url"])).status_code == 200

    # 2. Register (first time only)
    reg = (await h.http.post(registration, json={
        "agent_name": "data-analyst-agent", "agent_type": "autonomous",
        "requested_scopes": ["read:projects", "read:analytics"], "tos_accepted": True,
        "billing_token": await h.billing_token()})).json()

    # 3. Get an access token (Authlib, client_secret_post as in the guide)
    transport = authlib_httpx.ASGITransport(app=h.app, client=("203.0.113.7", 50_000))
    async with AsyncOAuth2Client(reg["client_id"], reg["client_secret"], transport=transport,
                                 token_endpoint_auth_method="client_secret_post") as oauth:
        token = await oauth.fetch_token(token_endpoint, grant_type="client_credentials",
                                        scope="read:projects read:analytics", resource=API)
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "read:projects read:analytics"

    # 4. Use the API
    headers = bearer(token["access_token"])
    projects_resp = await api.get("/api/projects", headers=headers)
    assert projects_resp.status_code == 200
    assert projects_resp.json() == {"projects": ["apollo"], "caller": reg["client_id"]}
    assert (await api.get("/api/analytics", headers=headers)).json() == {"visits": 42}
    assert (await api.get("/api/projects")).status_code == 401


async def test_journey_agent_sees_its_state_with_access_token(h: Harness) -> None:
    reg = await h.registered()
    token = (await h.token(reg["client_id"], reg["client_secret"], "read:projects")).json()
    me = await h.http.get("/api/v1/agents/me", headers=bearer(token["access_token"]))
    assert me.status_code == 200
    assert me.json()["client_id"] == reg["client_id"]
    assert me.json()["status"] == "active"
