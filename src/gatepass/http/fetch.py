"""Outbound fetches of client-supplied URLs (``jwks_uri``) with an SSRF guard.

https only (http allowed in development), the host must resolve only to public addresses
(loopback allowed in development), no redirects, a timeout, a size cap and a small TTL cache.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Mapping
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
    """Fetches and caches a client's JWKS document."""

    def __init__(self, client: httpx.AsyncClient, *, development: bool, ttl: float = 300.0):
        self._client = client
        self._development = development
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Mapping[str, Any]]] = {}

    async def __call__(self, url: str) -> Mapping[str, Any]:
        hit = self._cache.get(url)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
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
        self._cache[url] = (time.monotonic() + self._ttl, doc)
        return doc
