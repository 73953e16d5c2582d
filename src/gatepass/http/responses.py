"""OAuthError -> JSON + status + headers; ``Cache-Control: no-store`` (RFC 6749 §5.1, §5.2)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from gatepass.errors import OAuthError

__all__ = ["error_response", "json_response"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, *, cache: str | None = None
) -> Response:
    """A JSON response; ``no-store`` unless ``cache`` gives a Cache-Control value."""
    hdrs = {"Cache-Control": cache} if cache else dict(NO_STORE)
    if headers:
        hdrs.update(headers)
    return Response(orjson.dumps(body), status, hdrs, media_type="application/json")


def error_response(exc: OAuthError) -> Response:
    """The JSON body, status and headers of a protocol error."""
    return json_response(exc.body(), exc.http_status, exc.headers)
