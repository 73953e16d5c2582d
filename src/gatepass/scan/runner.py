"""The scanner's HTTP side: bounded requests, same-origin redirects only, then the rubric.

Every request is bounded three ways: a per-request deadline (connect, redirects and body
together, so a server dripping one byte a second still stops), the scan's total budget, and a
body size cap. Redirects are followed by hand, at most ``MAX_REDIRECTS`` hops and only within
the origin of the URL asked for; a redirect elsewhere is recorded, never followed. GET
responses are cached, so checks sharing a document cost one request.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from gatepass.scan.report import ScanReport
from gatepass.scan.rubric import run_checks

__all__ = ["MAX_BODY", "MAX_REDIRECTS", "Fetched", "Fetcher", "origin", "scan"]

MAX_BODY = 512 * 1024
MAX_REDIRECTS = 3
USER_AGENT = "gatepass-scan/0.1 (+https://gatepass.dev/readiness)"
Progress = Callable[[str, int, int], None]


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


@dataclass(frozen=True, slots=True)
class Fetched:
    """One exchange as the checks see it: a response, or why there is none."""

    method: str
    url: str
    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    truncated: bool = False
    error: str | None = None
    redirects: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.truncated

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", "")).split(";")[0].strip().lower()

    def json(self) -> tuple[Any, str | None]:
        """(value, None) or (None, what is wrong with the body)."""
        if self.truncated:
            return None, f"body larger than {MAX_BODY // 1024} KiB"
        try:
            return json.loads(self.body), None
        except ValueError as exc:
            return None, f"not valid JSON ({type(exc).__name__}: {str(exc)[:80]})"

    def json_object(self) -> tuple[dict[str, Any] | None, str | None]:
        value, problem = self.json()
        if problem is None and not isinstance(value, dict):
            return None, f"JSON {type(value).__name__}, not an object"
        return value, problem

    def describe(self) -> str:
        """Why this is not a usable answer, for a finding."""
        if self.error:
            return self.error
        if self.truncated:
            return f"body larger than {MAX_BODY // 1024} KiB"
        return f"HTTP {self.status}"


class Fetcher:
    """Bounded, cached HTTP for one scan."""

    def __init__(self, client: httpx.AsyncClient, *, timeout: float, budget: float,
                 max_body: int = MAX_BODY) -> None:
        self._client, self.timeout, self.max_body = client, timeout, max_body
        self.deadline = time.monotonic() + budget
        self.history: list[Fetched] = []
        self._cache: dict[str, asyncio.Task[Fetched]] = {}

    @property
    def exhausted(self) -> bool:
        return time.monotonic() >= self.deadline

    async def get(self, url: str, **kw: Any) -> Fetched:
        """GET, shared by every check asking for the same URL."""
        if url not in self._cache:
            self._cache[url] = asyncio.ensure_future(self.fetch("GET", url, **kw))
        return await asyncio.shield(self._cache[url])

    async def fetch(self, method: str, url: str, **kw: Any) -> Fetched:
        """One request (plus same-origin redirects) within the deadlines; never raises."""
        if urlsplit(url).scheme not in ("http", "https"):
            return self._keep(Fetched(method, url, error="not an http(s) URL"))
        left = min(self.timeout, self.deadline - time.monotonic())
        if left <= 0:
            return self._keep(Fetched(method, url, error="scan time budget exhausted"))
        try:
            async with asyncio.timeout(left):
                found = await self._follow(method, url, kw)
        except TimeoutError:
            found = Fetched(method, url, error=f"no complete answer within {left:.1f}s")
        except httpx.HTTPError as exc:
            found = Fetched(method, url, error=f"{type(exc).__name__}: {str(exc)[:120]}")
        return self._keep(found)

    def _keep(self, found: Fetched) -> Fetched:
        self.history.append(found)
        return found

    async def _follow(self, method: str, url: str, kw: dict[str, Any]) -> Fetched:
        hops: list[str] = []
        current = url
        while True:
            found = await self._once(method, current, kw, tuple(hops))
            location = found.headers.get("location")
            if found.status not in (301, 302, 303, 307, 308) or not location:
                return found
            target = urljoin(current, location)
            if origin(target) != origin(url):
                return Fetched(method, url, found.status, found.headers, found.body,
                               error=f"redirect to another host not followed: {target[:200]}",
                               redirects=(*hops, current))
            if len(hops) >= MAX_REDIRECTS:
                return Fetched(method, url, found.status, found.headers,
                               error=f"more than {MAX_REDIRECTS} redirects")
            hops.append(current)
            current = target
            if found.status == 303:
                method, kw = "GET", {}

    async def _once(self, method: str, url: str, kw: dict[str, Any],
                    hops: tuple[str, ...]) -> Fetched:
        request = self._client.build_request(method, url, **kw)
        response = await self._client.send(request, stream=True, follow_redirects=False)
        try:
            body, truncated = bytearray(), False
            inflate = _inflater(response.headers.get("content-encoding", ""))
            async for chunk in response.aiter_raw():
                body += inflate(chunk, self.max_body + 1 - len(body)) if inflate else chunk
                if len(body) > self.max_body:
                    truncated = True
                    break
        finally:
            await response.aclose()
        return Fetched(method, url, response.status_code, response.headers,
                       bytes(body[: self.max_body]), truncated, redirects=hops)


def _inflater(encoding: str) -> Callable[[bytes, int], bytes] | None:
    """A bounded gzip/deflate decoder (no decompression bombs), or None for identity."""
    encoding = encoding.strip().lower()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
    return lambda chunk, room: decoder.decompress(chunk, max(room, 1))


def _normalise(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"scan target must be an http(s) URL, got {url!r}")
    return parts._replace(query="", fragment="").geturl().rstrip("/") or url


async def scan(url: str, *, request_timeout: float = 5.0, budget: float = 30.0,
               transport: httpx.AsyncBaseTransport | None = None,
               progress: Progress | None = None) -> ScanReport:
    """Examine ``url`` from outside and score its agent readiness (0-100)."""
    target = _normalise(url)
    started = time.monotonic()
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate",
               "Accept": "application/json, text/plain;q=0.9, */*;q=0.5"}
    async with httpx.AsyncClient(transport=transport, timeout=request_timeout,
                                 follow_redirects=False,
                                 headers=headers, trust_env=False) as client:
        fetcher = Fetcher(client, timeout=request_timeout, budget=budget)
        results = await run_checks(target, fetcher, progress)
    return ScanReport(target, results, time.monotonic() - started, fetcher.exhausted)
