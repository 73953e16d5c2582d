"""Revocation checks for resource servers (RFC 7009 §2, RFC 7662 §2): pushed, pulled, introspected.

``RevocationChecker`` is what ``TokenVerifier`` calls last. Implementations:

* ``RedisRevocationListener``: subscribes to the Redis pub/sub channel ``gatepass:revocations``;
  each message is the JSON object ``{"jti": str, "exp": float}``, or a client cutoff (the kill
  switch) ``{"client_id": str, "revoked_before": float, "exp": float}``: every token of that
  client whose ``iat`` is earlier than ``revoked_before`` is revoked (until ``exp``). Nothing is
  loaded on subscribe: the push is what matters, and an entry lives until ``exp`` (plus a grace
  covering the leeway).
* ``FeedRevocationChecker``: polls ``GET {issuer}/oauth/revocations?cursor=..&limit=..`` every
  ``interval`` seconds as a resource-server client (HTTP Basic); a page is
  ``{"revoked": [{"jti": str, "exp": float}, ...], "clients": [<client cutoff>, ...],
  "next_cursor": str, "has_more": bool}``. Entries are merged, never removed before they expire.
* ``IntrospectionChecker`` (in ``gatepass.rs._introspection``): RFC 7662 per token, cached briefly.
* ``MemoryRevocationList``: the in-process deny-list the first two are built on.

The in-memory ones are also ``RevocationDenylist``s: they answer without awaiting, so a cached
token is served without a coroutine per request, and ``ClientCutoffs``: ``TokenVerifier`` asks
them about the token's client and ``iat`` as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

import httpx

from gatepass.clock import Clock, SystemClock
from gatepass.rs._introspection import IntrospectionChecker, basic_authorization

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = [
    "REVOCATION_CHANNEL",
    "ClientCutoffs",
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


@runtime_checkable
class ClientCutoffs(Protocol):
    """A checker that knows per-client cutoffs (the kill switch): ``cuts_off`` is True when a
    token of ``client_id`` issued at ``issued_at`` (its ``iat``; None: unknown, so refused when
    a cutoff exists) is earlier than that client's ``revoked_before``. Needs no await."""

    def cuts_off(self, client_id: str, issued_at: float | None) -> bool: ...


class MemoryRevocationList:
    """An in-memory ``jti`` deny-list and client cutoffs; each entry expires ``grace`` seconds
    after the tokens it covers."""

    def __init__(self, *, clock: Clock | None = None, grace: float = 60.0) -> None:
        self._clock: Clock = clock or SystemClock()
        self._grace = grace
        self._entries: dict[str, float] = {}
        self._cutoffs: dict[str, tuple[float, float]] = {}  # client_id -> (before, until)

    def __len__(self) -> int:
        return len(self._entries)

    def revoke(self, jti: str, exp: float) -> None:
        """Deny ``jti`` until its token's ``exp`` (plus grace)."""
        until = exp + self._grace
        if until > self._clock.now():
            self._entries[jti] = max(until, self._entries.get(jti, until))
        if len(self._entries) % 1024 == 0:
            self.prune()

    def revoke_client(self, client_id: str, before: float, exp: float) -> None:
        """Deny ``client_id``'s tokens with ``iat < before`` until ``exp`` (plus grace); a later
        cutoff replaces an earlier one, never the reverse."""
        until = exp + self._grace
        old = self._cutoffs.get(client_id)
        if until > self._clock.now() and (old is None or old[0] < before):
            self._cutoffs[client_id] = (before, max(until, old[1] if old else until))

    def add(self, entry: object) -> bool:
        """Apply one wire entry, ``{"jti": str, "exp": number}`` or a client cutoff
        ``{"client_id": str, "revoked_before": number, "exp": number}``; ``False`` if it is
        malformed."""
        if not isinstance(entry, dict):
            return False
        exp = entry.get("exp")
        if not _number(exp):
            return False
        if "client_id" in entry:
            client_id, before = entry.get("client_id"), entry.get("revoked_before")
            if not isinstance(client_id, str) or not client_id or not _number(before):
                return False
            self.revoke_client(client_id, float(before), float(exp))
            return True
        jti = entry.get("jti")
        if not isinstance(jti, str) or not jti:
            return False
        self.revoke(jti, float(exp))
        return True

    def prune(self) -> None:
        """Drop entries whose tokens can no longer be accepted anyway."""
        now = self._clock.now()
        self._entries = {j: t for j, t in self._entries.items() if t > now}
        self._cutoffs = {c: v for c, v in self._cutoffs.items() if v[1] > now}

    def cuts_off(self, client_id: str, issued_at: float | None) -> bool:
        """Whether the client's cutoff revokes a token issued at ``issued_at``."""
        cut = self._cutoffs.get(client_id)
        return (cut is not None and cut[1] > self._clock.now()
                and (issued_at is None or issued_at < cut[0]))

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


def _number(value: object) -> TypeGuard[int | float]:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


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
        cutoffs = body.get("clients", [])
        applied = sum(self.add(entry)
                      for entry in [*entries, *(cutoffs if isinstance(cutoffs, list) else ())])
        self._cursor = cursor
        return applied, more

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.poll()
