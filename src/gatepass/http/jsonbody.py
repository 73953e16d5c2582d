"""JSON request bodies (RFC 7591 §3.1, the agent API): capped before parsing, errors as JSON.

``read_json`` serves handlers that validate the body themselves (the core does) and refuses
members repeated within an object; ``BodyLimit``
is a pure ASGI guard for a whole sub-app, so framework-parsed bodies are capped too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.requests import Request

from gatepass.errors import InvalidRequest, OAuthError
from gatepass.http.forms import PayloadTooLarge

__all__ = ["BodyLimit", "read_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body larger than {limit} bytes")


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def refuse_duplicate_keys(body: bytes, error: type[OAuthError]) -> None:
    """RFC 8259 §4: names SHOULD be unique; a body that repeats one (at any depth) is refused
    with ``error`` rather than letting the last value silently win."""
    try:
        json.loads(body, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        raise error(f"The body repeats the member {str(exc)[:100]!r}") from None
    except RecursionError:
        raise InvalidRequest("The body is nested too deeply") from None


async def read_json(request: Request, limit: int,
                    duplicates: type[OAuthError] = InvalidRequest) -> Any:
    """The parsed JSON body, or ``InvalidRequest`` (400), 413 when too large, 415 when not JSON;
    a member repeated within an object is refused with ``duplicates`` (400)."""
    ctype = request.headers.get("content-type", "application/json").split(";", 1)[0].strip()
    if ctype.lower() != "application/json" and not ctype.lower().endswith("+json"):
        raise InvalidRequest("Content-Type must be application/json", status=415)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc.msg}") from exc
    refuse_duplicate_keys(bytes(body), duplicates)
    return parsed


class BodyLimit:
    """Reads at most ``limit`` bytes of an HTTP body before the app runs; else a 413 JSON error."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await _send_error(send, _too_large(self.limit))
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await _send_error(send, _too_large(self.limit))
                return
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, error: InvalidRequest) -> None:
    body = orjson.dumps(error.body())
    await send({"type": "http.response.start", "status": error.http_status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
