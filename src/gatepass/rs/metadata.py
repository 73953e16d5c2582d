"""OAuth 2.0 Protected Resource Metadata (RFC 9728 §2, §3, §3.1, §3.2).

``build_protected_resource_metadata`` produces the document; ``ProtectedResourceMetadata`` serves
it as a pure ASGI app at ``/.well-known/oauth-protected-resource`` and, for a resource identifier
with a path, at the path-inserted form ``/.well-known/oauth-protected-resource/<path>``.
``scopes_supported`` joins the configured scopes with those declared by ``require_scopes`` guards
and dependencies found on an app's routes (``declared_scopes``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from gatepass.rs._types import ASGIApp, Receive, Scope, Send
from gatepass.rs.config import ResourceServerConfig

__all__ = [
    "WELL_KNOWN_PATH",
    "ProtectedResourceMetadata",
    "build_protected_resource_metadata",
    "declared_scopes",
    "local_metadata_paths",
    "metadata_paths",
]

WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"
# Starlette/FastAPI attributes that lead to guards; FastAPI >= 0.16x keeps an included router as
# ``_IncludedRouter(original_router=..., include_context=...)`` instead of copying its routes.
_TRAVERSED = (
    "routes", "app", "endpoint", "dependant", "dependencies", "call",
    "original_router", "include_context", "dependency",
)  # fmt: skip


def metadata_paths(resource: str) -> tuple[str, ...]:
    """RFC 9728 §3.1: the well-known path, path-inserted when the resource has a path."""
    path = urlsplit(resource).path.rstrip("/")
    return (WELL_KNOWN_PATH + path,) if not path else (WELL_KNOWN_PATH + path, WELL_KNOWN_PATH)


def local_metadata_paths(config: ResourceServerConfig) -> tuple[str, ...]:
    """The paths this resource answers its metadata at: the well-known ones, and the path of
    ``config.metadata_url`` (where 401 challenges point) when it is on the resource's origin."""
    paths = metadata_paths(config.resource)
    target, resource = urlsplit(config.metadata_url), urlsplit(config.resource)
    same_origin = (target.scheme, target.netloc) == (resource.scheme, resource.netloc)
    if same_origin and target.path and target.path not in paths:
        paths = (*paths, target.path)
    return paths


def _collect(obj: object, found: dict[str, None], seen: set[int]) -> None:
    if obj is None or isinstance(obj, str | bytes | int | float) or id(obj) in seen:
        return
    seen.add(id(obj))
    for scope in getattr(obj, "gatepass_scopes", ()) or ():
        found[scope] = None
    for name in _TRAVERSED:
        child = getattr(obj, name, None)
        for item in child if isinstance(child, list | tuple) else (child,):
            _collect(item, found, seen)


def declared_scopes(app: object) -> tuple[str, ...]:
    """Scopes that ``require_scopes`` guards/dependencies declare on ``app``'s routes, in order."""
    found: dict[str, None] = {}
    _collect(app, found, set())
    return tuple(found)


def build_protected_resource_metadata(
    config: ResourceServerConfig,
    *,
    scopes: Iterable[str] = (),
    resource_name: str | None = None,
    resource_documentation: str | None = None,
    resource_signing_alg_values_supported: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The RFC 9728 §2 document for this resource.

    ``resource_signing_alg_values_supported`` is about signing *responses* (RFC 9728 §2), not
    about access tokens, so it is only published when given.
    """
    document: dict[str, Any] = {
        "resource": config.resource,
        "authorization_servers": [config.issuer],
        "bearer_methods_supported": ["header"],
    }
    supported = list(dict.fromkeys([*config.scopes_supported, *scopes]))
    if supported:
        document["scopes_supported"] = supported
    if resource_name:
        document["resource_name"] = resource_name
    if resource_documentation:
        document["resource_documentation"] = resource_documentation
    if resource_signing_alg_values_supported:
        document["resource_signing_alg_values_supported"] = list(
            resource_signing_alg_values_supported
        )
    return document


class ProtectedResourceMetadata:
    """Serves the metadata document (RFC 9728 §3.2); other paths go to ``app`` (or get 404).

    ``scopes_from`` is an app whose routes are searched for declared scopes at request time;
    by default the Starlette/FastAPI application in ``scope["app"]`` is searched.
    """

    def __init__(
        self,
        config: ResourceServerConfig,
        app: ASGIApp | None = None,
        *,
        scopes_from: object | None = None,
        max_age: int = 3600,
        paths: Iterable[str] | None = None,
        **document_options: Any,
    ) -> None:
        self.config, self.app, self.scopes_from = config, app, scopes_from
        self.paths = frozenset(metadata_paths(config.resource) if paths is None else paths)
        self._max_age, self._options = max_age, document_options

    def document(self, app: object | None = None) -> dict[str, Any]:
        """The document, with the scopes declared on ``scopes_from``'s (else ``app``'s) routes."""
        source = self.scopes_from if self.scopes_from is not None else app
        scopes = declared_scopes(source) if source is not None else ()
        return build_protected_resource_metadata(self.config, scopes=scopes, **self._options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (self.app is None or scope["path"] in self.paths):
            await self._serve(scope, send)
        elif self.app is not None:
            await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, send: Send) -> None:
        status, headers, body = 200, [(b"cache-control", f"public, max-age={self._max_age}")], b""
        if scope["method"] not in ("GET", "HEAD"):
            status, headers = 405, [(b"allow", "GET, HEAD"), (b"cache-control", "no-store")]
        else:
            document = self.document(scope.get("app"))
            body = json.dumps(document, separators=(",", ":")).encode()
        raw = [(k, v.encode()) for k, v in headers]
        raw += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        raw.append((b"access-control-allow-origin", b"*"))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if scope["method"] == "HEAD":
            body = b""
        await send({"type": "http.response.body", "body": body})
