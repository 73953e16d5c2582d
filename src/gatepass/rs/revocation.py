"""Revocation checks for resource servers (RFC 7009 §2, RFC 7662 §2): pushed, pulled, introspected.

``RevocationChecker`` is what ``TokenVerifier`` calls last. Implementations:

* ``RedisRevocationListener``: subscribes to the Redis pub/sub channel ``gatepass:revocations``;
  each message is the JSON object ``{"jti": str, "exp": float}``. Nothing is loaded on subscribe:
  the push is what matters, and an entry lives until ``exp`` (plus a grace covering the leeway).
* ``FeedRevocationChecker``: polls ``GET {issuer}/oauth/revocations?cursor=..&limit=..`` every
  ``interval`` seconds as a resource-server client (HTTP Basic); a page is
  ``{"revoked": [{"jti": str, "exp": float}, ...], "next_cursor": str, "has_more": bool}``.
  Entries are merged, never removed before they expire.
* ``IntrospectionChecker`` (in ``gatepass.rs._introspection``): RFC 7662 per token, cached briefly.
* ``MemoryRevocationList``: the in-process deny-list the first two are built on.

The in-memory ones are also ``RevocationDenylist``s: they answer without awaiting, so a cached
token is served without a coroutine per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from gatepass.clock import Clock, SystemClock
from gatepass.rs._introspection import IntrospectionChecker, basic_authorization

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = [
    "REVOCATION_CHANNEL",
    "FeedRevocationChecker",
    "IntrospectionChecker",
    "MemoryRevocationList",
    "RedisRevocationListener",
    "RevocationChecker",
    "RevocationDenylist",
]

REVOCATION_CHANNEL = "gatepass:revocations"
_log = logging.getLogger(__name__)


class RevocationChecker(Protocol):
    """Answers "was this token revoked?"; ``token`` is for checkers that need it (RFC 7662)."""

    async def is_revoked(self, jti: str, *, token: str | None = None) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class RevocationDenylist(Protocol):
    """A checker that can answer from memory: ``denies`` needs no await.

    ``denies(jti)`` is True (revoked), False (not revoked) or None (only ``is_revoked`` can
    tell). ``TokenVerifier`` uses it to serve a cached token without awaiting anything.
    """

    def denies(self, jti: str) -> bool | None: ...


class MemoryRevocationList:
    """An in-memory ``jti`` deny-list; each entry expires ``grace`` seconds after its token."""

    def __init__(self, *, clock: Clock | None = None, grace: float = 60.0) -> None:
        self._clock: Clock = clock or SystemClock()
        self._grace = grace
        self._entries: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def revoke(self, jti: str, exp: float) -> None:
        """Deny ``jti`` until its token's ``exp`` (plus grace)."""
        until = exp + self._grace
        if until > self._clock.now():
            self._entries[jti] = max(until, self._entries.get(jti, until))
        if len(self._entries) % 1024 == 0:
            self.prune()

    def add(self, entry: object) -> bool:
        """Deny one wire entry ``{"jti": str, "exp": number}``; ``False`` if it is malformed."""
        if not isinstance(entry, dict):
            return False
        jti, exp = entry.get("jti"), entry.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
            return False
        if not isinstance(jti, str) or not jti:
            return False
        self.revoke(jti, float(exp))
        return True

    def prune(self) -> None:
        """Drop entries whose tokens can no longer be accepted anyway."""
        now = self._clock.now()
        self._entries = {j: t for j, t in self._entries.items() if t > now}

    def denies(self, jti: str) -> bool:
        """Whether ``jti`` is on the list (``RevocationDenylist``)."""
        until = self._entries.get(jti)
        return until is not None and until > self._clock.now()

    async def is_revoked(self, jti: str, *, token: str | None = None) -> bool:
        return self.denies(jti)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _redis_from_url(url: str) -> Redis:
    try:
        from redis.asyncio import Redis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("RedisRevocationListener needs: pip install 'gatepass[redis]'") from exc
    return Redis.from_url(url)


class RedisRevocationListener(MemoryRevocationList):
    """Keeps the deny-list current from the ``gatepass:revocations`` pub/sub channel."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Redis | None = None,
        channel: str = REVOCATION_CHANNEL,
        clock: Clock | None = None,
        grace: float = 60.0,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__(clock=clock, grace=grace)
        self._url, self._client, self._owns_client = url, client, client is None
        self._channel, self._retry_delay = channel, retry_delay
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe and wait for the confirmation; raises if Redis is unreachable now.

        After that, redis-py reconnects and resubscribes by itself; messages published while the
        connection is down are missed (nothing is replayed on subscribe).
        """
        if self._task is not None:
            return
        self._client = self._client or _redis_from_url(self._url)
        self._pubsub = self._client.pubsub()
        try:
            await self._subscribe(self._pubsub)
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._listen(self._pubsub))

    async def stop(self) -> None:
        await _cancel(self._task)
        self._task = None
        if self._pubsub is not None:
            # Typed through a variable: redis < 8.2 leaves aclose unannotated, later releases don't.
            close: Callable[[], Awaitable[None]] = self._pubsub.aclose
            await close()
            self._pubsub = None
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _subscribe(self, pubsub: PubSub) -> None:
        await pubsub.subscribe(self._channel)
        async with asyncio.timeout(10):
            while (await pubsub.get_message(timeout=1.0) or {}).get("type") != "subscribe":
                pass

    def handle(self, data: bytes | str) -> bool:
        """Apply one pub/sub payload; malformed payloads are logged and ignored."""
        try:
            ok = self.add(json.loads(data))
        except ValueError:
            ok = False
        if not ok:
            _log.warning("Ignoring malformed revocation message on %s", self._channel)
        return ok

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except Exception as exc:  # redis-py reconnects and resubscribes on the next read
                _log.warning("Revocation channel read failed: %s", exc)
                await asyncio.sleep(self._retry_delay)
                continue
            if message is not None and message.get("type") == "message":
                self.handle(message["data"])


class FeedRevocationChecker(MemoryRevocationList):
    """Keeps the deny-list current by paging through the issuer's revocation feed.

    The feed answers only a resource-server client (``gatepass:introspect``): give its
    ``client_id`` and ``client_secret`` (sent with ``client_secret_basic``), or an ``auth``.
    Each poll follows ``next_cursor`` while ``has_more`` (at most ``max_pages`` pages).
    """

    def __init__(
        self,
        issuer: str,
        *,
        url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        interval: float = 0.5,
        clock: Clock | None = None,
        grace: float = 60.0,
        auth: httpx.Auth | None = None,
        page_size: int = 500,
        max_pages: int = 100,
    ) -> None:
        super().__init__(clock=clock, grace=grace)
        if not 1 <= page_size <= 1000 or max_pages < 1:
            raise ValueError("page_size must be 1 to 1000 and max_pages at least 1")
        self.url = url or issuer.rstrip("/") + "/oauth/revocations"
        self._http, self._owns_http = http_client, http_client is None
        self._interval, self._auth = interval, auth
        self._headers = {"Accept": "application/json"}
        if client_id is not None and client_secret is not None:
            self._headers["Authorization"] = basic_authorization(client_id, client_secret)
        self._page_size, self._max_pages = page_size, max_pages
        self._cursor: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.pages_read = 0

    async def start(self) -> None:
        """Read the whole feed once (so the list is loaded before traffic), then keep polling in
        the background. Raises when that first read fails: refused credentials, or no feed."""
        if self._task is None:
            try:
                await self._poll()
            except BaseException:
                await self.stop()
                raise
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await _cancel(self._task)
        self._task = None
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def poll(self) -> bool:
        """Read what is new; ``True`` when any entry came. Failures are logged only (the list
        and the cursor are kept; the next poll tries again)."""
        try:
            return await self._poll()
        except Exception as exc:
            _log.warning("Revocation feed %s failed: %s", self.url, exc)
            return False

    async def _poll(self) -> bool:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5.0)
        auth = self._auth or httpx.USE_CLIENT_DEFAULT
        found = False
        for _ in range(self._max_pages):
            params = {"limit": str(self._page_size)}
            if self._cursor is not None:
                params["cursor"] = self._cursor
            response = await self._http.get(self.url, params=params, headers=self._headers,
                                            auth=auth)
            response.raise_for_status()
            count, more = self._apply(response.json())
            self.pages_read += 1
            found = found or count > 0
            if not more:
                break
        self.prune()
        return found

    def _apply(self, body: Any) -> tuple[int, bool]:
        """Apply one page; (entries applied, whether more pages follow)."""
        if not isinstance(body, dict):
            raise ValueError("The revocation feed did not answer a JSON object")
        entries, cursor, more = body.get("revoked"), body.get("next_cursor"), body.get("has_more")
        if not isinstance(entries, list) or not isinstance(cursor, str) or not isinstance(
                more, bool):
            raise ValueError("The revocation feed page lacks revoked, next_cursor or has_more")
        applied = sum(self.add(entry) for entry in entries)
        self._cursor = cursor
        return applied, more

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.poll()
