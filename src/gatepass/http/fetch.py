"""Outbound fetches of client-supplied URLs (``jwks_uri``) with an SSRF guard.

https only (http allowed in development), the host must resolve only to public addresses
(loopback allowed in development), no redirects, a timeout, a size cap and a small TTL cache;
a refresh past the cache (a signer's rotated key) at most once per cooldown per URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

__all__ = ["SafeJwksFetcher", "UnsafeUrl", "check_public_url"]

MAX_BYTES = 64 * 1024


class UnsafeUrl(ValueError):
    """The URL is not one the server may fetch."""


async def check_public_url(url: str, *, development: bool) -> None:
    """Refuse non-https URLs and hosts that resolve to private, loopback or reserved addresses."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (development and parts.scheme == "http"):
        raise UnsafeUrl("URL must use https")
    if not parts.hostname or parts.username or parts.password:
        raise UnsafeUrl("URL must name a host and carry no credentials")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise UnsafeUrl(f"cannot resolve {parts.hostname}") from exc
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if development and addr.is_loopback:
            continue
        if not addr.is_global or addr.is_multicast:
            raise UnsafeUrl(f"{parts.hostname} resolves to a non-public address")


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
        await check_public_url(url, development=self._development)
        async with self._client.stream("GET", url, follow_redirects=False) as resp:
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
