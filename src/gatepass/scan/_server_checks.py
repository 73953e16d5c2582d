"""Authorization-server checks: discovery (RFC 8414), JWKS (RFC 7517), client credentials
(RFC 6749 §4.4, §5.2) and self-service registration (agent endpoint, RFC 7591)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gatepass.scan._context import ScanContext
from gatepass.scan._model import Finding, Findings

__all__ = ["client_credentials", "discovery", "jwks", "registration"]

_ENDPOINTS = ("token_endpoint", "jwks_uri", "registration_endpoint", "agent_registration_url",
              "introspection_endpoint", "revocation_endpoint")
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "k")
_NO_METADATA = "Publish RFC 8414 metadata at /.well-known/oauth-authorization-server first"


def _absolute(value: Any) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme in ("http", "https") \
        and bool(urlsplit(value).netloc)


def _check_document(f: Findings, url: str, doc: dict[str, Any], expected: str | None) -> None:
    issuer = doc.get("issuer")
    if not isinstance(issuer, str):
        f.error(f"{url} has no issuer string", "Add \"issuer\" (RFC 8414 §2)", 0.4, url)
    elif expected is not None and issuer.rstrip("/") != expected.rstrip("/"):
        f.error(f"issuer {issuer!r} served at {url} is not {expected!r} (RFC 8414 §3.3)",
                f"Set issuer to exactly {expected} (configure it; never derive it from Host)",
                0.4, url)
    if not _absolute(doc.get("token_endpoint")):
        f.error(f"{url} has no absolute token_endpoint", "Add token_endpoint", 0.3, url)
    relative = [k for k in _ENDPOINTS if k in doc and not _absolute(doc[k])]
    if relative:
        f.warn(f"Not absolute URLs: {', '.join(relative)}", "Publish absolute https URLs", 0.1)


async def discovery(ctx: ScanContext) -> list[Finding]:
    f = Findings("discovery")
    meta = await ctx.metadata()
    good: dict[str, dict[str, Any]] = {}
    for url, found in meta.documents.items():
        if found.status != 200:
            continue
        doc, problem = found.json_object()
        if doc is None:
            f.error(f"{url} is malformed: {problem}",
                    "Serve a JSON object with Content-Type: application/json", 0.5, url)
            continue
        good[url] = doc
        if found.content_type != "application/json":
            f.warn(f"{url} is served as {found.content_type or 'no content type'}",
                   "Use Content-Type: application/json", 0.05, url)
    if not meta.documents or (not good and not f.items):
        seen = "; ".join(f"{u}: {found.describe()}" for u, found in meta.documents.items())
        f.error(f"No authorization server metadata ({seen})",
                "Publish RFC 8414 metadata under both /.well-known/oauth-authorization-server "
                "and /.well-known/openid-configuration", 1.0)
        return f.items
    for url, found in meta.documents.items():
        if found.status != 200:
            f.warn(f"Only one well-known name is served; {url} answers {found.describe()}",
                   "Serve the same document under both well-known names", 0.2, url)
    for url, doc in good.items():
        _check_document(f, url, doc, meta.expected_issuer)
    issuers = {str(doc.get("issuer")) for doc in good.values()}
    if len(issuers) > 1:
        f.warn(f"The two documents name different issuers: {', '.join(sorted(issuers))}",
               "Serve one document under both names", 0.2)
    where = "the authorization server the resource names" if meta.via_resource else "the target"
    return f.ok(f"RFC 8414 metadata at {where} under both names; issuer matches")


async def jwks(ctx: ScanContext) -> list[Finding]:
    f = Findings("jwks")
    meta = await ctx.metadata()
    uri = meta.url("jwks_uri")
    if uri is None:
        why = "metadata has no http(s) jwks_uri" if meta.document else "no metadata, so no jwks_uri"
        f.error(f"Cannot check keys: {why}", "Publish jwks_uri in the metadata"
                if meta.document else _NO_METADATA, 1.0)
        return f.items
    found = await ctx.get(uri)
    doc, problem = found.json_object() if found.ok else (None, found.describe())
    keys = (doc or {}).get("keys")
    if not isinstance(keys, list) or not keys:
        f.error(f"{uri}: {problem or 'no non-empty keys array'}",
                "Serve a JWK Set ({\"keys\": [...]}) with the public signing keys", 1.0, uri)
        return f.items
    objects = [k for k in keys[:50] if isinstance(k, dict)]
    if len(objects) < len(keys[:50]):
        f.error("Some JWKS entries are not JSON objects", "Publish only JWK objects", 0.3, uri)
    if any(name in k for k in objects for name in _PRIVATE):
        f.error("The JWKS publishes private or symmetric key material",
                "Remove private members (d, p, q, ...) and symmetric keys now; rotate keys", 1.0,
                uri)
    if any(not isinstance(k.get("kty"), str) for k in objects):
        f.error("A key has no kty", "Every JWK needs kty (RFC 7517 §4.1)", 0.5, uri)
    if any(not isinstance(k.get("kid"), str) for k in objects):
        f.warn("A key has no kid", "Give every key a kid so verifiers can pick it", 0.2, uri)
    if "max-age" not in found.headers.get("cache-control", ""):
        f.warn("The JWKS has no Cache-Control max-age",
               "Send Cache-Control: public, max-age=300 so resource servers cache it", 0.1, uri)
    return f.ok(f"{len(objects)} public key(s) with kid, cacheable", uri)


async def client_credentials(ctx: ScanContext) -> list[Finding]:
    f = Findings("client_credentials")
    meta = await ctx.metadata()
    doc = meta.document
    if doc is None:
        f.error("Cannot tell: no authorization server metadata", _NO_METADATA, 1.0)
        return f.items
    grants = doc.get("grant_types_supported")
    if not isinstance(grants, list) or "client_credentials" not in grants:
        f.error("grant_types_supported does not list client_credentials",
                "Enable the client-credentials grant (RFC 6749 §4.4) and advertise it", 0.5)
    token = meta.url("token_endpoint")
    if token is None:
        f.error("No token endpoint to probe", "Advertise token_endpoint", 0.5)
        return f.items
    probe = await ctx.fetcher.fetch("POST", token, data={"grant_type": "client_credentials"})
    body, _ = probe.json_object()
    if probe.status == 200 and body and "access_token" in body:
        f.error("The token endpoint issued a token without client authentication",
                "Require client authentication at the token endpoint", 1.0, token)
    elif probe.status in (400, 401) and body and isinstance(body.get("error"), str):
        f.info(f"Unauthenticated grant refused with {body['error']!r}", url=token)
    elif probe.status in (400, 401):
        f.warn(f"The token endpoint's error is not RFC 6749 §5.2 JSON ({probe.content_type})",
               "Answer errors as JSON with error and error_description", 0.2, token)
    else:
        f.error(f"Token endpoint probe: {probe.describe()}",
                "Serve the token endpoint at the advertised URL (POST, form-encoded)", 0.4, token)
    methods = doc.get("token_endpoint_auth_methods_supported")
    if not isinstance(methods, list) or "private_key_jwt" not in methods:
        f.info("private_key_jwt is not offered",
               "Offer private_key_jwt (RFC 7523) so agents need no shared secret")
    return f.ok("client_credentials advertised; the token endpoint answers with JSON errors",
                token)


async def registration(ctx: ScanContext) -> list[Finding]:
    f = Findings("registration")
    meta = await ctx.metadata()
    if meta.document is None:
        f.error("Cannot tell: no authorization server metadata", _NO_METADATA, 1.0)
        return f.items
    agent, dcr = meta.url("agent_registration_url"), meta.url("registration_endpoint")
    if agent is None and dcr is None:
        f.error("No self-service registration is advertised",
                "Offer an agent registration endpoint (agent_registration_url) or RFC 7591 "
                "registration_endpoint", 1.0)
        return f.items
    if agent is not None:
        await _probe_agent_endpoint(ctx, f, agent)
    else:
        f.warn("No agent_registration_url (only RFC 7591)",
               "Advertise agent_registration_url for ToS/billing-aware agent sign-up", 0.1)
    if dcr is not None:  # never POSTed: an empty RFC 7591 body may legitimately register
        found = await ctx.get(dcr)
        if found.status in (None, 404) or (found.status or 0) >= 500:
            f.error(f"registration_endpoint {found.describe()}",
                    "Serve the advertised registration endpoint", 0.5, dcr)
    for name in ("agent_tos_url", "agent_documentation"):
        if meta.url(name) is None:
            f.warn(f"Metadata has no {name}", f"Advertise {name} for agents", 0.1)
    return f.ok("Self-service registration advertised and answering", agent or dcr)


async def _probe_agent_endpoint(ctx: ScanContext, f: Findings, url: str) -> None:
    """POST terms *declined*: a conforming endpoint refuses and says what it needs."""
    probe = await ctx.fetcher.fetch("POST", url, json={"tos_accepted": False})
    body, _ = probe.json_object()
    code = (body or {}).get("error")
    if probe.status in (200, 201):
        f.warn("The agent endpoint registered a client that declined the terms",
               "Refuse with 400 tos_required (tos_url, tos_version) until tos_accepted", 0.3, url)
    elif code == "tos_required" and "tos_url" in (body or {}):
        f.info("Declined terms answered with tos_required and tos_url", url=url)
    elif probe.status == 429 or (probe.status and 400 <= probe.status < 500 and
                                 probe.status not in (404, 405) and isinstance(code, str)):
        f.info(f"Agent registration answers {probe.status} {code!r}", url=url)
    else:
        f.error(f"Agent registration probe: {probe.describe()}",
                "Serve the advertised agent_registration_url and answer JSON errors", 0.5, url)
