"""``create_demo_api`` as a separate resource server, and the small ``gatepass.rs`` additions it
uses: an in-process JWKS ``source`` and scopes found behind FastAPI's included routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI

from gatepass.clock import FrozenClock
from gatepass.demo import create_demo_api, demo_parts
from gatepass.rs import MemoryRevocationList, ResourceServerConfig, declared_scopes
from gatepass.rs.fastapi import require_scopes
from gatepass.rs.jwks_cache import JWKSCache

from .conftest import ISSUER, WELL_KNOWN, Gatepass, ServeFactory, bearer

API = "https://api.example.com"


@pytest.fixture
async def api_and_server(serve: ServeFactory) -> AsyncIterator[tuple[httpx.AsyncClient, Gatepass]]:
    """The demo API at ``API`` (its own process in real life) trusting the server over HTTP."""
    async with serve(resources=[API]) as gp:
        created = await gp.runtime.admin.create_client("demo-api", "gatepass:introspect",
                                                       operator=True)
        assert created.secret is not None  # its own client: revocation checks by default
        app = create_demo_api(ISSUER, API, http_client=gp.http,
                              client_id=created.client.client_id, client_secret=created.secret)
        async with LifespanManager(app) as manager, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url=API) as api:
            yield api, gp
        assert demo_parts(app).limiter is not None


async def test_separate_resource_server_fetches_keys_over_http(
    api_and_server: tuple[httpx.AsyncClient, Gatepass],
) -> None:
    api, gp = api_and_server
    token = await gp.token("read:projects", resource=API)
    response = await api.get("/api/projects", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["x-ratelimit-tier"] == "agent_standard"
    default_aud = await gp.token("read:projects")  # aud = the issuer, not this API
    assert (await api.get("/api/projects", headers=bearer(default_aud))).status_code == 401
    doc = (await api.get(WELL_KNOWN)).json()
    assert doc["resource"] == API and doc["authorization_servers"] == [ISSUER]
    docs = await api.get("/api/openapi.json")  # public: agents read it before they have a token
    assert docs.status_code == 200 and "/api/webhooks" in docs.json()["paths"]


async def test_rate_limiting_can_be_left_out() -> None:
    app = create_demo_api(ISSUER, API, rate_limit=False, jwks_uri=ISSUER + "/jwks",
                          revocation=MemoryRevocationList())
    assert demo_parts(app).limiter is None
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url=API) as api:
        assert (await api.get("/api/projects")).status_code == 401


async def test_jwks_source_replaces_http_with_cooldown_and_keeps_keys_on_failure() -> None:
    clock = FrozenClock()
    config = ResourceServerConfig(ISSUER, API, jwks_refetch_cooldown=1.0)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
           "kid": "k1", "alg": "Ed25519", "use": "sig"}
    calls: list[int] = []

    async def source() -> Mapping[str, Any]:
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("keyring unavailable")
        return {"keys": [jwk]}

    cache = JWKSCache(config, clock=clock, source=source)
    found = await cache.get("k1")
    assert found is not None and found.algorithms == {"Ed25519"}  # the new default list
    assert await cache.get("nope") is None and len(calls) == 1  # cooldown
    clock.advance(1.0)
    assert await cache.get("nope") is None and len(calls) == 2
    assert not await cache.refresh() and await cache.get("k1") is not None


def test_declared_scopes_found_behind_included_routers() -> None:
    router = APIRouter(dependencies=[Depends(require_scopes("read:a"))])

    @router.get("/x", dependencies=[Depends(require_scopes("read:b"))])
    async def x() -> None:
        return None

    app = FastAPI()
    app.include_router(router, prefix="/v1", dependencies=[Depends(require_scopes("read:c"))])
    assert set(declared_scopes(app)) == {"read:a", "read:b", "read:c"}
