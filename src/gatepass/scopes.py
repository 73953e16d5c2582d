"""Scope grammar (RFC 6749 §3.3), the `action:resource` / `agent:` conventions, and implications."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from gatepass.errors import InvalidScope
from gatepass.models import ScopeDef

__all__ = [
    "DEFAULT_SCOPES",
    "expand_implied",
    "format_scope",
    "is_agent_scope",
    "parse_scope",
    "split_scope",
]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
MAX_SCOPE_TOKENS = 64

DEFAULT_SCOPES: tuple[ScopeDef, ...] = (
    ScopeDef("read:projects", "List and read project data"),
    ScopeDef("write:projects", "Create and modify projects"),
    ScopeDef("read:analytics", "Access analytics and reporting data"),
    ScopeDef("write:webhooks", "Create and update webhooks"),
    ScopeDef("read:billing", "Read billing and invoice data", min_trust=1),
    ScopeDef("execute:deployments", "Trigger deployments", min_trust=1),
    ScopeDef("agent:batch-operations", "Make bulk API calls", min_tier="agent_standard"),
    ScopeDef("agent:webhook-management", "Create and update webhooks as an agent workflow"),
    ScopeDef(
        "agent:autonomous-deploy",
        "Trigger deployments without per-deployment approval",
        requires_approval=True,
    ),
    ScopeDef("gatepass:admin", "Operate Gatepass through the admin API", internal=True),
    ScopeDef("gatepass:introspect", "Introspect any token (resource servers)", internal=True),
)


def parse_scope(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Split a space-delimited scope string (or a list) into unique tokens, order kept.

    Raises ``InvalidScope`` for a token outside the RFC 6749 §3.3 grammar or too many tokens.
    """
    if value is None:
        return ()
    tokens = value.split(" ") if isinstance(value, str) else list(value)
    seen: dict[str, None] = {}
    for tok in tokens:
        if tok == "":
            continue
        if not isinstance(tok, str) or not _SCOPE_TOKEN.match(tok):
            raise InvalidScope(f"Malformed scope token: {tok!r}")
        seen[tok] = None
    if len(seen) > MAX_SCOPE_TOKENS:
        raise InvalidScope(f"Too many scopes requested (at most {MAX_SCOPE_TOKENS})")
    return tuple(seen)


def format_scope(scopes: Iterable[str]) -> str:
    """Join scopes into the space-delimited wire form."""
    return " ".join(scopes)


def split_scope(scope: str) -> tuple[str, str | None]:
    """``"read:projects"`` -> ``("read", "projects")``; no colon -> ``(scope, None)``."""
    action, sep, resource = scope.partition(":")
    return (action, resource) if sep else (scope, None)


def is_agent_scope(scope: str) -> bool:
    """True for the ``agent:`` scopes reserved for autonomous workflows."""
    return scope.startswith("agent:")


def expand_implied(
    scopes: Iterable[str], implications: Mapping[str, Iterable[str]]
) -> frozenset[str]:
    """The closure of ``scopes`` under ``implications`` (``write:x`` may imply ``read:x``)."""
    result = set(scopes)
    todo = list(result)
    while todo:
        for implied in implications.get(todo.pop(), ()):
            if implied not in result:
                result.add(implied)
                todo.append(implied)
    return frozenset(result)
