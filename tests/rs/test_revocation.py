"""Revocation checkers (RFC 7009 §2, RFC 7662 §2): deny-list, Redis push, feed, introspection."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatepass.clock import FrozenClock
from gatepass.errors import TemporarilyUnavailable, TokenRevoked
from gatepass.rs import (
    REVOCATION_CHANNEL,
    BearerAuthMiddleware,
    FeedRevocationChecker,
    IntrospectionChecker,
    MemoryRevocationList,
    RedisRevocationListener,
    ResourceServerConfig,
    TokenVerifier,
)

from .conftest import ISSUER, NOW, RESOURCE, Minter, base_claims, bearer

# --- in-memory deny-list ----------------------------------------------------------------------


async def test_memory_list_entries_expire_after_token_plus_grace() -> None:
    clock = FrozenClock(NOW)
    denied = MemoryRevocationList(clock=clock, grace=60)
    denied.revoke("a", NOW + 10)
    denied.revoke("old", NOW - 61)  # its token is past exp + grace: not even stored
    assert await denied.is_revoked("a") and not await denied.is_revoked("old")
    clock.advance(69)
    assert await denied.is_revoked("a")
    clock.advance(1)
    assert not await denied.is_revoked("a")
    denied.prune()
    assert len(denied) == 0


@pytest.mark.parametrize(
    "entry",
    [
        None,
        [],
        {"jti": 1, "exp": NOW},
        {"jti": "", "exp": NOW},
        {"jti": "a"},
        {"jti": "a", "exp": "x"},
        {"jti": "a", "exp": True},
        {"jti": "a", "exp": float("nan")},
    ],
)
def test_malformed_wire_entries_are_ignored(entry: Any) -> None:
    assert MemoryRevocationList(clock=FrozenClock(NOW)).add(entry) is False


async def test_revoked_jti_refused_and_evicted_from_cache(
    config: ResourceServerConfig, clock: FrozenClock, issuer_http: httpx.AsyncClient, mint: Minter
) -> None:
    denied = MemoryRevocationList(clock=clock)
    verifier = TokenVerifier(config, clock=clock, http_client=issuer_http, revocation=denied)
    token = mint()
    principal = await verifier.verify(token)
    assert verifier.known(f"Bearer {token}".encode()) is principal  # the list needs no await
    denied.revoke("jti-1", NOW + 300)
    with pytest.raises(TokenRevoked) as info:  # the header path finds it cached: checked too
        await verifier.authenticate(f"Bearer {token}")
    assert info.value.body() == {
        "error": "token_revoked",
        "error_description": "The access token has been revoked",
    }
    assert len(verifier._cache) == 0
    assert verifier.known(f"Bearer {token}".encode()) is None  # evicted: the full path decides
    with pytest.raises(TokenRevoked):  # and stays refused on full verification
        await verifier.verify(token)
    assert verifier.stats.signature_checks == 2


# --- Redis push ---------------------------------------------------------------------------------


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - depends on the environment
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {redis_url}: {exc}")
    yield client
    await client.aclose()


async def wait_until_refused(api: httpx.AsyncClient, token: str, *, limit: float = 2.0) -> float:
    """Poll the API until the token is refused as revoked; the seconds it took (bounded)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        response = await api.get("/whoami", headers=bearer(token))
        if response.status_code == 401:
            assert response.json()["error"] == "token_revoked"
            return time.perf_counter() - started
        assert response.status_code == 200
        await asyncio.sleep(0.002)
    raise AssertionError(f"revocation did not propagate within {limit} s")


@pytest.mark.redis
async def test_redis_revocation_propagates_under_one_second(
    redis_url: str,
    redis_client: Any,
    config: ResourceServerConfig,
    clock: FrozenClock,
    issuer_http: httpx.AsyncClient,
    mint: Minter,
    record_property: Any,
) -> None:
    listener = RedisRevocationListener(redis_url)
    verifier = TokenVerifier(config, clock=clock, http_client=issuer_http, revocation=listener)
    jti = f"jti-{secrets.token_hex(8)}"
    token = mint(base_claims(jti=jti))
    app = BearerAuthMiddleware(Starlette(routes=[Route("/whoami", _whoami)]), verifier)
    await verifier.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=RESOURCE) as api:
            assert (await api.get("/whoami", headers=bearer(token))).status_code == 200
            message = json.dumps({"jti": jti, "exp": time.time() + 300})
            published = time.perf_counter()
            assert await redis_client.publish(REVOCATION_CHANNEL, message) >= 1
            await wait_until_refused(api, token)
            elapsed = time.perf_counter() - published
    finally:
        await verifier.stop()
    record_property("redis_revocation_propagation_seconds", elapsed)
    print(f"\nRedis revocation propagation: {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0


@pytest.mark.redis
async def test_redis_listener_survives_malformed_messages_and_reads_server_publisher(
    redis_url: str, redis_client: Any
) -> None:
    from gatepass.storage.redis import publish_revocation

    listener = RedisRevocationListener(redis_url)
    await listener.start()
    try:
        await listener.start()  # idempotent
        await redis_client.publish(REVOCATION_CHANNEL, b"not json")
        await redis_client.publish(REVOCATION_CHANNEL, json.dumps({"jti": 3}))
        jti = f"jti-{secrets.token_hex(8)}"
        await publish_revocation(redis_client, jti, time.time() + 60)
        for _ in range(500):
            if await listener.is_revoked(jti):
                break
            await asyncio.sleep(0.002)
        assert await listener.is_revoked(jti)
    finally:
        await listener.stop()
    await listener.stop()  # idempotent


@pytest.mark.redis
async def test_redis_listener_with_injected_client(redis_client: Any) -> None:
    listener = RedisRevocationListener(client=redis_client, channel=f"test:{secrets.token_hex(4)}")
    await listener.start()
    await listener.stop()
    assert await redis_client.ping()  # an injected client is not closed


@pytest.mark.redis
async def test_redis_listener_reconnects_after_connection_loss(
    redis_url: str, redis_client: Any
) -> None:
    from redis.asyncio import Redis

    name = f"gatepass-rs-test-{secrets.token_hex(4)}"
    own = Redis.from_url(redis_url, client_name=name)
    listener = RedisRevocationListener(client=own, retry_delay=0.05)
    await listener.start()
    try:
        clients = await redis_client.client_list(_type="pubsub")
        ids = [c["id"] for c in clients if c.get("name") == name]
        assert len(ids) == 1
        assert await redis_client.client_kill_filter(_id=ids[0]) == 1
        jti = f"jti-{secrets.token_hex(8)}"
        message = json.dumps({"jti": jti, "exp": time.time() + 60})
        started = time.perf_counter()
        while not await listener.is_revoked(jti) and time.perf_counter() - started < 5:
            await redis_client.publish(REVOCATION_CHANNEL, message)
            await asyncio.sleep(0.02)
        assert await listener.is_revoked(jti)
    finally:
        await listener.stop()
        await own.aclose()


async def test_redis_listener_start_fails_cleanly_when_unreachable() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    listener = RedisRevocationListener("redis://127.0.0.1:9/0")
    with pytest.raises(RedisConnectionError):
        await listener.start()
    assert listener._client is None and listener._pubsub is None and listener._task is None


async def _whoami(request: Request) -> Response:
    return JSONResponse({"client_id": request.scope["gatepass.principal"].client_id})


# --- feed pull ----------------------------------------------------------------------------------


class Feed:
    """A stand-in ``GET /oauth/revocations`` paging by cursor (the position in ``entries``);
    the real feed is exercised in ``tests/security/test_11_feed_and_metrics.py``."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.seen: list[tuple[str | None, str | None]] = []  # (cursor, Authorization)
        self.status = 200
        self.body: bytes | None = None

    def app(self) -> Starlette:
        async def revocations(request: Request) -> Response:
            cursor = request.query_params.get("cursor")
            self.seen.append((cursor, request.headers.get("authorization")))
            if self.status != 200:
                return Response(status_code=self.status)
            if self.body is not None:
                return Response(self.body, media_type="application/json")
            start, limit = int(cursor or 0), int(request.query_params["limit"])
            page = self.entries[start:start + limit]
            return JSONResponse({"revoked": page, "next_cursor": str(start + len(page)),
                                 "has_more": start + limit < len(self.entries)})

        return Starlette(routes=[Route("/oauth/revocations", revocations)])


@pytest.fixture
def feed() -> Feed:
    return Feed()


@pytest.fixture
async def feed_http(feed: Feed) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=feed.app())) as client:
        yield client


async def test_feed_poll_follows_the_cursor_and_merges(
        feed: Feed, feed_http: httpx.AsyncClient) -> None:
    checker = FeedRevocationChecker(ISSUER, http_client=feed_http, clock=FrozenClock(NOW),
                                    client_id="rs", client_secret="s3cret", page_size=2)
    assert checker.url == f"{ISSUER}/oauth/revocations"
    feed.entries = [{"jti": "a", "exp": NOW + 60}, {"jti": "bad"}, {"jti": "c", "exp": NOW + 60}]
    assert await checker.poll() is True
    assert await checker.is_revoked("a") and await checker.is_revoked("c")
    assert not await checker.is_revoked("bad")
    assert await checker.poll() is False  # nothing after the cursor
    feed.entries.append({"jti": "b", "exp": NOW + 60})
    assert await checker.poll() is True
    assert await checker.is_revoked("a") and await checker.is_revoked("b")
    assert [c for c, _ in feed.seen] == [None, "2", "3", "3"]
    assert {a for _, a in feed.seen} == {"Basic cnM6czNjcmV0"}  # client_secret_basic


@pytest.mark.parametrize("problem", ["status", "body"])
async def test_feed_failures_keep_the_list(
    feed: Feed, feed_http: httpx.AsyncClient, problem: str
) -> None:
    checker = FeedRevocationChecker(ISSUER, http_client=feed_http, clock=FrozenClock(NOW))
    feed.entries = [{"jti": "a", "exp": NOW + 60}]
    await checker.poll()
    if problem == "status":
        feed.status = 503
    else:
        feed.body = b'{"revoked": "nope"}'
    assert await checker.poll() is False
    assert await checker.is_revoked("a")


async def test_feed_background_polling_propagates(
    feed: Feed,
    feed_http: httpx.AsyncClient,
    config: ResourceServerConfig,
    clock: FrozenClock,
    issuer_http: httpx.AsyncClient,
    mint: Minter,
) -> None:
    checker = FeedRevocationChecker(ISSUER, http_client=feed_http, interval=0.01, clock=clock)
    verifier = TokenVerifier(config, clock=clock, http_client=issuer_http, revocation=checker)
    async with verifier:
        token = mint()
        await verifier.verify(token)
        feed.entries = [{"jti": "jti-1", "exp": NOW + 300}]
        started = time.perf_counter()
        while time.perf_counter() - started < 2:
            try:
                await verifier.verify(token)
            except TokenRevoked:
                break
            await asyncio.sleep(0.005)
        assert time.perf_counter() - started < 1.0
        with pytest.raises(TokenRevoked):
            await verifier.verify(token)


async def test_feed_checker_owns_its_client_and_fails_closed_at_start() -> None:
    checker = FeedRevocationChecker("http://127.0.0.1:9", interval=60)
    with pytest.raises(httpx.TransportError):
        await checker.start()  # the first read fails (nothing listens): start refuses
    assert checker._http is None


# --- introspection ----------------------------------------------------------------------------


class Introspection:
    def __init__(self) -> None:
        self.active: dict[str, bool] = {}
        self.calls: list[dict[str, str]] = []
        self.down = False

    def app(self) -> Starlette:
        async def introspect(request: Request) -> Response:
            if self.down:
                return Response(status_code=503)
            form = dict(parse_qsl((await request.body()).decode()))
            self.calls.append({**form, "authorization": request.headers["authorization"]})
            return JSONResponse({"active": self.active.get(str(form["token"]), False)})

        return Starlette(routes=[Route("/oauth/introspect", introspect, methods=["POST"])])


async def test_rfc7662_introspection_checker(mint: Minter) -> None:
    server = Introspection()
    clock = FrozenClock(NOW)
    token = mint()
    server.active[token] = True
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app())) as http:
        checker = IntrospectionChecker(
            f"{ISSUER}/oauth/introspect",
            client_id="rs:1",
            client_secret="s3cr%t",
            http_client=http,
            clock=clock,
            cache_ttl=5,
        )
        assert await checker.is_revoked("jti-1", token=token) is False
        assert await checker.is_revoked("jti-1", token=token) is False  # cached
        assert len(server.calls) == 1
        expected = "Basic " + base64.b64encode(b"rs%3A1:s3cr%25t").decode()
        assert server.calls[0] == {
            "token": token,
            "token_type_hint": "access_token",
            "authorization": expected,
        }
        server.active[token] = False
        clock.advance(5)
        assert await checker.is_revoked("jti-1", token=token) is True
        assert await checker.is_revoked("other") is False  # no token: nothing to ask
        server.down = True
        with pytest.raises(TemporarilyUnavailable):
            await checker.is_revoked("jti-2", token="t2")
        lenient = IntrospectionChecker(
            f"{ISSUER}/oauth/introspect",
            client_id="a",
            client_secret="b",
            http_client=http,
            fail_closed=False,
            max_entries=1,
        )
        assert await lenient.is_revoked("jti-3", token="t3") is False
        assert list(lenient._cache) == []  # an unanswered question is not cached
        server.down = False
        assert await lenient.is_revoked("jti-3", token="t3") is True
        assert await lenient.is_revoked("jti-4", token="t4") is True
        assert list(lenient._cache) == ["jti-4"]  # bounded to max_entries


async def test_cached_token_still_asks_an_awaiting_checker(
    config: ResourceServerConfig, clock: FrozenClock, issuer_http: httpx.AsyncClient, mint: Minter
) -> None:
    """Introspection cannot answer without awaiting: a cached token is asked about every time
    (within the checker's own cache), never served from the synchronous path."""
    server = Introspection()
    token = mint()
    server.active[token] = True
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app())) as http:
        checker = IntrospectionChecker(f"{ISSUER}/oauth/introspect", client_id="a",
                                       client_secret="b", http_client=http, clock=clock,
                                       cache_ttl=5)  # fmt: skip
        verifier = TokenVerifier(config, clock=clock, http_client=issuer_http, revocation=checker)
        principal = await verifier.authenticate(f"Bearer {token}")
        assert verifier.known(f"Bearer {token}".encode()) is None
        assert await verifier.authenticate(f"Bearer {token}") is principal  # the cached entry
        server.active[token] = False
        clock.advance(5)
        with pytest.raises(TokenRevoked):
            await verifier.authenticate(f"Bearer {token}")
        assert verifier.stats.signature_checks == 1 and len(server.calls) == 2


async def test_introspection_refusal_through_middleware(
    config: ResourceServerConfig, clock: FrozenClock, issuer_http: httpx.AsyncClient, mint: Minter
) -> None:
    server = Introspection()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app())) as http:
        checker = IntrospectionChecker(
            f"{ISSUER}/oauth/introspect",
            client_id="a",
            client_secret="b",
            http_client=http,
            clock=clock,
        )
        verifier = TokenVerifier(config, clock=clock, http_client=issuer_http, revocation=checker)
        app = BearerAuthMiddleware(Starlette(routes=[Route("/whoami", _whoami)]), verifier)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=RESOURCE) as api:
            response = await api.get("/whoami", headers=bearer(mint()))
            assert response.status_code == 401
            assert response.json()["error"] == "token_revoked"
            server.down = True
            response = await api.get("/whoami", headers=bearer(mint(base_claims(jti="j2"))))
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert "www-authenticate" not in response.headers
        await checker.stop()


async def test_memory_list_is_a_revocation_checker_and_prunes() -> None:
    clock = FrozenClock(NOW)
    denied = MemoryRevocationList(clock=clock, grace=0)
    await denied.start()
    for i in range(1023):
        denied.revoke(f"j{i}", NOW + 1)
    clock.advance(2)
    denied.revoke("fresh", NOW + 100)  # the 1024th entry triggers a prune
    assert len(denied) == 1
    await denied.stop()


async def test_feed_start_is_idempotent(feed: Feed, feed_http: httpx.AsyncClient) -> None:
    checker = FeedRevocationChecker(ISSUER, http_client=feed_http, interval=60)
    await checker.start()
    await checker.start()
    assert len(feed.seen) == 1
    await checker.stop()
    assert not feed_http.is_closed  # an injected client is left open


async def test_introspection_owns_client_and_rejects_non_objects(mint: Minter) -> None:
    checker = IntrospectionChecker(
        "http://127.0.0.1:9/introspect", client_id="a", client_secret="b", fail_closed=False
    )
    await checker.start()
    assert await checker.is_revoked("j", token="t") is False  # unreachable, fail-open
    await checker.stop()
    assert checker._http is None

    async def array(request: Request) -> Response:
        return JSONResponse([1])

    app = Starlette(routes=[Route("/i", array, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        strict = IntrospectionChecker(
            f"{ISSUER}/i", client_id="a", client_secret="b", http_client=http
        )
        with pytest.raises(TemporarilyUnavailable):
            await strict.is_revoked("j", token="t")
