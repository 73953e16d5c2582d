"""Typed exceptions of the agent client: each carries what the server said to do next.

The server's JSON bodies (RFC 6749 §5.2, RFC 6750 §3.1, the agent guide's ``tos_required``,
``billing_required`` and ``rate_limit_exceeded``) become these values; no exception ever holds
a secret, an access token or a client assertion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "AgentError",
    "CredentialsError",
    "DiscoveryError",
    "InsufficientScopeError",
    "PaymentRequiredError",
    "RateLimitedError",
    "RegistrationError",
    "ServerError",
    "TermsRequiredError",
    "TokenError",
]


class AgentError(Exception):
    """Base class: ``error`` is the server's code (or a local one), ``description`` explains."""

    def __init__(self, description: str, *, error: str = "agent_error", status: int | None = None,
                 body: Mapping[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.error = error
        self.status = status
        self.body: dict[str, Any] = dict(body or {})

    def __str__(self) -> str:
        return f"{self.error}: {self.description}"


class DiscoveryError(AgentError):
    """No usable RFC 8414 / RFC 9728 metadata (missing, malformed or inconsistent)."""


class CredentialsError(AgentError):
    """The credentials file is missing, unreadable, malformed or too widely readable."""


class RegistrationError(AgentError):
    """The registration endpoint refused the agent (other than terms, billing or rate limit)."""


class TokenError(AgentError):
    """The token endpoint refused (``invalid_client``, ``invalid_scope``, ...)."""


class ServerError(AgentError):
    """The server answered something that is not a protocol answer (5xx, HTML, ...)."""


class TermsRequiredError(RegistrationError):
    """400 ``tos_required``: read the terms at ``tos_url`` and register again accepting them."""

    def __init__(self, description: str, *, tos_url: str | None, tos_version: str | None,
                 **kw: Any) -> None:
        super().__init__(description, error="tos_required", **kw)
        self.tos_url = tos_url
        self.tos_version = tos_version


class PaymentRequiredError(RegistrationError):
    """402 ``billing_required``: ``billing_options`` lists how to obtain a billing token."""

    def __init__(self, description: str, *, billing_options: Sequence[Mapping[str, Any]],
                 **kw: Any) -> None:
        super().__init__(description, error="billing_required", **kw)
        self.billing_options: list[dict[str, Any]] = [dict(o) for o in billing_options]


class RateLimitedError(AgentError):
    """429 that the client would not (or no longer) wait for: ``retry_after`` seconds."""

    def __init__(self, description: str, *, retry_after: float | None,
                 upgrade_url: str | None = None, **kw: Any) -> None:
        super().__init__(description, error="rate_limit_exceeded", **kw)
        self.retry_after = retry_after
        self.upgrade_url = upgrade_url


class InsufficientScopeError(AgentError):
    """403 ``insufficient_scope``: ``missing`` = ``required`` minus ``granted``."""

    def __init__(self, description: str, *, required: Iterable[str], granted: Iterable[str],
                 **kw: Any) -> None:
        super().__init__(description, error="insufficient_scope", **kw)
        self.required = tuple(required)
        self.granted = tuple(granted)
        held = set(self.granted)
        self.missing = tuple(s for s in self.required if s not in held)

    def __str__(self) -> str:
        return f"insufficient_scope: missing {' '.join(self.missing) or '(unknown)'}"
