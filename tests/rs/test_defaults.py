"""Safe defaults of ``gatepass.rs`` against a real authorization server on loopback (uvicorn).

Revocation is checked unless ``revocation="none"`` says otherwise: the checker comes from the
issuer's RFC 8414 metadata (the feed, else introspection) and authenticates as the API's own
client. ``BearerAuthMiddleware`` answers the RFC 9728 document where its 401s point; FastAPI's
``protect`` leaves the documentation pages public; ``SyncTokenVerifier`` serves a WSGI app.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.conftest import free_port, serve, settings
from gatepass.errors import OAuthError, TokenRevoked
from gatepass.http.app import create_app
from gatepass.models import Principal
from gatepass.rs import (
    BearerAuthMiddleware,
    FeedRevocationChecker,
    IntrospectionChecker,
    ResourceServerConfig,
    TokenVerifier,
)
from gatepass.rs.fastapi import protect, require_scopes
from gatepass.rs.starlette import requires_scopes
from gatepass.rs.sync import SyncTokenVerifier
from gatepass.runtime import Runtime

pytestmark = pytest.mark.slow


@dataclass
class Issuer:
    url: str
    api: str
    runtime: Runtime
    rs: tuple[str, str]
    agent: tuple[str, str]

    def config(self, **overrides: Any) -> ResourceServerConfig:
        values: dict[str, Any] = {"issuer": self.url, "resource": self.api,
                                  "client_id": self.rs[0], "client_secret": self.rs[1],
                                  "revocation_interval": 0.05, **overrides}
        return ResourceServerConfig(**values)

    def token(self, scope: str = "read:projects") -> str:
        resp = httpx.post(self.url + "/oauth/token", auth=self.agent, data={
            "grant_type": "client_credentials", "scope": scope, "resource": self.api})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    def revoke(self, token: str) -> None:
        resp = httpx.post(self.url + "/oauth/revoke", auth=self.agent, data={"token": token})
        assert resp.status_code == 200, resp.text


async def _client(runtime: Runtime, name: str, scope: str) -> tuple[str, str]:
    created = await runtime.admin.create_client(name, scope, operator="gatepass:" in scope)
    assert created.secret is not None
    return created.client.client_id, created.secret


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    port, api = free_port(), f"http://127.0.0.1:{free_port()}"
    url = f"http://127.0.0.1:{port}"
    app = create_app(settings(tmp_path_factory.mktemp("as"), url, api))
    with serve(app, port):
        runtime: Runtime = app.state.runtime
        rs = asyncio.run(_client(runtime, "projects-api", "gatepass:introspect"))
        agent = asyncio.run(_client(runtime, "agent", "read:projects write:projects"))
        yield Issuer(url, api, runtime, rs, agent)


# --- revocation by default -----------------------------------------------------------------------


def test_a_config_that_cannot_check_revocation_is_refused(issuer: Issuer) -> None:
    with pytest.raises(ValueError, match="revocation='none'"):
        TokenVerifier(ResourceServerConfig(issuer=issuer.url, resource=issuer.api))
    with pytest.raises(ValueError, match="revocation must be one of"):
        ResourceServerConfig(issuer=issuer.url, resource=issuer.api, revocation="sometimes")
    opted_out = TokenVerifier(ResourceServerConfig(issuer=issuer.url, resource=issuer.api,
                                                   revocation="none"))
    assert opted_out.revocation is None
    assert "client_secret" not in repr(issuer.config())


async def _refused_soon(verifier: TokenVerifier, token: str) -> bool:
    for _ in range(100):  # bounded: 5 s
        try:
            await verifier.verify(token)
        except TokenRevoked:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_auto_follows_the_issuers_revocation_feed(issuer: Issuer) -> None:
    token = issuer.token()
    async with TokenVerifier(issuer.config()) as verifier:
        assert isinstance(verifier.revocation, FeedRevocationChecker)
        assert verifier.revocation.url == issuer.url + "/oauth/revocations"
        assert (await verifier.verify(token)).client_id == issuer.agent[0]
        await asyncio.to_thread(issuer.revoke, token)
        assert await _refused_soon(verifier, token)
        assert (await verifier.verify(await asyncio.to_thread(issuer.token))).client_id


async def test_introspection_when_asked(issuer: Issuer) -> None:
    live, revoked = issuer.token(), issuer.token()
    issuer.revoke(revoked)
    async with TokenVerifier(issuer.config(revocation="introspection")) as verifier:
        assert isinstance(verifier.revocation, IntrospectionChecker)
        assert (await verifier.verify(live)).client_id == issuer.agent[0]
        with pytest.raises(TokenRevoked):
            await verifier.verify(revoked)


async def test_the_first_verify_starts_the_default_checker(issuer: Issuer) -> None:
    token = issuer.token()
    issuer.revoke(token)
    verifier = TokenVerifier(issuer.config())
    try:
        with pytest.raises(TokenRevoked):  # no start(): never answered before the list loads
            await verifier.verify(token)
    finally:
        await verifier.stop()


@pytest.mark.parametrize("mode", ["feed", "introspection"])
async def test_credentials_the_issuer_refuses_fail_at_start(issuer: Issuer, mode: str) -> None:
    agent_id, agent_secret = issuer.agent  # a client without gatepass:introspect
    config = issuer.config(client_id=agent_id, client_secret=agent_secret + "x", revocation=mode)
    verifier = TokenVerifier(config)
    if mode == "feed":
        with pytest.raises(httpx.HTTPStatusError):
            await verifier.start()
        no_scope = TokenVerifier(replace(config, client_secret=agent_secret))
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await no_scope.start()
        assert refused.value.response.status_code == 403
        await no_scope.stop()
    else:  # introspection cannot be tried before a token comes: the token is then refused
        await verifier.start()
        with pytest.raises(OAuthError) as refused_token:
            await verifier.verify(issuer.token())
        assert refused_token.value.http_status == 503
    await verifier.stop()


# --- RFC 9728 metadata where the 401s point ------------------------------------------------------


@requires_scopes("read:projects")
async def _projects(request: Request) -> Response:
    return JSONResponse({"client_id": request.scope["gatepass.principal"].client_id})


async def test_the_middleware_serves_the_metadata_its_challenges_name(issuer: Issuer) -> None:
    custom = issuer.config(revocation="none", resource_metadata_url=issuer.api + "/meta")
    for config, path in ((issuer.config(revocation="none"),
                          "/.well-known/oauth-protected-resource"), (custom, "/meta")):
        app = BearerAuthMiddleware(Starlette(routes=[Route("/projects", _projects)]),
                                   TokenVerifier(config))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=issuer.api) as http:
            refused = await http.get("/projects")
            assert refused.status_code == 401
            assert f'resource_metadata="{issuer.api}{path}"' in refused.headers["www-authenticate"]
            document = await http.get(path)
            assert document.status_code == 200
            assert document.json()["resource"] == issuer.api
            assert document.json()["scopes_supported"] == ["read:projects"]


async def test_metadata_serving_can_be_turned_off(issuer: Issuer) -> None:
    app = BearerAuthMiddleware(Starlette(), TokenVerifier(issuer.config(revocation="none")),
                               serve_metadata=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=issuer.api) as http:
        assert (await http.get("/.well-known/oauth-protected-resource")).status_code == 404


def _fastapi(**options: Any) -> FastAPI:
    api = FastAPI(**options)

    @api.get("/projects")
    async def projects(
            principal: Annotated[Principal, Depends(require_scopes("read:projects"))]) -> dict:
        return {"client_id": principal.client_id}

    return api


async def test_protect_keeps_fastapi_docs_public_and_the_rest_guarded(issuer: Issuer) -> None:
    verifier = TokenVerifier(issuer.config(revocation="none"))
    token = await asyncio.to_thread(issuer.token)
    app = protect(_fastapi(), verifier)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=issuer.api) as http:
        for path in ("/docs", "/openapi.json", "/redoc", "/.well-known/oauth-protected-resource"):
            assert (await http.get(path)).status_code == 200, path
        refused = await http.get("/projects")
        assert refused.status_code == 401 and refused.json()["error"] == "missing_token"
        assert (await http.get("/unknown")).status_code == 401  # guarded, not a 404 leak
        ok = await http.get("/projects", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["client_id"] == issuer.agent[0]
    hidden = protect(_fastapi(docs_url=None, openapi_url=None), verifier)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hidden),
                                 base_url=issuer.api) as http:
        assert (await http.get("/docs")).status_code == 401
    await verifier.stop()


# --- the synchronous facade, under a real WSGI server ------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _wsgi(sync: SyncTokenVerifier) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path in sync.metadata_paths:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(sync.metadata(["read:projects"])).encode()]
        scopes = ("write:projects",) if path == "/write" else ("read:projects",)
        try:
            principal = sync.require(environ.get("HTTP_AUTHORIZATION"), *scopes)
        except OAuthError as err:
            refused = sync.refusal(err, scopes)
            start_response(f"{refused.status} Refused", list(refused.headers.items()))
            return [refused.body]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"client_id": principal.client_id}).encode()]

    return app


def test_sync_verifier_serves_a_wsgi_app(issuer: Issuer) -> None:
    port = free_port()
    with SyncTokenVerifier(issuer.config()) as sync:
        server = make_server("127.0.0.1", port, _wsgi(sync), handler_class=_Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        try:
            bare = httpx.get(base + "/projects")
            assert bare.status_code == 401 and bare.json()["error"] == "missing_token"
            assert "resource_metadata=" in bare.headers["www-authenticate"]
            meta = httpx.get(base + "/.well-known/oauth-protected-resource").json()
            assert meta["resource"] == issuer.api
            token = issuer.token()
            auth = {"Authorization": f"Bearer {token}"}
            assert httpx.get(base + "/projects", headers=auth).json() == {
                "client_id": issuer.agent[0]}
            assert httpx.get(base + "/write", headers=auth).status_code == 403
            bad = httpx.get(base + "/projects", headers={"Authorization": "Bearer x.y.z"})
            assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"
            issuer.revoke(token)
            answer = httpx.get(base + "/projects", headers=auth)
            for _ in range(100):  # bounded: 5 s
                if answer.status_code != 200:
                    break
                time.sleep(0.05)
                answer = httpx.get(base + "/projects", headers=auth)
            assert answer.status_code == 401 and answer.json()["error"] == "token_revoked"
        finally:
            server.shutdown()
            thread.join(10)
            server.server_close()
    with pytest.raises(RuntimeError):
        sync.verify("Bearer x")
