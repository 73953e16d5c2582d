"""API-side checks: llms.txt, RFC 9728 metadata, 401/403 bodies and challenges (RFC 6750 §3),
rate-limit headers and 429 bodies, robots.txt rules for agents, the OpenAPI document."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from gatepass.scan._context import ScanContext, bearer_params
from gatepass.scan._model import Finding, Findings

__all__ = ["error_401", "error_403", "llms_txt", "openapi", "protected_resource", "rate_limits",
           "robots_txt"]

AGENT_USER_AGENTS = ("GPTBot", "ChatGPT-User", "ClaudeBot", "Claude-User", "anthropic-ai",
                     "PerplexityBot", "Google-Extended", "CCBot", "*")
AGENT_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration",
               "/.well-known/oauth-protected-resource", "/llms.txt")
_RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "ratelimit", "ratelimit-policy")
_NO_PROTECTED = ("No endpoint refused an unauthenticated request (tried the target, the "
                 "protected-resource metadata's resource and secured OpenAPI GET operations)")


def _html(text: str, content_type: str) -> bool:
    return content_type == "text/html" or text.lstrip()[:15].lower().startswith(("<!doctype",
                                                                                "<html"))


async def llms_txt(ctx: ScanContext) -> list[Finding]:
    f = Findings("llms_txt")
    url = ctx.origin + "/llms.txt"
    found = await ctx.get(url)
    text = found.text if found.ok else ""
    if not found.ok or not text.strip():
        f.error(f"No llms.txt ({found.describe() if not found.ok else 'empty'})",
                "Publish /llms.txt: what the API does, how to register, get a token, scopes", 1.0,
                url)
        return f.items
    if _html(text, found.content_type):
        f.error("llms.txt is an HTML page", "Serve Markdown as text/plain or text/markdown", 0.6,
                url)
        return f.items
    lower = text.lower()
    if not text.lstrip().startswith("# "):
        f.warn("llms.txt does not start with an H1 title", "Start with '# <name>' (llmstxt.org)",
               0.2, url)
    if not any(word in lower for word in ("oauth", "token", "client_credentials")):
        f.warn("llms.txt does not say how agents authenticate",
               "Add an Auth section: discovery URL, token endpoint, grant type", 0.3, url)
    if "regist" not in lower:
        f.warn("llms.txt does not say how agents register",
               "Add the registration endpoint to llms.txt", 0.1, url)
    return f.ok("llms.txt explains authentication and registration", url)


async def protected_resource(ctx: ScanContext) -> list[Finding]:
    f = Findings("protected_resource")
    found = await ctx.resource_metadata()
    fix = "Serve RFC 9728 metadata and name it in 401 challenges (resource_metadata=)"
    if found is None:
        f.error("No protected-resource metadata (RFC 9728) in a 401 challenge or at "
                "/.well-known/oauth-protected-resource", fix, 1.0)
        return f.items
    if not found.ok:
        f.error(f"The protected-resource metadata is unusable: {found.describe()}", fix, 1.0,
                found.url)
        return f.items
    doc, problem = found.json_object()
    if doc is None:
        f.error(f"{found.url} is malformed: {problem}", "Serve a JSON object", 0.8, found.url)
        return f.items
    resource, servers = doc.get("resource"), doc.get("authorization_servers")
    if not isinstance(resource, str):
        f.error("The metadata has no resource", "Add resource (RFC 9728 §2)", 0.4, found.url)
    elif urlsplit(resource).netloc.lower() != urlsplit(found.url).netloc.lower():
        f.error(f"resource {resource!r} is not on the host serving it (RFC 9728 §3.3)",
                "Serve each resource's metadata from that resource's host", 0.4, found.url)
    if not isinstance(servers, list) or not servers or not all(isinstance(s, str)
                                                               for s in servers):
        f.error("authorization_servers is missing or empty",
                "List the issuer(s) that mint tokens for this API", 0.4, found.url)
    if not isinstance(doc.get("scopes_supported"), list):
        f.warn("No scopes_supported", "List the scopes the API understands", 0.1, found.url)
    return f.ok("RFC 9728 metadata names the resource and its authorization server", found.url)


def _body(found: Any) -> dict[str, Any]:
    doc, _ = found.json_object()
    return doc or {}


async def error_401(ctx: ScanContext) -> list[Finding]:
    f = Findings("error_401")
    refused = await ctx.protected()
    if refused is None:
        f.error(_NO_PROTECTED, "Protect the API with bearer tokens; answer 401 with a challenge",
                1.0)
        return f.items
    url, body, params = refused.url, _body(refused), bearer_params(refused)
    if refused.status == 403:
        f.warn("A request without credentials gets 403",
               "Answer 401 with WWW-Authenticate when no token is sent (RFC 6750 §3.1)", 0.2, url)
    if params is None:
        f.error("The refusal has no WWW-Authenticate: Bearer challenge",
                "Send WWW-Authenticate: Bearer realm=..., resource_metadata=... (RFC 6750 §3)",
                0.3, url)
    elif "resource_metadata" not in params:
        f.warn("The challenge has no resource_metadata",
               "Add resource_metadata=\"<RFC 9728 URL>\" so agents find the issuer", 0.3, url)
    if not isinstance(body.get("error"), str) or not isinstance(body.get("error_description"),
                                                                str):
        f.warn("The refusal body is not JSON with error and error_description",
               "Answer {\"error\": ..., \"error_description\": ...}", 0.2, url)
    if not (params or {}).get("resource_metadata") and not any(
            k in body for k in ("token_endpoint", "registration_url", "resource_metadata")):
        f.warn("Neither the body nor the challenge says where to get a token",
               "Name the token endpoint (or resource_metadata) in the refusal", 0.2, url)
    return f.ok("The 401 names the metadata and explains the error", url)


async def error_403(ctx: ScanContext) -> list[Finding]:
    f = Findings("error_403")
    refused = await ctx.protected()
    if refused is None:
        f.error(_NO_PROTECTED, "Protect the API and name the scopes each operation needs", 1.0)
        return f.items
    body, params = _body(refused), bearer_params(refused) or {}
    named = params.get("scope") or body.get("required_scopes") or body.get("scope")
    if named:
        return f.ok(f"The refusal names the scopes needed: {str(named)[:120]}", refused.url)
    prm = await ctx.resource_metadata()
    listed = prm is not None and prm.ok and isinstance(_body(prm).get("scopes_supported"), list)
    fix = ("Put scope=\"...\" in the challenge and required_scopes/granted_scopes in 403 "
           "insufficient_scope bodies")
    if listed:
        f.warn("Only the resource metadata lists scopes; the refusal names none", fix, 0.5,
               refused.url)
    else:
        f.error("No refusal or document names the scopes an operation needs", fix, 1.0,
                refused.url)
    return f.items


async def rate_limits(ctx: ScanContext) -> list[Finding]:
    f = Findings("rate_limits")
    history = ctx.fetcher.history
    limited = [r for r in history if any(h in r.headers for h in _RATE_HEADERS)]
    if not limited:
        f.error("No response carried rate-limit headers",
                "Send X-RateLimit-Limit/-Remaining/-Reset (or RateLimit/RateLimit-Policy)", 0.5)
    meta = await ctx.metadata()
    tiers = isinstance((meta.document or {}).get("rate_limit_tiers"), dict) or any(
        "ratelimit-policy" in r.headers for r in limited)
    if not tiers:
        f.warn("Limits are not published", "Advertise rate_limit_tiers in the metadata or send "
               "RateLimit-Policy", 0.2)
    refusals = [r for r in history if r.status == 429]
    if not refusals:
        f.info("No 429 was observed (the scanner does not flood)")
    for r in refusals[:1]:
        body = _body(r)
        if "retry_after" not in body:
            f.warn("A 429 body has no retry_after", "Add retry_after (seconds) to 429 bodies",
                   0.15, r.url)
        if "retry-after" not in r.headers:
            f.warn("A 429 has no Retry-After header", "Send Retry-After with every 429", 0.15,
                   r.url)
        if "upgrade_url" not in body:
            f.info("A 429 body has no upgrade_url", "Say where to get higher limits", r.url)
    return f.ok(f"Rate-limit headers on {len(limited)} response(s); limits published")


async def robots_txt(ctx: ScanContext) -> list[Finding]:
    f = Findings("robots_txt")
    url = ctx.origin + "/robots.txt"
    found = await ctx.get(url)
    fix = "Publish robots.txt allowing agents /.well-known/ and /llms.txt"
    if not found.ok or _html(found.text, found.content_type):
        why = "an HTML page" if found.ok else found.describe()
        f.warn(f"No usable robots.txt ({why})", fix, 0.5, url)
        return f.items
    parser = RobotFileParser()
    parser.parse(found.text.splitlines()[:2000])
    blocked = sorted({f"{path} for {agent}" for agent in AGENT_USER_AGENTS for path in AGENT_PATHS
                      if not parser.can_fetch(agent, ctx.origin + path)})
    if blocked:
        f.error(f"robots.txt blocks agent discovery: {', '.join(blocked[:4])}"
                f"{' …' if len(blocked) > 4 else ''}", fix, 1.0, url)
    return f.ok("robots.txt lets agents read the discovery documents", url)


async def openapi(ctx: ScanContext) -> list[Finding]:
    f = Findings("openapi")
    found = await ctx.openapi()
    if found is None:
        f.error("No OpenAPI document found", "Publish /openapi.json (or link it with "
                "Link: rel=\"service-desc\" or /.well-known/api-catalog)", 1.0)
        return f.items
    if found.url.endswith((".yaml", ".yml")) or "yaml" in found.content_type:
        if not found.text.lstrip().startswith(("openapi:", "swagger:")):
            f.error(f"{found.url} is not an OpenAPI document", "Serve OpenAPI", 0.8, found.url)
        else:
            f.warn("Only YAML OpenAPI found", "Publish JSON too", 0.2, found.url)
        return f.items
    doc, problem = found.json_object()
    if doc is None:
        f.error(f"{found.url} is malformed: {problem}", "Serve valid JSON", 0.8, found.url)
        return f.items
    if not str(doc.get("openapi", "")).startswith("3.") and doc.get("swagger") != "2.0":
        f.error("The document declares no OpenAPI version", "Add \"openapi\": \"3.1.0\"", 0.5,
                found.url)
    if not isinstance(doc.get("paths"), dict) or not doc["paths"]:
        f.warn("The OpenAPI document has no paths", "Describe the operations", 0.4, found.url)
    components = doc.get("components") if isinstance(doc.get("components"), dict) else {}
    schemes = (components or {}).get("securitySchemes") or doc.get("securityDefinitions")
    if not isinstance(schemes, dict) or not schemes:
        f.warn("No security schemes declared", "Declare how operations authenticate", 0.3,
               found.url)
    elif not any(isinstance(s, dict) and "clientCredentials" in (s.get("flows") or {})
                 for s in schemes.values()):
        f.info("No oauth2 clientCredentials security scheme",
               "Declare an oauth2 scheme with a clientCredentials flow and its tokenUrl")
    return f.ok("OpenAPI document with operations and security schemes", found.url)
