"""Shared facts the checks need, each looked up once per scan (concurrent callers share it).

* ``metadata()``: RFC 8414 documents under both well-known names, at the target or at the
  authorization server that the target's protected-resource metadata names.
* ``protected()``: the first endpoint that refuses an unauthenticated request (401/403).
* ``resource_metadata()``: RFC 9728, from the 401 challenge or the well-known location.
* ``openapi()``: an OpenAPI document (RFC 9727 api-catalog, ``Link: rel=service-desc``,
  ``llms.txt`` links, then a few conventional paths).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit

from gatepass.agent.discovery import parse_challenges

if TYPE_CHECKING:
    from gatepass.scan.runner import Fetched, Fetcher

__all__ = ["AS_NAMES", "Metadata", "ScanContext", "bearer_params", "well_known"]

T = TypeVar("T")
AS_NAMES = ("oauth-authorization-server", "openid-configuration")
OPENAPI_PATHS = ("/openapi.json", "/.well-known/openapi.json", "/api/openapi.json",
                 "/api/v1/openapi.json", "/v1/openapi.json", "/docs/openapi.json",
                 "/swagger.json", "/openapi.yaml")


def well_known(url: str, name: str) -> str:
    """RFC 8414 §3.1: ``/.well-known/<name>`` inserted between the host and the path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/.well-known/{name}{parts.path.rstrip('/')}"


def bearer_params(found: Fetched) -> dict[str, str] | None:
    """Parameters of the ``Bearer`` challenge in ``WWW-Authenticate``; None without one."""
    for header in found.headers.get_list("www-authenticate"):
        params = parse_challenges(header).get("bearer")
        if params is not None:
            return params
    return None


@dataclass(slots=True)
class Metadata:
    """What discovery found: per well-known URL its response, the issuer expected there."""

    expected_issuer: str | None = None
    documents: dict[str, Fetched] = field(default_factory=dict)
    via_resource: bool = False

    @property
    def document(self) -> dict[str, Any] | None:
        """The first usable document (a JSON object), if any."""
        for found in self.documents.values():
            doc, problem = found.json_object() if found.ok else (None, "missing")
            if doc is not None and problem is None:
                return doc
        return None

    def url(self, name: str) -> str | None:
        doc = self.document or {}
        value = doc.get(name)
        return value if isinstance(value, str) and urlsplit(value).scheme in ("http",
                                                                             "https") else None


class ScanContext:
    """One scan's target, its fetcher, and memoised lookups."""

    def __init__(self, target: str, fetcher: Fetcher) -> None:
        self.target, self.fetcher = target, fetcher
        parts = urlsplit(target)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._memo: dict[str, asyncio.Future[Any]] = {}

    async def _once(self, name: str, make: Callable[[], Awaitable[T]]) -> T:
        if name not in self._memo:
            self._memo[name] = asyncio.ensure_future(make())
        result: T = await asyncio.shield(self._memo[name])
        return result

    def get(self, url: str) -> Awaitable[Fetched]:
        return self.fetcher.get(url)

    def metadata(self) -> Awaitable[Metadata]:
        return self._once("metadata", self._metadata)

    async def _at(self, issuer: str, via_resource: bool) -> Metadata:
        urls = [well_known(issuer, n) for n in AS_NAMES]
        found = await asyncio.gather(*(self.get(u) for u in urls))
        return Metadata(issuer, dict(zip(urls, found, strict=True)), via_resource)

    async def _metadata(self) -> Metadata:
        here = await self._at(self.origin, False)
        if any(f.status == 200 for f in here.documents.values()):
            return here
        prm = await self.resource_metadata()
        doc, _ = prm.json_object() if prm is not None and prm.ok else (None, None)
        servers = (doc or {}).get("authorization_servers")
        if isinstance(servers, list) and servers and isinstance(servers[0], str):
            return await self._at(servers[0].rstrip("/"), True)
        return here

    def protected(self) -> Awaitable[Fetched | None]:
        return self._once("protected", self._protected)

    async def _protected(self) -> Fetched | None:
        first = await self.get(self.target)
        if first.status in (401, 403):
            return first
        candidates = [await self._prm_resource()] + await self._openapi_operations()
        for url in dict.fromkeys(u for u in candidates if u and u != self.target):
            found = await self.get(url)
            if found.status in (401, 403):
                return found
        return None

    async def _prm_resource(self) -> str | None:
        found = await self.get(well_known(self.target, "oauth-protected-resource"))
        doc, _ = found.json_object() if found.ok else (None, None)
        value = (doc or {}).get("resource")
        return value if isinstance(value, str) and value.startswith(self.origin) else None

    def resource_metadata(self) -> Awaitable[Fetched | None]:
        return self._once("prm", self._resource_metadata)

    async def _resource_metadata(self) -> Fetched | None:
        refused = await self.protected()
        params = bearer_params(refused) if refused is not None else None
        if params and params.get("resource_metadata"):
            return await self.get(urljoin(self.target, params["resource_metadata"]))
        for url in dict.fromkeys([well_known(self.target, "oauth-protected-resource"),
                                  self.origin + "/.well-known/oauth-protected-resource"]):
            found = await self.get(url)
            if found.status == 200:
                return found
        return None

    def openapi(self) -> Awaitable[Fetched | None]:
        return self._once("openapi", self._openapi)

    async def _openapi_links(self) -> list[str]:
        links: list[str] = []
        catalog = await self.get(self.origin + "/.well-known/api-catalog")
        doc, _ = catalog.json_object() if catalog.ok else (None, None)
        for entry in (doc or {}).get("linkset", []) if isinstance(doc, dict) else []:
            for link in entry.get("service-desc", []) if isinstance(entry, dict) else []:
                if isinstance(link, dict) and isinstance(link.get("href"), str):
                    links.append(urljoin(self.origin + "/", link["href"]))
        root = await self.get(self.target)
        for match in re.finditer(r'<([^>]+)>\s*;[^,]*rel="?service-desc', root.headers.get(
                "link", "")):
            links.append(urljoin(self.target, match[1]))
        llms = await self.get(self.origin + "/llms.txt")
        if llms.ok:
            links += re.findall(r"https?://[^\s)>\]]+openapi[^\s)>\]]*", llms.text)[:3]
        return links

    async def _openapi(self) -> Fetched | None:
        urls = await self._openapi_links()
        if urlsplit(self.target).path.strip("/"):
            urls.append(self.target + "/openapi.json")
        urls += [self.origin + p for p in OPENAPI_PATHS]
        for url in dict.fromkeys(urls):
            found = await self.get(url)
            if found.status == 200 and not found.content_type.startswith("text/html"):
                return found
        return None

    async def _openapi_operations(self) -> list[str]:
        """Up to three parameterless GET operations, those declaring security first."""
        found = await self.openapi()
        doc, _ = found.json_object() if found is not None else (None, None)
        if found is None or not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            return []
        servers = doc.get("servers")
        first = servers[0] if isinstance(servers, list) and servers else {}
        base = first.get("url", "") if isinstance(first, dict) else ""
        base_url = urljoin(found.url, base if isinstance(base, str) else "").rstrip("/")
        secured: list[str] = []
        public: list[str] = []
        for path, ops in doc["paths"].items():
            op = ops.get("get") if isinstance(ops, dict) else None
            if isinstance(path, str) and "{" not in path and isinstance(op, dict):
                url = base_url + path
                (secured if op.get("security") or doc.get("security") else public).append(url)
        return [u for u in secured + public if u.startswith(self.origin)][:3]
