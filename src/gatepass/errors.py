"""OAuth error family (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2).

Only these exceptions reach HTTP. Each carries a stable ``error`` code, a description written for
developers, an HTTP status, optional extra headers and optional extra body members (for example
``required_scopes`` or ``retry_after``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "BillingRequired",
    "InsufficientScope",
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidGrant",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidScope",
    "InvalidSoftwareStatement",
    "InvalidTarget",
    "InvalidToken",
    "MissingToken",
    "NotFound",
    "OAuthError",
    "RateLimitExceeded",
    "ServerError",
    "TemporarilyUnavailable",
    "TokenExpired",
    "TokenRevoked",
    "TosRequired",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedTokenType",
]


class OAuthError(Exception):
    """A protocol error with an ``error`` code, a description and an HTTP status."""

    error: ClassVar[str] = "server_error"
    status: ClassVar[int] = 400

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.http_status = status if status is not None else self.status
        self.headers: dict[str, str] = dict(headers or {})
        self.extra: dict[str, Any] = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON body: ``error``, ``error_description`` and any extra members."""
        return {"error": self.error, "error_description": self.description, **self.extra}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2): 401 with a ``WWW-Authenticate`` challenge."""

    error = "invalid_client"
    status = 401

    def __init__(self, description: str = "Client authentication failed", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Basic realm="gatepass"'})
        super().__init__(description, **kw)


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested resource is unknown or not allowed for the client."""

    error = "invalid_target"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1."""

    error = "unsupported_token_type"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403


class NotFound(OAuthError):
    error = "not_found"
    status = 404


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_client_metadata"


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2: a redirect URI is invalid for this client."""

    error = "invalid_redirect_uri"


class InvalidSoftwareStatement(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_software_statement"


class TosRequired(OAuthError):
    error = "tos_required"


class BillingRequired(OAuthError):
    error = "billing_required"
    status = 402


class RateLimitExceeded(OAuthError):
    error = "rate_limit_exceeded"
    status = 429


class ServerError(OAuthError):
    error = "server_error"
    status = 500


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503


# Resource-server errors (RFC 6750 §3.1 plus the guide's agent-actionable codes).


class InvalidToken(OAuthError):
    error = "invalid_token"
    status = 401


class MissingToken(OAuthError):
    error = "missing_token"
    status = 401


class TokenExpired(OAuthError):
    error = "token_expired"
    status = 401


class TokenRevoked(OAuthError):
    error = "token_revoked"
    status = 401


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status = 403
