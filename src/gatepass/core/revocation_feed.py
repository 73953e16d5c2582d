"""The revocation feed for resource servers (Gatepass extension to RFC 7009): who may read it, and
how it pages.

``GET /oauth/revocations?cursor=...&limit=...`` answers
``{"revoked": [{"jti": str, "exp": number}, ...], "clients": [{"client_id": str,
"revoked_before": number, "exp": number}, ...], "next_cursor": str, "has_more": bool}``.
``clients`` lists every unexpired per-client cutoff on every page (tokens of that client whose
``iat`` is earlier are revoked: the kill switch), so a consumer at any cursor sees them all.
The caller authenticates as a confidential client (as at the RFC 7662 introspection endpoint)
whose allowed scopes hold ``gatepass:introspect``: the feed is for resource servers only.
Entries come in revocation order, at most ``limit`` (default 500, capped at 1000) per page;
``next_cursor`` is opaque and resumes strictly after the last entry. Once caught up
(``has_more`` false) the cursor is held ``SETTLE_SECONDS`` back from now, so a revocation a
concurrent writer commits late is still read; entries may therefore repeat, and consumers merge.
Entries whose token has expired are left out.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import TYPE_CHECKING, Any

from gatepass.core.introspection import INTROSPECT_SCOPE
from gatepass.errors import InvalidRequest, UnauthorizedClient
from gatepass.storage.base import RevocationStore

if TYPE_CHECKING:
    from gatepass.core.requests import OAuthRequest
    from gatepass.core.server import AuthorizationServer

__all__ = [
    "DEFAULT_PAGE",
    "FEED_SCOPE",
    "MAX_PAGE",
    "REVOCATION_FEED_PATH",
    "SETTLE_SECONDS",
    "decode_cursor",
    "encode_cursor",
    "read_feed",
    "read_page",
]

REVOCATION_FEED_PATH = "/oauth/revocations"
FEED_SCOPE = INTROSPECT_SCOPE
DEFAULT_PAGE = 500
MAX_PAGE = 1000
SETTLE_SECONDS = 5.0
_MAX_CURSOR = 512


def encode_cursor(position: tuple[float, str]) -> str:
    """An opaque cursor for the position (revoked_at, jti)."""
    raw = json.dumps([position[0], position[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The position in a cursor this server issued; ``InvalidRequest`` for anything else."""
    try:
        if len(cursor) > _MAX_CURSOR:
            raise ValueError("too long")
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at, jti = value
        if (isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at)
                or not isinstance(jti, str)):
            raise ValueError("not a position")
    except (ValueError, TypeError, binascii.Error):
        raise InvalidRequest("cursor is not a cursor this feed issued") from None
    return float(at), jti


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(text)


async def read_page(store: RevocationStore, cursor: str | None, limit: int,
                    now: float) -> dict[str, Any]:
    """One page of the feed after ``cursor`` (the start when None)."""
    after = decode_cursor(cursor) if cursor else None
    rows = await store.revoked_page(after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    position = (rows[-1][2], rows[-1][0]) if rows else after
    if not more:
        settled = (now - SETTLE_SECONDS, "")
        position = settled if position is None else min(position, settled)
    assert position is not None
    cutoffs = [{"client_id": c, "revoked_before": before, "exp": exp}
               for c, before, exp in await store.client_cutoffs(now)]
    return {"revoked": [{"jti": jti, "exp": exp} for jti, exp, _ in rows if exp > now],
            "clients": cutoffs, "next_cursor": encode_cursor(position), "has_more": more}


async def read_feed(server: AuthorizationServer, request: OAuthRequest,
                    query: dict[str, str]) -> dict[str, Any]:
    """Authenticate the resource server, then answer one page (``cursor``, ``limit``)."""
    entry = await server.authenticate_endpoint(request, "revocations")
    if FEED_SCOPE not in entry.client.allowed_scopes:
        raise UnauthorizedClient(f"The revocation feed is for resource servers: the client "
                                 f"needs the {FEED_SCOPE} scope", status=403)
    return await read_page(server.stores.revocations, query.get("cursor"),
                           _limit(query.get("limit")), server.clock.now())
