"""Starlette backend and FastAPI dependency (RFC 6750 §2.1, §3.1): same bodies, same challenges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatepass.models import Principal
from gatepass.rs import BearerAuthMiddleware, TokenVerifier
from gatepass.rs.fastapi import install_exception_handler
from gatepass.rs.fastapi import require_scopes as depends_on_scopes
from gatepass.rs.starlette import GatepassBackend, GatepassUser, requires_scopes

from .conftest import RESOURCE, TOKEN_ENDPOINT, Minter, base_claims, bearer

METADATA = f"{RESOURCE}/.well-known/oauth-protected-resource"
FORBIDDEN_BODY = {
    "error": "insufficient_scope",
    "error_description": "Required scopes: execute:deployments",
    "required_scopes": ["execute:deployments"],
    "granted_scopes": ["read:projects", "write:webhooks"],
    "token_endpoint": TOKEN_ENDPOINT,
}
FORBIDDEN_CHALLENGE = (
    f'Bearer realm="{RESOURCE}", error="insufficient_scope", '
    'error_description="Required scopes: execute:deployments", '
    f'scope="execute:deployments", resource_metadata="{METADATA}"'
)


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=RESOURCE)


# --- Starlette ----------------------------------------------------------------------------------


@pytest.fixture
async def starlette_api(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    backend = GatepassBackend(verifier)

    @requires("read:projects")
    async def projects(request: Request) -> Response:
        user = request.user
        assert isinstance(user, GatepassUser)
        return JSONResponse({"scopes": request.auth.scopes, "client": user.principal.client_id})

    @requires_scopes("execute:deployments")
    async def deploy(request: Request) -> Response:
        return JSONResponse({"deployed": True})

    @requires_scopes("read:projects")
    async def me(request: Request) -> Response:
        user = request.user
        return JSONResponse({"authenticated": user.is_authenticated, "id": user.identity})

    async def anonymous(request: Request) -> Response:
        return JSONResponse({"authenticated": request.user.is_authenticated})

    routes = [
        Route("/projects", projects),
        Route("/deploy", deploy),
        Route("/anon", anonymous),
        Route("/me", me),
    ]
    middleware = [Middleware(AuthenticationMiddleware, backend=backend, on_error=backend.on_error)]
    async with client_for(Starlette(routes=routes, middleware=middleware)) as client:
        yield client


async def test_starlette_backend_sets_auth_and_user(
    starlette_api: httpx.AsyncClient, mint: Minter
) -> None:
    token = mint(base_claims(scope="write:projects"))
    response = await starlette_api.get("/projects", headers=bearer(token))
    assert response.json() == {"scopes": ["read:projects", "write:projects"], "client": "agent-123"}


async def test_starlette_no_header_is_anonymous(starlette_api: httpx.AsyncClient) -> None:
    assert (await starlette_api.get("/anon")).json() == {"authenticated": False}
    response = await starlette_api.get("/deploy")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="{RESOURCE}", scope="execute:deployments", resource_metadata="{METADATA}"'
    )


async def test_starlette_invalid_token_uses_gatepass_refusal(
    starlette_api: httpx.AsyncClient, mint: Minter, keys: Any
) -> None:
    response = await starlette_api.get("/projects", headers=bearer(mint(key=keys.foreign_es256)))
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The token signature is invalid",
    }
    assert response.headers["cache-control"] == "no-store"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_starlette_query_token_refused(
    starlette_api: httpx.AsyncClient, mint: Minter
) -> None:
    response = await starlette_api.get("/anon", params={"access_token": mint()})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_starlette_requires_scopes_403_exact(
    starlette_api: httpx.AsyncClient, mint: Minter
) -> None:
    response = await starlette_api.get("/deploy", headers=bearer(mint()))
    assert response.status_code == 403
    assert response.json() == FORBIDDEN_BODY
    assert response.headers["www-authenticate"] == FORBIDDEN_CHALLENGE


def test_starlette_on_error_for_foreign_authentication_error(verifier: TokenVerifier) -> None:
    from starlette.authentication import AuthenticationError

    conn = HTTPConnection({"type": "http", "headers": [], "path": "/"})
    response = GatepassBackend(verifier).on_error(conn, AuthenticationError("nope"))
    assert response.status_code == 401


async def test_requires_scopes_without_middleware_is_an_error() -> None:
    @requires_scopes("a")
    async def endpoint(request: Request) -> Response:
        raise AssertionError

    with pytest.raises(RuntimeError):
        await endpoint(Request({"type": "http", "headers": [], "path": "/"}))


# --- FastAPI ------------------------------------------------------------------------------------


def fastapi_app(verifier: TokenVerifier, *, middleware: bool, handler: bool = True) -> FastAPI:
    app = FastAPI()
    dep_verifier = None if middleware else verifier

    reader = Depends(depends_on_scopes("read:projects", verifier=dep_verifier))

    @app.get("/projects")
    async def projects(principal: Principal = reader) -> dict[str, Any]:
        return {"client_id": principal.client_id, "scopes": sorted(principal.scopes)}

    @app.post(
        "/deployments",
        dependencies=[Depends(depends_on_scopes("execute:deployments", verifier=dep_verifier))],
    )
    async def deploy() -> dict[str, bool]:
        return {"deployed": True}

    if handler:
        install_exception_handler(app)
    if middleware:
        return BearerAuthMiddleware(app, verifier)  # type: ignore[return-value]
    return app


@pytest.mark.parametrize("middleware", [True, False])
async def test_fastapi_dependency_returns_principal(
    verifier: TokenVerifier, mint: Minter, middleware: bool
) -> None:
    async with client_for(fastapi_app(verifier, middleware=middleware)) as client:
        response = await client.get("/projects", headers=bearer(mint()))
    assert response.status_code == 200
    assert response.json() == {
        "client_id": "agent-123",
        "scopes": ["read:projects", "write:webhooks"],
    }


@pytest.mark.parametrize("middleware", [True, False])
async def test_fastapi_403_exact(verifier: TokenVerifier, mint: Minter, middleware: bool) -> None:
    async with client_for(fastapi_app(verifier, middleware=middleware)) as client:
        response = await client.post("/deployments", headers=bearer(mint()))
    assert response.status_code == 403
    assert response.json() == FORBIDDEN_BODY
    assert response.headers["www-authenticate"] == FORBIDDEN_CHALLENGE
    assert response.headers["cache-control"] == "no-store"


async def test_fastapi_dependency_verifies_itself_without_middleware(
    verifier: TokenVerifier, mint: Minter
) -> None:
    async with client_for(fastapi_app(verifier, middleware=False)) as client:
        missing = await client.get("/projects")
        expired = await client.get("/projects", headers=bearer("x.y.z"))
    assert missing.status_code == 401 and missing.json()["error"] == "missing_token"
    assert missing.headers["www-authenticate"] == (
        f'Bearer realm="{RESOURCE}", scope="read:projects", resource_metadata="{METADATA}"'
    )
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"


async def test_fastapi_without_handler_wraps_body_in_detail(
    verifier: TokenVerifier, mint: Minter
) -> None:
    app = fastapi_app(verifier, middleware=False, handler=False)
    async with client_for(app) as client:
        response = await client.post("/deployments", headers=bearer(mint()))
    assert response.status_code == 403
    assert response.json() == {"detail": FORBIDDEN_BODY}
    assert response.headers["www-authenticate"] == FORBIDDEN_CHALLENGE


async def test_fastapi_dependency_needs_middleware_or_verifier() -> None:
    app = FastAPI()

    @app.get("/x")
    async def x(p: Annotated[Principal, Depends(depends_on_scopes("a"))]) -> str:
        return "no"

    async with client_for(app) as client:
        with pytest.raises(RuntimeError):
            await client.get("/x")


async def test_starlette_requires_scopes_passes(
    starlette_api: httpx.AsyncClient, mint: Minter
) -> None:
    token = mint(base_claims(scope="write:projects"))  # implies read:projects
    response = await starlette_api.get("/me", headers=bearer(token))
    assert response.json() == {"authenticated": True, "id": "agent-123"}
