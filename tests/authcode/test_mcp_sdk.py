"""The whole flow driven by the official ``mcp`` SDK's ``OAuthClientProvider`` (DESIGN §7.8):
RFC 9728 discovery from a 401, RFC 8414 metadata, registration by Client ID Metadata Document or
RFC 7591, the browser part (sign-in, consent with CSRF), the code exchange with PKCE and RFC
8707 ``resource``, RFC 9207 ``iss`` checked by the SDK, then a refresh with rotation.

Two real servers on loopback, in this event loop: Gatepass (uvicorn, http, development mode) and
an https resource server of the test (a self-signed CA trusted through ``SSL_CERT_FILE``) that
protects ``/mcp`` with ``gatepass.rs`` and serves its RFC 9728 metadata and the CIMD document
(the SDK accepts only https client metadata URLs).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from examples.mcp_server.client import MemoryTokenStorage
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientMetadata,
)
from pydantic import AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatepass.http.app import create_app
from gatepass.models import Principal
from gatepass.rs import (
    PRINCIPAL_KEY,
    BearerAuthMiddleware,
    ProtectedResourceMetadata,
    ResourceServerConfig,
    TokenVerifier,
)
from gatepass.storage.memory import open_memory_stores
from gp_tls import certificates

from .conftest import EMAIL, PASSWORD, Browser, bound_socket, query, serve_app, settings_for

pytestmark = pytest.mark.slow

REDIRECT = "http://127.0.0.1:33418/callback"  # never listened on: the handler reads Location


@dataclass
class World:
    issuer: str
    mcp_url: str
    cimd_url: str
    ca: ssl.SSLContext
    browser: Browser


def _resource_app(issuer: str, mcp_url: str, cimd_url: str) -> Any:
    async def mcp(request: Request) -> JSONResponse:
        principal: Principal = request.scope[PRINCIPAL_KEY]
        return JSONResponse({"sub": principal.subject, "client_id": principal.client_id,
                             "scopes": sorted(principal.scopes)})

    async def client_document(request: Request) -> JSONResponse:
        return JSONResponse({
            "client_id": cimd_url, "client_name": "SDK agent (CIMD)",
            "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "token_endpoint_auth_method": "none",
        }, headers={"Cache-Control": "max-age=60"})

    config = ResourceServerConfig(issuer=issuer, resource=mcp_url, scopes_supported=(
        "read:projects",), jwks_uri=issuer + "/.well-known/jwks.json", revocation="none")
    app = Starlette(routes=[Route("/mcp", mcp), Route("/clients/agent.json", client_document)])
    guarded = BearerAuthMiddleware(app, TokenVerifier(config), protected_paths=["/mcp"])
    return ProtectedResourceMetadata(config, guarded)


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    ca_file, cert, key = certificates(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # Gatepass's fetcher trusts the test CA
    gp_sock, rs_sock = bound_socket(), bound_socket()
    issuer = f"http://127.0.0.1:{gp_sock.getsockname()[1]}"
    rs_base = f"https://127.0.0.1:{rs_sock.getsockname()[1]}"
    mcp_url, cimd_url = rs_base + "/mcp", rs_base + "/clients/agent.json"
    settings = settings_for(tmp_path, issuer=issuer, development=True, resources=[mcp_url],
                            agents={"free_tier": None})  # default billing: consent gates
    gatepass = create_app(settings, stores=open_memory_stores())
    async with AsyncExitStack() as stack:
        # Gatepass stops first: its fetcher's TLS connection to the resource server closes
        # cleanly before that server waits for its connections.
        await stack.enter_async_context(serve_app(
            _resource_app(issuer, mcp_url, cimd_url), rs_sock,
            ssl_certfile=str(cert), ssl_keyfile=str(key)))
        await stack.enter_async_context(serve_app(gatepass, gp_sock))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=issuer))
        runtime = gatepass.state.runtime
        browser = Browser(http, runtime, clock=None)  # type: ignore[arg-type]
        browser.owner = await browser.create_owner()
        await browser.sign_in(EMAIL, PASSWORD)
        yield World(issuer, mcp_url, cimd_url, ssl.create_default_context(cafile=ca_file),
                    browser)


def _provider(world: World, storage: MemoryTokenStorage, *, cimd: bool,
              method: str | None) -> OAuthClientProvider:
    """An SDK provider whose redirect handler plays the owner's browser."""
    result: dict[str, AuthorizationCodeResult] = {}

    async def redirect_handler(url: str) -> None:
        page = await world.browser.http.get(url)
        assert page.status_code == 200, page.text
        assert ("SDK agent (CIMD)" if cimd else "SDK agent (DCR)") in page.text
        decided = await world.browser.decide(page)
        assert decided.status_code == 303, decided.text
        got = query(decided.headers["location"])
        result["r"] = AuthorizationCodeResult(code=got["code"], state=got["state"],
                                              iss=got["iss"])

    async def callback_handler() -> AuthorizationCodeResult:
        return result.pop("r")

    metadata = OAuthClientMetadata(
        client_name="SDK agent (CIMD)" if cimd else "SDK agent (DCR)",
        redirect_uris=[AnyUrl(REDIRECT)], grant_types=["authorization_code", "refresh_token"],
        response_types=["code"], token_endpoint_auth_method=method)  # type: ignore[arg-type]
    return OAuthClientProvider(world.mcp_url, metadata, storage, redirect_handler,
                               callback_handler, client_metadata_url=world.cimd_url if cimd
                               else None)


@pytest.mark.parametrize(("cimd", "method"), [
    (True, None), (False, "none"), (False, None),
], ids=["cimd-public", "dcr-public", "dcr-confidential"])
async def test_mcp_sdk_oauth_client_provider_full_flow(
    world: World, cimd: bool, method: str | None
) -> None:
    storage = MemoryTokenStorage()
    provider = _provider(world, storage, cimd=cimd, method=method)
    async with httpx2.AsyncClient(auth=provider, verify=world.ca, timeout=20.0) as client:
        resp = await client.get(world.mcp_url)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert world.browser.owner is not None
        assert body["sub"] == world.browser.owner.owner_id  # agent acting for its owner
        assert storage.client_info is not None
        client_id = storage.client_info.client_id
        assert body["client_id"] == client_id
        assert (client_id == world.cimd_url) is cimd
        assert body["scopes"] == ["read:projects"]
        assert storage.tokens is not None and storage.tokens.refresh_token
        first_refresh = storage.tokens.refresh_token

        provider.context.token_expiry_time = time.time() - 1  # make the SDK refresh
        again = await client.get(world.mcp_url)
        assert again.status_code == 200, again.text
        assert storage.tokens.refresh_token != first_refresh  # rotated

    reuse = await world.browser.http.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first_refresh, "client_id": client_id,
        **({"client_secret": storage.client_info.client_secret}
           if storage.client_info.client_secret else {})})
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"  # and the family is revoked
