"""Per-tool scopes at the HTTP layer (MCP authorization, "Scope Challenge Handling"; RFC 6750 §3.1).

An MCP ``tools/call`` arrives as one JSON-RPC request in the body of ``POST /mcp``, so a scope
guard on the route alone cannot tell ``list_projects`` from ``trigger_deployment``.
``ToolScopeGuard`` reads the (size-capped) body, looks up every scope the named tool needs and,
when the token lacks one, answers HTTP 403 with
``WWW-Authenticate: Bearer error="insufficient_scope", scope="<every scope the tool needs>",
resource_metadata="..."``: the signal on which MCP clients step up (request a token with the
union of their scopes and these, then retry). The body is a JSON-RPC error for the same request
id whose ``data`` is the Gatepass refusal (``required_scopes``, ``granted_scopes``), so a client
that does not step up still reports which scopes are missing. Anything else passes through with
the body replayed untouched.

``SdkPrincipal`` hands the verified ``Principal`` to the MCP SDK in the shape its transports
expect (``AuthenticatedUser``), so a Streamable HTTP session stays bound to the principal that
opened it (client, issuer, subject) and ``mcp.server.auth.middleware.auth_context.
get_access_token()`` works inside tools.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatepass.errors import OAuthError
from gatepass.models import Principal
from gatepass.rs import PRINCIPAL_KEY, ResourceServerConfig, check_scopes, refusal

__all__ = [
    "INSUFFICIENT_SCOPE_CODE",
    "SdkPrincipal",
    "ToolCalls",
    "ToolScopeGuard",
    "access_token",
    "tool_calls",
]

#: JSON-RPC error code of the 403 body (application-defined: outside -32768..-32000).
INSUFFICIENT_SCOPE_CODE = 403


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The known tools a request calls, every scope they need, and the JSON-RPC request id."""

    tools: tuple[str, ...]
    scopes: tuple[str, ...]
    request_id: object = None


def tool_calls(message: object, tool_scopes: Mapping[str, Sequence[str]]) -> ToolCalls:
    """The ``tools/call`` request(s) in a parsed JSON-RPC ``message``.

    A batch (a JSON array) needs the union of its calls' scopes and has no single id. Anything
    that is not a ``tools/call`` of a known tool needs nothing here (the SDK answers it).
    """
    messages = message if isinstance(message, list) else [message]
    tools: dict[str, None] = {}
    for item in messages:
        if not isinstance(item, dict) or item.get("method") != "tools/call":
            continue
        params = item.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if isinstance(name, str) and name in tool_scopes:
            tools[name] = None
    scopes = _union(tool_scopes[name] for name in tools)
    request_id = message.get("id") if isinstance(message, dict) else None
    return ToolCalls(tuple(tools), scopes, request_id)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body first, then defers to the real one."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _jsonrpc_body(err: OAuthError, calls: ToolCalls) -> bytes:
    if calls.request_id is None:
        return json.dumps(err.body(), separators=(",", ":")).encode()
    message = f"{err.error}: {', '.join(calls.tools)}: {err.description}"
    error = {"code": INSUFFICIENT_SCOPE_CODE, "message": message, "data": err.body()}
    reply = {"jsonrpc": "2.0", "id": calls.request_id, "error": error}
    return json.dumps(reply, separators=(",", ":")).encode()


class ToolScopeGuard:
    """Refuses a ``tools/call`` whose tool needs scopes the caller's token does not hold.

    Every ``POST`` body is read (up to ``max_body_bytes``; larger ones get 413, fail closed),
    whatever its path, so no spelling of the endpoint's path slips past. ``gatepass_scopes``
    (every scope any tool needs) is what ``ProtectedResourceMetadata`` reads when this guard is
    its ``scopes_from``.
    """

    def __init__(
        self,
        app: ASGIApp,
        tool_scopes: Mapping[str, Sequence[str]],
        config: ResourceServerConfig,
        *,
        max_body_bytes: int = 1_000_000,
    ) -> None:
        self.app, self.config = app, config
        self.tool_scopes = {name: tuple(scopes) for name, scopes in tool_scopes.items()}
        self.gatepass_scopes = _union(self.tool_scopes.values())
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:  # fail closed: an unread call could not be checked
            too_large = {"error": "invalid_request", "error_description": "Request body too large"}
            await Response(json.dumps(too_large), 413, media_type="application/json")(
                scope, receive, send)
            return
        try:
            message = json.loads(body)
        except ValueError:
            message = None  # the SDK answers the parse error
        calls = tool_calls(message, self.tool_scopes)
        try:
            check_scopes(scope.get(PRINCIPAL_KEY), calls.scopes, self.config)
        except OAuthError as err:
            rendered = refusal(err, self.config, calls.scopes)
            headers = {k: v for k, v in rendered.headers.items() if k.lower() != "content-type"}
            response = Response(_jsonrpc_body(err, calls), rendered.status, headers=headers,
                                media_type="application/json")
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _union(groups: Iterable[Sequence[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(scope for group in groups for scope in group))


def access_token(principal: Principal, resource: str) -> AccessToken:
    """The SDK's view of a verified token. The raw token is deliberately not kept: an MCP
    server must never pass it on (MCP authorization, "Token Passthrough"); ``token`` holds
    the ``jti`` instead."""
    claims: dict[str, Any] = dict(principal.claims)
    return AccessToken(token=principal.token_id or "", client_id=principal.client_id,
                       scopes=sorted(principal.scopes), expires_at=int(principal.expires_at),
                       resource=resource, subject=principal.subject, claims=claims)  # fmt: skip


class SdkPrincipal:
    """Puts the verified ``Principal`` where the MCP SDK looks for the authenticated user."""

    def __init__(self, app: ASGIApp, resource: str) -> None:
        self.app, self.resource = AuthContextMiddleware(app), resource

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get(PRINCIPAL_KEY) if scope["type"] == "http" else None
        if isinstance(principal, Principal):
            scope["user"] = AuthenticatedUser(access_token(principal, self.resource))
        await self.app(scope, receive, send)
