"""Fetching Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document §4.2,
§6.5-§6.6), cached per ``Cache-Control`` (RFC 9111 §5.2.2, §4.2.3).

https only (http in development), public addresses only (loopback in development) via
``check_public_url`` and fetched from the address it checked, no redirects, within the bounds
of a :class:`~gatepass.http.fetch.GuardedFetch` (total deadline, per-address concurrency,
negative cache; give it a pool of its own), a size cap (5 KB by default), a JSON object body.
``max-age`` (less ``Age``) sets the cache lifetime, bounded by ``max_ttl``;
``no-store``/``no-cache`` disable caching; without a header, ``default_ttl`` applies. Every
failure is a ``FetchError`` (a ``ValueError``) saying why: ``UnsafeUrl`` when the URL may not be
fetched, else ``CimdFetchError``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from gatepass.http.fetch import FetchError, FetchLimits, GuardedFetch, PublicUrl

__all__ = ["CimdFetchError", "CimdFetcher", "cache_lifetime"]

MAX_BYTES = 5 * 1024
MAX_TTL = 86_400.0
DEFAULT_TTL = 60.0
MAX_ENTRIES = 1024
_JSON_TYPES = ("application/json",)


class CimdFetchError(FetchError):
    """The client metadata document could not be fetched or is not a JSON object."""


def _seconds(value: str) -> float | None:
    value = value.strip().strip('"')
    return float(value) if value.isdigit() else None


def cache_lifetime(cache_control: str | None, age: str | None, *, default: float,
                   maximum: float) -> float:
    """Seconds a response may be reused: ``max-age`` minus ``Age``, within [0, maximum]."""
    if cache_control is None:
        return min(default, maximum)
    directives: dict[str, str] = {}
    for item in cache_control.lower().split(","):
        name, _, value = item.strip().partition("=")
        directives[name.strip()] = value
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    max_age = _seconds(directives.get("max-age", ""))
    if max_age is None:
        return min(default, maximum)
    used = _seconds(age or "") or 0.0
    return max(0.0, min(max_age - used, maximum))


class CimdFetcher:
    """Fetches, checks the shape of and caches client metadata documents (bounded LRU)."""

    def __init__(self, client: httpx.AsyncClient, *, development: bool,
                 limits: FetchLimits | None = None, max_bytes: int = MAX_BYTES,
                 max_ttl: float = MAX_TTL, default_ttl: float = DEFAULT_TTL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._guard = GuardedFetch(client, limits or FetchLimits(), development=development,
                                   error=CimdFetchError, monotonic=monotonic)
        self._max_bytes = max_bytes
        self._max_ttl = max_ttl
        self._default_ttl = default_ttl
        self._monotonic = monotonic
        self._cache: OrderedDict[str, tuple[float, Mapping[str, Any]]] = OrderedDict()

    async def __call__(self, url: str) -> Mapping[str, Any]:
        hit = self._cache.get(url)
        if hit is not None and hit[0] > self._monotonic():
            self._cache.move_to_end(url)
            return hit[1]
        self._cache.pop(url, None)
        doc, ttl = await self._guard.run(url, self._get)
        if ttl > 0:
            self._cache[url] = (self._monotonic() + ttl, doc)
            if len(self._cache) > MAX_ENTRIES:
                self._cache.popitem(last=False)
        return doc

    async def _get(self, public: PublicUrl) -> tuple[Mapping[str, Any], float]:
        async with public.stream(self._guard.client, {"Accept": "application/json"}) as resp:
            if resp.is_redirect:
                raise CimdFetchError(f"it answered a redirect ({resp.status_code}), which is not "
                                     "followed")
            if resp.status_code != 200:
                raise CimdFetchError(f"it answered HTTP {resp.status_code}")
            ctype = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if ctype not in _JSON_TYPES and not ctype.endswith("+json"):
                raise CimdFetchError(f"its Content-Type is {ctype or 'missing'}, not JSON")
            body = await self._read(resp)
            ttl = cache_lifetime(resp.headers.get("cache-control"), resp.headers.get("age"),
                                 default=self._default_ttl, maximum=self._max_ttl)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CimdFetchError("it is not valid JSON") from exc
        if not isinstance(doc, dict):
            raise CimdFetchError("it is not a JSON object")
        return doc, ttl

    async def _read(self, resp: httpx.Response) -> bytes:
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise CimdFetchError(f"it is larger than {self._max_bytes} bytes")
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) > self._max_bytes:
                raise CimdFetchError(f"it is larger than {self._max_bytes} bytes")
        return bytes(body)
