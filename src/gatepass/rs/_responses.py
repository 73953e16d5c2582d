"""Refusals of protected requests (RFC 6750 §3, §3.1; RFC 9728 §5.1): JSON + ``WWW-Authenticate``.

The challenge carries ``realm``, the RFC 6750 error code, ``error_description``, ``scope`` (every
scope the operation needs) and ``resource_metadata``. Gatepass' finer codes (``missing_token``,
``token_expired``, ``token_revoked``) go in the JSON body; the header keeps the standard code
(``invalid_token``) so generic OAuth clients understand it, and a request without credentials
gets no error code in the header (RFC 6750 §3.1). Every refusal is ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from gatepass.errors import InsufficientScope, InvalidRequest, MissingToken, OAuthError
from gatepass.models import Principal
from gatepass.rs._bearer import missing_token
from gatepass.rs._types import Receive, Scope, Send
from gatepass.rs.config import ResourceServerConfig
from gatepass.scopes import expand_implied, format_scope

__all__ = ["Refusal", "check_scopes", "refusal", "send_refusal", "www_authenticate"]


def _quote(value: str) -> str:
    """An RFC 9110 §5.6.4 quoted-string; characters outside %x20-7E become ``?``."""
    printable = "".join(c if " " <= c <= "~" else "?" for c in value)
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _challenge_code(err: OAuthError) -> str | None:
    if isinstance(err, MissingToken):
        return None
    if isinstance(err, InsufficientScope | InvalidRequest):
        return err.error
    return "invalid_token"


def www_authenticate(
    err: OAuthError, config: ResourceServerConfig, scopes: Sequence[str] = ()
) -> str:
    """The ``Bearer`` challenge for a refusal (RFC 6750 §3, RFC 9728 §5.1)."""
    params = [("realm", config.challenge_realm)]
    code = _challenge_code(err)
    if code is not None:
        params += [("error", code), ("error_description", err.description)]
    if scopes:
        params.append(("scope", format_scope(scopes)))
    params.append(("resource_metadata", config.metadata_url))
    return "Bearer " + ", ".join(f"{name}={_quote(value)}" for name, value in params)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rendered refusal: status, headers and JSON body."""

    status: int
    headers: dict[str, str]
    body: bytes


def refusal(err: OAuthError, config: ResourceServerConfig, scopes: Sequence[str] = ()) -> Refusal:
    """Render an ``OAuthError`` met on a protected request."""
    headers = dict(err.headers)
    if err.http_status in (400, 401, 403):
        headers["WWW-Authenticate"] = www_authenticate(err, config, scopes)
    headers["Cache-Control"] = "no-store"
    headers["Content-Type"] = "application/json"
    body = json.dumps(err.body(), separators=(",", ":")).encode()
    return Refusal(err.http_status, headers, body)


async def send_refusal(scope: Scope, receive: Receive, send: Send, rendered: Refusal) -> None:
    """Send a refusal over ASGI: an HTTP response, or a WebSocket denial (close 1008 fallback)."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in rendered.headers.items()]
    raw.append((b"content-length", str(len(rendered.body)).encode()))
    prefix = "http.response"
    if scope["type"] == "websocket":
        await receive()  # the websocket.connect message
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})
            return
        prefix = "websocket.http.response"
    await send({"type": f"{prefix}.start", "status": rendered.status, "headers": raw})
    await send({"type": f"{prefix}.body", "body": rendered.body})


def check_scopes(
    principal: Principal | None, required: Sequence[str], config: ResourceServerConfig
) -> Principal:
    """Return the principal if it holds every required scope, implications honoured (RFC 6750 §3.1).

    ``InsufficientScope`` (403) lists all required scopes and the granted ones in its body.
    """
    if principal is None:
        raise missing_token(config.token_endpoint)
    held = principal.scopes
    if held.issuperset(required):  # the usual case: no implication needed
        return principal
    granted = expand_implied(held, config.scope_implications)
    if all(s in granted for s in required):
        return principal
    extra: dict[str, object] = {
        "required_scopes": list(required),
        "granted_scopes": sorted(principal.scopes),
    }
    if config.token_endpoint:
        extra["token_endpoint"] = config.token_endpoint
    raise InsufficientScope(f"Required scopes: {format_scope(required)}", extra=extra)
