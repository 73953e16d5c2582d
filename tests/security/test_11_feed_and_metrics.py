"""Issue 13 item 11: the revocation feed and ``/metrics`` are not public.

The feed answers only a confidential client holding ``gatepass:introspect`` (a resource
server), pages by an opaque cursor with a bounded page size, and ``gatepass.rs``'s
``FeedRevocationChecker`` authenticates and follows the cursor against the real app over real
HTTP. ``/metrics`` needs ``metrics_token`` outside development mode.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from cryptography.fernet import Fernet

from gatepass.clock import SystemClock
from gatepass.core.revocation_feed import MAX_PAGE
from gatepass.http.app import create_app
from gatepass.rs import FeedRevocationChecker
from gatepass.runtime import Runtime
from gatepass.settings import Settings
from gatepass.storage.memory import open_memory_stores

ISSUER = "http://127.0.0.1:9"  # replaced by the real port where a socket is served
API = "https://api.example.com"
METRICS_TOKEN = "metrics-" + secrets.token_urlsafe(24)


def _settings(tmp_path: Path, issuer: str = ISSUER, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": issuer, "database_url": "memory://", "data_dir": tmp_path,
        "resources": [API], "key_encryption_keys": [Fernet.generate_key().decode()],
        "secret_pepper": secrets.token_hex(32), "demo_api": False, "demo_client": False,
        **overrides,
    }
    return Settings(**values)


class App:
    def __init__(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        self.client, self.rt = client, runtime

    async def secret_client(self, scopes: str) -> tuple[str, str]:
        created = await self.rt.admin.create_client("svc", scopes,
                                                    operator="gatepass:" in scopes)
        assert created.secret is not None
        return created.client.client_id, created.secret

    async def revoke_tokens(self, count: int, *, at: float | None = None) -> list[str]:
        now = SystemClock().now()
        jtis = [f"jti-{secrets.token_hex(6)}" for _ in range(count)]
        for i, jti in enumerate(jtis):
            await self.rt.stores.revocations.revoke(jti, now + 600, at if at else now - 60 + i)
        return jtis


Serve = Callable[..., AbstractAsyncContextManager[App]]


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[App]:
        settings = _settings(tmp_path, **overrides)
        app = create_app(settings, stores=open_memory_stores(SystemClock()))
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as c:
                yield App(c, app.state.runtime)

    return run


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


# --- the feed: who may read it -----------------------------------------------------------------


async def test_anonymous_feed_request_is_refused_401_invalid_client(serve: Serve) -> None:
    async with serve() as app:
        await app.revoke_tokens(3)
        resp = await app.client.get("/oauth/revocations")
        assert resp.status_code == 401
        assert resp.json()["error"] == "invalid_client"
        assert resp.json()["error_description"]
        assert resp.headers["www-authenticate"].startswith("Basic")
        assert "revoked" not in resp.json()


async def test_wrong_secret_is_refused_401(serve: Serve) -> None:
    async with serve() as app:
        rs_id, _ = await app.secret_client("gatepass:introspect")
        resp = await app.client.get("/oauth/revocations", headers=_basic(rs_id, "wrong"))
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


async def test_a_client_without_the_introspect_scope_is_refused_403(serve: Serve) -> None:
    async with serve() as app:
        await app.revoke_tokens(2)
        agent_id, agent_secret = await app.secret_client("read:projects")
        resp = await app.client.get("/oauth/revocations", headers=_basic(agent_id, agent_secret))
        assert resp.status_code == 403
        assert resp.json()["error"] == "unauthorized_client"
        assert "gatepass:introspect" in resp.json()["error_description"]
        assert "revoked" not in resp.json()


async def test_a_resource_server_client_reads_the_feed(serve: Serve) -> None:
    async with serve() as app:
        jtis = await app.revoke_tokens(3)
        rs_id, rs_secret = await app.secret_client("gatepass:introspect")
        resp = await app.client.get("/oauth/revocations", headers=_basic(rs_id, rs_secret))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert [e["jti"] for e in body["revoked"]] == jtis
        assert body["has_more"] is False and isinstance(body["next_cursor"], str)
        assert resp.headers["cache-control"] == "no-store"


async def test_the_feed_endpoint_is_advertised_in_the_metadata(serve: Serve) -> None:
    async with serve() as app:
        doc = (await app.client.get("/.well-known/oauth-authorization-server")).json()
        assert doc["revocation_feed_endpoint"] == ISSUER + "/oauth/revocations"


# --- the feed: paging --------------------------------------------------------------------------


async def test_pages_are_bounded_and_the_cursor_walks_every_entry_once(serve: Serve) -> None:
    async with serve() as app:
        jtis = await app.revoke_tokens(7)
        ties = sorted(await app.revoke_tokens(3, at=SystemClock().now() - 30))
        rs = _basic(*await app.secret_client("gatepass:introspect"))
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(10):  # bounded: 10 entries in pages of 3
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            body = (await app.client.get("/oauth/revocations", params=params, headers=rs)).json()
            assert len(body["revoked"]) <= 3
            seen += [e["jti"] for e in body["revoked"]]
            cursor = body["next_cursor"]
            if not body["has_more"]:
                break
        assert seen == jtis + ties  # revocation order, ties by jti
        caught_up = await app.client.get("/oauth/revocations", params={"cursor": cursor},
                                         headers=rs)
        assert caught_up.json()["revoked"] == [] and caught_up.json()["has_more"] is False


async def test_a_default_page_is_capped_and_says_more_follow(serve: Serve) -> None:
    async with serve() as app:
        await app.revoke_tokens(501)
        rs = _basic(*await app.secret_client("gatepass:introspect"))
        body = (await app.client.get("/oauth/revocations", headers=rs)).json()
        assert len(body["revoked"]) == 500 and body["has_more"] is True
        rest = await app.client.get("/oauth/revocations", headers=rs,
                                    params={"cursor": body["next_cursor"]})
        assert len(rest.json()["revoked"]) == 1 and rest.json()["has_more"] is False


@pytest.mark.parametrize("params", [{"limit": str(MAX_PAGE + 1)}, {"limit": "0"},
                                    {"limit": "ten"}, {"cursor": "not-a-cursor"},
                                    {"cursor": base64.urlsafe_b64encode(b'{"a":1}').decode()}])
async def test_bad_paging_parameters_are_400_invalid_request(serve: Serve,
                                                              params: dict[str, str]) -> None:
    async with serve() as app:
        rs = _basic(*await app.secret_client("gatepass:introspect"))
        resp = await app.client.get("/oauth/revocations", params=params, headers=rs)
        assert resp.status_code == 400
        assert resp.json()["error"] == "invalid_request" and resp.json()["error_description"]


# --- the feed consumer in gatepass.rs, over real HTTP -------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _real_server(tmp_path: Path) -> AsyncIterator[tuple[str, Runtime]]:
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = create_app(_settings(tmp_path, issuer, development=True))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # bounded: 10 s
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "the server did not start"
        yield issuer, app.state.runtime
    finally:
        server.should_exit = True
        await task


async def _until(check: Callable[[], bool]) -> bool:
    for _ in range(100):  # bounded: 5 s
        if check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_rs_consumer_authenticates_and_follows_the_cursor(tmp_path: Path) -> None:
    async with _real_server(tmp_path) as (issuer, rt):
        created = await rt.admin.create_client("api", "gatepass:introspect", operator=True)
        assert created.secret is not None
        now = SystemClock().now()
        for i in range(25):
            await rt.stores.revocations.revoke(f"old-{i}", now + 600, now - 100 + i)
        checker = FeedRevocationChecker(issuer, client_id=created.client.client_id,
                                        client_secret=created.secret, interval=0.05,
                                        page_size=10)
        await checker.start()
        try:
            assert all(checker.denies(f"old-{i}") for i in range(25))  # three pages at start
            assert checker.pages_read >= 3
            await rt.stores.revocations.revoke("new", now + 600, SystemClock().now())
            assert await _until(lambda: checker.denies("new"))
            assert not checker.denies("never-revoked")
        finally:
            await checker.stop()


async def test_the_rs_consumer_with_wrong_credentials_fails_to_start(tmp_path: Path) -> None:
    async with _real_server(tmp_path) as (issuer, rt):
        created = await rt.admin.create_client("agent", "read:projects")
        assert created.secret is not None
        anonymous = FeedRevocationChecker(issuer)
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await anonymous.start()
        assert refused.value.response.status_code == 401
        no_scope = FeedRevocationChecker(issuer, client_id=created.client.client_id,
                                         client_secret=created.secret)
        with pytest.raises(httpx.HTTPStatusError) as forbidden:
            await no_scope.start()
        assert forbidden.value.response.status_code == 403
        await anonymous.stop()
        await no_scope.stop()


# --- /metrics ----------------------------------------------------------------------------------


async def test_metrics_are_not_served_in_production_without_a_token(serve: Serve) -> None:
    async with serve() as app:
        resp = await app.client.get("/metrics")
        assert resp.status_code == 404
        assert resp.json()["error"] == "not_found" and "gatepass_" not in resp.text


async def test_metrics_token_is_required_when_set(serve: Serve) -> None:
    async with serve(metrics_token=METRICS_TOKEN) as app:
        for headers in ({}, {"Authorization": "Bearer wrong"},
                        {"Authorization": f"Basic {METRICS_TOKEN}"},
                        {"Authorization": f"Bearer {METRICS_TOKEN}x"}):
            resp = await app.client.get("/metrics", headers=headers)
            assert resp.status_code == 401, headers
            assert resp.json()["error"] == "invalid_token" and resp.json()["error_description"]
            assert resp.headers["www-authenticate"] == 'Bearer realm="metrics"'
            assert "gatepass_" not in resp.text
        ok = await app.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert ok.status_code == 200 and "gatepass_tokens_issued_total" in ok.text


async def test_metrics_stay_open_in_development_without_a_token(serve: Serve) -> None:
    async with serve(development=True) as app:
        resp = await app.client.get("/metrics")
        assert resp.status_code == 200 and "gatepass_tokens_issued_total" in resp.text
