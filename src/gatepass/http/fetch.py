"""Outbound fetches of client-supplied URLs (``jwks_uri``, metadata documents) with an SSRF guard.

https only (http allowed in development), the host must resolve only to public addresses
(loopback allowed in development; NAT64, 6to4 and IPv4-compatible addresses must embed a public
IPv4 address) and is fetched from the address checked (no second DNS answer), no redirects and a
size cap. :class:`GuardedFetch` bounds each purpose's fetches (its own connection pool, a total
deadline, per-address concurrency, one fetch per URL at a time and a negative cache);
:class:`SafeJwksFetcher` adds a small TTL cache and refreshes past it (a signer's rotated key)
at most once per cooldown per URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

__all__ = ["FetchError", "FetchLimits", "GuardedFetch", "PublicUrl", "SafeJwksFetcher",
           "UnsafeUrl", "check_public_url"]

MAX_BYTES = 64 * 1024
MAX_FAILURES = 1024  # failed URLs remembered per purpose (oldest forgotten first)
T = TypeVar("T")


class FetchError(ValueError):
    """An outbound fetch failed; the message says why."""


class UnsafeUrl(FetchError):
    """The URL is not one the server may fetch."""


@dataclass(frozen=True)
class PublicUrl:
    """A URL that passed :func:`check_public_url`, and the checked address its host resolved to.

    ``stream`` fetches it from that address: the host is never resolved again, so a DNS answer
    that changes between the check and the request (DNS rebinding) cannot send the request to a
    private address. The URL's host still goes in ``Host`` and, over https, in SNI and the
    certificate check. Each fetch has a connection of its own (``Connection: close``), so a
    connection verified for one host name never serves another that shares its address.
    """

    url: str
    address: str

    def stream(self, client: httpx.AsyncClient, headers: Mapping[str, str] | None = None
               ) -> AbstractAsyncContextManager[httpx.Response]:
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        target = urlunsplit(parts._replace(netloc=netloc))
        sent = {**(headers or {}), "Host": parts.netloc, "Connection": "close"}
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        return client.stream("GET", target, headers=sent, extensions=extensions,
                             follow_redirects=False)


async def _resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (a seam: tests name hosts no DNS server knows)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_public_url(url: str, *, development: bool) -> PublicUrl:
    """Refuse non-https URLs and hosts that resolve to private, loopback or reserved addresses
    (every address they resolve to is checked); the URL with the first address."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (development and parts.scheme == "http"):
        raise UnsafeUrl("URL must use https")
    if not parts.hostname or parts.username or parts.password:
        raise UnsafeUrl("URL must name a host and carry no credentials")
    try:
        addresses = await _resolve(parts.hostname, parts.port or 443)
    except (OSError, ValueError) as exc:  # ValueError: a port out of range
        raise UnsafeUrl(f"cannot resolve {parts.hostname}") from exc
    if not addresses:
        raise UnsafeUrl(f"cannot resolve {parts.hostname}")
    for address in addresses:
        addr = ipaddress.ip_address(address.partition("%")[0])  # no IPv6 zone id
        if development and addr.is_loopback:
            continue
        if not _public(addr):
            raise UnsafeUrl(f"{parts.hostname} resolves to a non-public address")
    return PublicUrl(url, addresses[0])


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use, never public
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 §2.5.5.1 (deprecated)


def _public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally reachable and unicast; an IPv6 address that carries an IPv4 one (NAT64, 6to4,
    IPv4-compatible; Teredo's 2001::/32 is not global at all) only if that one is public too,
    since a translator or relay would deliver the request to it."""
    if not addr.is_global or addr.is_multicast:
        return False
    if isinstance(addr, ipaddress.IPv4Address):
        return True
    if addr in _NAT64_LOCAL:
        return False
    embedded = addr.sixtofour
    if embedded is None and (addr in _NAT64 or addr in _IPV4_COMPATIBLE):
        embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return embedded is None or (embedded.is_global and not embedded.is_multicast)


@dataclass(frozen=True)
class FetchLimits:
    """Bounds on one purpose's outbound fetches.

    ``deadline``: seconds for the whole fetch (DNS, a free slot, connect, headers, body), not
    per read. ``per_host``: fetches in flight to one address. ``connections``: the size of the
    purpose's own pool (:meth:`client`). ``failure_ttl``: seconds a failed URL is answered from
    memory instead of being fetched again.
    """

    deadline: float = 3.0
    per_host: int = 4
    connections: int = 20
    failure_ttl: float = 15.0

    def client(self) -> httpx.AsyncClient:
        """A connection pool of its own, so one purpose's traffic cannot starve another's."""
        return httpx.AsyncClient(timeout=self.deadline, limits=httpx.Limits(
            max_connections=self.connections, max_keepalive_connections=0))


class GuardedFetch:
    """Runs one purpose's fetches within :class:`FetchLimits`.

    ``run(url, read)`` checks the URL (:func:`check_public_url`), waits for one of the
    ``per_host`` slots of the address it resolved to, then lets ``read`` fetch it, all within
    the deadline. Concurrent calls for one URL share one fetch. A failure (``FetchError``, an
    ``httpx`` error, the deadline) is remembered for ``failure_ttl`` seconds: the URL is not
    fetched again before then, and the same error type is raised at once. Errors raised are
    ``FetchError`` (a ``ValueError``), of the type ``error`` when made here.
    """

    def __init__(self, client: httpx.AsyncClient, limits: FetchLimits, *, development: bool,
                 error: type[FetchError] = FetchError,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._limits = limits
        self._development = development
        self._error = error
        self._monotonic = monotonic
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}  # address -> users
        self._failed: OrderedDict[str, tuple[float, type[FetchError], str]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    async def run(self, url: str, read: Callable[[PublicUrl], Awaitable[T]]) -> T:
        failed = self._failed.get(url)
        if failed is not None:
            until, kind, reason = failed
            wait = until - self._monotonic()
            if wait > 0:
                raise kind(f"{reason} (not fetched again for {math.ceil(wait)} s)")
            del self._failed[url]
        shared = self._inflight.get(url)
        if shared is None:
            shared = self._inflight[url] = asyncio.ensure_future(self._fetch(url, read))
            shared.add_done_callback(lambda done: self._settled(url, done))
        result: T = await asyncio.shield(shared)
        return result

    def _settled(self, url: str, done: asyncio.Future[Any]) -> None:
        if self._inflight.get(url) is done:
            del self._inflight[url]
        if not done.cancelled():
            done.exception()  # retrieved: no "never retrieved" warning when every caller left

    async def _fetch(self, url: str, read: Callable[[PublicUrl], Awaitable[T]]) -> T:
        deadline = self._limits.deadline
        try:
            async with asyncio.timeout(deadline):
                public = await check_public_url(url, development=self._development)
                async with self._slot(public.address):
                    return await read(public)
        except FetchError as exc:
            self._remember(url, type(exc), str(exc))
            raise
        except httpx.HTTPError as exc:
            raise self._failure(url, f"fetching it failed ({type(exc).__name__})") from exc
        except TimeoutError as exc:
            raise self._failure(url, f"no complete answer within the {deadline:g} s "
                                     "deadline") from exc

    def _failure(self, url: str, reason: str) -> FetchError:
        self._remember(url, self._error, reason)
        return self._error(reason)

    def _remember(self, url: str, kind: type[FetchError], reason: str) -> None:
        self._failed[url] = (self._monotonic() + self._limits.failure_ttl, kind, reason)
        self._failed.move_to_end(url)
        if len(self._failed) > MAX_FAILURES:
            self._failed.popitem(last=False)

    @contextlib.asynccontextmanager
    async def _slot(self, address: str) -> AsyncIterator[None]:
        """One of ``per_host`` concurrent fetches to ``address`` (waits within the deadline)."""
        entry = self._slots.get(address)
        if entry is None:
            entry = self._slots[address] = (asyncio.Semaphore(self._limits.per_host), [0])
        semaphore, users = entry
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._slots[address]


class SafeJwksFetcher:
    """Fetches and caches a client's JWKS document.

    A document is served from the cache for ``ttl`` seconds. ``refresh=True`` (no key of the
    cached document verified a signature: the signer may have rotated its keys) fetches it again
    at most once per ``refresh_cooldown`` seconds per URL, so assertions signed with unknown keys
    cannot make the server fetch more often than that.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        development: bool,
        limits: FetchLimits | None = None,
        ttl: float = 300.0,
        refresh_cooldown: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._guard = GuardedFetch(client, limits or FetchLimits(), development=development,
                                   error=UnsafeUrl, monotonic=monotonic)
        self._ttl = ttl
        self._cooldown = refresh_cooldown
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Mapping[str, Any]]] = {}  # url -> (expires, doc)
        self._refreshed: dict[str, float] = {}  # url -> when a refresh last went out

    async def __call__(self, url: str, *, refresh: bool = False) -> Mapping[str, Any]:
        now = self._monotonic()
        hit = self._cache.get(url)
        recent = now - self._refreshed.get(url, -math.inf) < self._cooldown
        if hit is not None and hit[0] > now and (not refresh or recent):
            return hit[1]
        if refresh:
            self._refreshed[url] = now
        doc = await self._fetch(url)
        self._cache[url] = (self._monotonic() + self._ttl, doc)
        return doc

    async def _fetch(self, url: str) -> Mapping[str, Any]:
        return await self._guard.run(url, self._read)

    async def _read(self, public: PublicUrl) -> Mapping[str, Any]:
        async with public.stream(self._guard.client) as resp:
            if resp.status_code != 200:
                raise UnsafeUrl(f"jwks_uri answered {resp.status_code}")
            body = b""
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise UnsafeUrl("jwks_uri document too large")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UnsafeUrl("jwks_uri did not return JSON") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise UnsafeUrl("jwks_uri did not return a JWKS")
        return doc
