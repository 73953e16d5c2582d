"""Access-token claim validation (RFC 9068 §2.2, §4; RFC 7519 §4.1) -> ``Principal``.

Runs only after the signature has been verified. ``iss`` must equal the configured issuer exactly,
``aud`` (string or list) must contain this resource, ``exp``/``iat`` are required and ``nbf`` is
honoured, all with the configured leeway. Expiry is the one failure with its own error
(``token_expired``), because the agent's remedy is simply to fetch a new token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from gatepass.errors import InvalidScope, InvalidToken, TokenExpired
from gatepass.models import Principal
from gatepass.rs.config import ResourceServerConfig
from gatepass.scopes import parse_scope

__all__ = ["principal_from_claims"]


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"The {name} claim is not a NumericDate")
    return float(value)


def _required_number(claims: Mapping[str, Any], name: str) -> float:
    value = _number(claims, name)
    if value is None:
        raise InvalidToken(f"The token has no {name} claim")
    return value


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken(f"The token has no usable {name} claim")
    return value


def _optional_string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


def _audience(claims: Mapping[str, Any], resource: str) -> tuple[str, ...]:
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if resource not in values or not all(isinstance(a, str) for a in values):
        raise InvalidToken("The token is not meant for this resource (aud)")
    return tuple(values)


def _check_times(claims: Mapping[str, Any], config: ResourceServerConfig, now: float) -> float:
    exp = _required_number(claims, "exp")
    if now >= exp + config.leeway:
        extra = {"token_endpoint": config.token_endpoint} if config.token_endpoint else None
        raise TokenExpired("The access token has expired; request a new one", extra=extra)
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + config.leeway:
        raise InvalidToken("The token is not valid yet (nbf)")
    if _required_number(claims, "iat") > now + config.leeway:
        raise InvalidToken("The token was issued in the future (iat)")
    return exp


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidToken("The scope claim is not a string")
    try:
        return frozenset(parse_scope(scope))
    except InvalidScope:
        raise InvalidToken("The scope claim is malformed") from None


def principal_from_claims(
    claims: Mapping[str, Any], config: ResourceServerConfig, now: float
) -> Principal:
    """Validate verified claims and build the caller's ``Principal``."""
    if claims.get("iss") != config.issuer:
        raise InvalidToken("The token was not issued by the expected issuer (iss)")
    audience = _audience(claims, config.resource)
    exp = _check_times(claims, config, now)
    return Principal(
        client_id=_string(claims, "client_id"),
        subject=_string(claims, "sub"),
        scopes=_scopes(claims),
        issuer=config.issuer,
        audience=audience,
        expires_at=exp,
        token_id=_string(claims, "jti"),
        owner=_optional_string(claims, "owner"),
        agent_type=_optional_string(claims, "agent_type"),
        tier=_optional_string(claims, "tier"),
        claims=MappingProxyType(dict(claims)),
    )
