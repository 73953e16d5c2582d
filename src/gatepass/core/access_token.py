"""RFC 9068 access tokens: scope selection (RFC 6749 §3.3), ``resource`` -> ``aud`` (RFC 8707)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gatepass.clock import Clock
from gatepass.core.config import ServerConfig
from gatepass.core.policy import ceiling_violation
from gatepass.errors import InvalidScope, InvalidTarget
from gatepass.keys import Keyring
from gatepass.models import Client
from gatepass.scopes import format_scope, parse_scope

__all__ = ["AccessTokenIssuer", "IssuedToken", "resolve_audience", "resolve_scopes"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed access token and what it grants."""

    access_token: str
    expires_in: int
    scopes: tuple[str, ...]
    claims: dict[str, Any]

    def response(self) -> dict[str, Any]:
        """The RFC 6749 §5.1 success body."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": format_scope(self.scopes),
        }


def resolve_scopes(
    client: Client, requested: str | None, config: ServerConfig, *, consented: bool = False
) -> tuple[str, ...]:
    """Requested scopes, all of which must be known and allowed; none requested -> defaults.

    Every scope must be among the client's allowed ones and within its tier and trust ceilings.
    With ``consented`` (what an owner delegates: the authorization-code flow and its refresh
    tokens) internal scopes are refused even to operator clients, which hold them only in their
    own name.
    """
    wanted = parse_scope(requested)
    if not wanted:
        defaults = client.default_scopes or client.allowed_scopes
        return tuple(s for s in defaults if s in client.allowed_scopes
                     and _violation(client, s, config, consented) is None)
    unknown = [s for s in wanted if config.scope(s) is None]
    if unknown:
        raise InvalidScope(f"Unknown scope: {' '.join(unknown)}", extra={"unknown_scopes": unknown})
    internal = [s for s in wanted if consented and _internal(s, config)]
    if internal:
        raise InvalidScope(
            f"Scope {' '.join(internal)} is reserved for operator clients acting in their own "
            "name; an owner cannot delegate it", extra={"denied_scopes": internal})
    denied = [s for s in wanted if s not in client.allowed_scopes]
    if denied:
        raise InvalidScope(
            f"Scope not allowed for this client: {' '.join(denied)}",
            extra={"denied_scopes": denied, "allowed_scopes": list(client.allowed_scopes)},
        )
    for name in wanted:
        why = _violation(client, name, config, consented)
        if why is not None:
            raise InvalidScope(f"Scope {name} {why}", extra={"denied_scopes": [name]})
    return wanted


def _internal(name: str, config: ServerConfig) -> bool:
    spec = config.scope(name)
    return spec is not None and spec.internal


def _violation(client: Client, name: str, config: ServerConfig, consented: bool) -> str | None:
    spec = config.scope(name)
    if spec is None:
        return "is unknown"
    if consented and spec.internal:
        return "is reserved for operator clients acting in their own name"
    return ceiling_violation(config, client, spec)


def resolve_audience(client: Client, resources: Sequence[str], config: ServerConfig) -> list[str]:
    """Token audiences from RFC 8707 ``resource`` values, else the configured default."""
    if not resources:
        return [config.audience]
    permitted = set(client.allowed_resources) or {config.audience, *config.resources}
    for res in resources:
        try:
            parts = urlsplit(res)
        except ValueError:
            raise InvalidTarget(f"resource must be an absolute URI: {res!r}") from None
        if not parts.scheme or not parts.netloc or parts.fragment:
            raise InvalidTarget(f"resource must be an absolute URI without a fragment: {res!r}")
        if res not in permitted:
            raise InvalidTarget(f"Resource not allowed for this client: {res}")
    return list(dict.fromkeys(resources))


class AccessTokenIssuer:
    """Builds RFC 9068 claims and signs them with the current key."""

    def __init__(self, config: ServerConfig, clock: Clock, keyring: Keyring) -> None:
        self._config = config
        self._clock = clock
        self.keyring = keyring

    def issue(
        self,
        client: Client,
        scopes: tuple[str, ...],
        audience: list[str],
        *,
        subject: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> IssuedToken:
        now = int(self._clock.now())
        ttl = self._config.access_token_ttl
        claims: dict[str, Any] = {
            "iss": self._config.issuer,
            "sub": subject or client.client_id,
            "aud": audience[0] if len(audience) == 1 else audience,
            "exp": now + ttl,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": client.client_id,
            "scope": format_scope(scopes),
        }
        for name in ("agent_type", "owner", "tier"):
            value = getattr(client, name)
            if value is not None:
                claims[name] = value
        if extra:
            claims.update(extra)
        return IssuedToken(self.keyring.sign(claims), ttl, scopes, claims)
