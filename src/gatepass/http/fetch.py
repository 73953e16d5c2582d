"""Outbound fetches of client-supplied URLs (``jwks_uri``) with an SSRF guard.

https only (http allowed in development), the host must resolve only to public addresses
(loopback allowed in development) and is fetched from the address checked (no second DNS
answer), no redirects, a timeout, a size cap and a small TTL cache; a refresh past the cache
(a signer's rotated key) at most once per cooldown per URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

__all__ = ["PublicUrl", "SafeJwksFetcher", "UnsafeUrl", "check_public_url"]

MAX_BYTES = 64 * 1024


class UnsafeUrl(ValueError):
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
        if not addr.is_global or addr.is_multicast:
            raise UnsafeUrl(f"{parts.hostname} resolves to a non-public address")
    return PublicUrl(url, addresses[0])


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
        ttl: float = 300.0,
        refresh_cooldown: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._development = development
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
        public = await check_public_url(url, development=self._development)
        async with public.stream(self._client) as resp:
            if resp.status_code != 200:
                raise UnsafeUrl(f"jwks_uri answered {resp.status_code}")
            body = b""
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise UnsafeUrl("jwks_uri document too large")
        doc = orjson.loads(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise UnsafeUrl("jwks_uri did not return a JWKS")
        return doc
