"""Scope ceilings: what a client may hold now, by tier (billing) and trust level (DESIGN §5).

Operator-created clients get the highest trust level and no tier, so only self-registered agents
are held back. The check runs at the token endpoint, so a promotion takes effect at once.
Internal scopes (``ScopeDef.internal``) depend on no level: only operator clients
(``Client.operator``) hold them, so no promotion ever reaches them.
"""

from __future__ import annotations

from typing import Any

from gatepass.core.config import ServerConfig
from gatepass.errors import InvalidRequest, InvalidScope
from gatepass.models import Client, ScopeDef
from gatepass.scopes import parse_scope

__all__ = ["ceiling_violation", "requested_scopes", "split_requested"]


def ceiling_violation(config: ServerConfig, client: Client, scope: ScopeDef) -> str | None:
    """Why ``client`` may not hold ``scope`` yet, or None."""
    policy = config.agents
    if scope.internal and not client.operator:
        return "is reserved for operator clients"
    if (scope.min_tier and client.tier is not None
            and policy.tier_rank(client.tier) < policy.tier_rank(scope.min_tier)):
        return f"requires the {scope.min_tier} tier (this client: {client.tier})"
    if client.trust_level < scope.min_trust:
        name = policy.trust_levels[min(scope.min_trust, policy.max_trust)]
        return (f"requires trust level {scope.min_trust} ({name}); "
                f"this client has {client.trust_level}")
    return None


def split_requested(
    config: ServerConfig, client: Client, scopes: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]:
    """(granted now, waiting for owner approval, restricted by ceiling with the reason)."""
    granted: list[str] = []
    pending: list[str] = []
    restricted: dict[str, str] = {}
    for name in scopes:
        spec = config.scope(name)
        if spec is None:
            continue
        why = ceiling_violation(config, client, spec)
        if spec.requires_approval:
            pending.append(name)
        elif why is not None:
            restricted[name] = why
        else:
            granted.append(name)
    return tuple(granted), tuple(pending), restricted


def requested_scopes(config_scope: Any, value: Any) -> tuple[str, ...]:
    """Scopes from a list or a space-separated string, all in the catalog and requestable."""
    listed = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if listed or isinstance(value, str):
        scopes = parse_scope(value)
    else:
        raise InvalidRequest("requested_scopes must be a list or a space-separated string")
    unknown = [s for s in scopes if config_scope(s) is None or config_scope(s).internal]
    if unknown:
        raise InvalidScope(f"Unknown scope: {' '.join(unknown)}", extra={"unknown_scopes": unknown})
    return scopes
