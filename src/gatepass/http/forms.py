"""Reading OAuth form posts (RFC 6749 §3.2, Appendix B): POST, urlencoded, capped, no repeats."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Receive, Scope

from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidRequest

__all__ = ["PayloadTooLarge", "read_oauth_request", "read_oauth_scope"]

FORM_TYPE = "application/x-www-form-urlencoded"
MULTI_VALUED = frozenset({"resource"})


class PayloadTooLarge(InvalidRequest):
    status = 413


_WANTED = (b"content-type", b"content-length", b"authorization")


def _headers(scope: Scope) -> dict[bytes, str]:
    """The first value of each header the form endpoints read, in one pass (ASGI names are
    lower-case)."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key in _WANTED and key not in found:
            found[key] = value.decode("latin-1")
    return found


async def _read_capped(receive: Receive, declared: str | None, limit: int) -> bytes:
    if declared is not None and (not (declared.isascii() and declared.isdigit())
                                 or int(declared) > limit):
        raise PayloadTooLarge(f"Request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidRequest("The client went away before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body larger than {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_oauth_request(request: Request, limit: int) -> OAuthRequest:
    """Parse a token/introspection/revocation request or raise ``InvalidRequest``."""
    return await read_oauth_scope(request.scope, request.receive, limit)


async def read_oauth_scope(scope: Scope, receive: Receive, limit: int) -> OAuthRequest:
    """The same, straight from ASGI (the token path's fast lane skips the Request object)."""
    if scope["method"] != "POST":
        raise InvalidRequest(
            "Use POST with application/x-www-form-urlencoded", status=405, headers={"Allow": "POST"}
        )
    headers = _headers(scope)
    ctype = headers.get(b"content-type", "").split(";", 1)[0].strip().lower()
    if ctype != FORM_TYPE:
        raise InvalidRequest(f"Content-Type must be {FORM_TYPE}")
    body = await _read_capped(receive, headers.get(b"content-length"), limit)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("Malformed form body") from exc
    form = dict(pairs)
    resources: list[str] = []
    if len(form) != len(pairs) or not MULTI_VALUED.isdisjoint(form):  # repeats, or resource
        form = {}
        for name, value in pairs:
            if name in MULTI_VALUED:
                resources.append(value)
            elif name in form:
                raise InvalidRequest(f"Parameter {name!r} is repeated (RFC 6749 §3.2)")
            else:
                form[name] = value
    client = scope.get("client")
    return OAuthRequest(
        form=form,
        authorization=headers.get(b"authorization"),
        resources=tuple(resources),
        remote_addr=client[0] if client else None,
    )
