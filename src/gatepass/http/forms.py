"""Reading OAuth form posts (RFC 6749 §3.2, Appendix B): POST, urlencoded, capped, no repeats."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidRequest

__all__ = ["PayloadTooLarge", "read_oauth_request"]

FORM_TYPE = "application/x-www-form-urlencoded"
MULTI_VALUED = frozenset({"resource"})


class PayloadTooLarge(InvalidRequest):
    status = 413


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not (declared.isascii() and declared.isdigit())
                                 or int(declared) > limit):
        raise PayloadTooLarge(f"Request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_oauth_request(request: Request, limit: int) -> OAuthRequest:
    """Parse a token/introspection/revocation request or raise ``InvalidRequest``."""
    if request.method != "POST":
        raise InvalidRequest(
            "Use POST with application/x-www-form-urlencoded", status=405, headers={"Allow": "POST"}
        )
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != FORM_TYPE:
        raise InvalidRequest(f"Content-Type must be {FORM_TYPE}")
    body = await _read_capped(request, limit)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("Malformed form body") from exc
    form: dict[str, str] = {}
    resources: list[str] = []
    for name, value in pairs:
        if name in MULTI_VALUED:
            resources.append(value)
        elif name in form:
            raise InvalidRequest(f"Parameter {name!r} is repeated (RFC 6749 §3.2)")
        else:
            form[name] = value
    client = request.client
    return OAuthRequest(
        form=form,
        authorization=request.headers.get("authorization"),
        resources=tuple(resources),
        remote_addr=client.host if client else None,
    )
