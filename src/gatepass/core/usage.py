"""Usage read back from the audit trail: per-agent counts and tokens per hour (DESIGN §5, §6).

Tokens issued and refused are the ``token.issued`` / ``token.refused`` events the token endpoint
records. A rate-limit refusal is a ``token.refused`` whose reason is ``rate_limit_exceeded``, or
a ``ratelimit.refused`` event for the client (``RATE_LIMIT_EVENT``), whichever is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gatepass.models import AuditEvent
from gatepass.storage.base import AuditLog, StorageError

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = ["RATE_LIMIT_EVENT", "AgentUsage", "HourUsage", "Usage", "flush_audit", "usage"]

HOUR = 3600
RATE_LIMIT_EVENT = "ratelimit.refused"
RATE_LIMIT_REASON = "rate_limit_exceeded"
LAST_TOKEN_LOOKBACK = 200
log = logging.getLogger("gatepass.usage")


@dataclass(frozen=True, slots=True)
class AgentUsage:
    """One agent over the window: its last token ever seen, tokens issued, refused, throttled."""

    last_issued: float | None = None
    issued: int = 0
    refused: int = 0
    rate_limited: int = 0


@dataclass(frozen=True, slots=True)
class HourUsage:
    """Tokens issued and refused in the clock hour starting at ``start`` (epoch seconds)."""

    start: float
    issued: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    agents: Mapping[str, AgentUsage]
    hours: tuple[HourUsage, ...]

    @property
    def issued(self) -> int:
        return sum(h.issued for h in self.hours)

    @property
    def refused(self) -> int:
        return sum(h.refused for h in self.hours)


async def flush_audit(server: AuthorizationServer) -> None:
    """Write buffered audit events so a page shows what just happened (best effort)."""
    try:
        await server.audit.flush()
    except StorageError:
        log.warning("audit flush failed; the page may miss the newest events")


async def _last_issued(audit: AuditLog, client_id: str) -> float | None:
    for ev in await audit.recent(LAST_TOKEN_LOOKBACK, client_id):
        if ev.event == "token.issued":
            return ev.at
    return None


def _buckets(events: Iterable[AuditEvent], first: float, hours: int) -> list[int]:
    counts = [0] * hours
    for ev in events:
        index = int((ev.at - first) // HOUR)
        if 0 <= index < hours:
            counts[index] += 1
    return counts


async def usage(server: AuthorizationServer, client_ids: Iterable[str],
                hours: int = 24) -> Usage:
    """Per-agent usage over the last ``hours`` clock hours (the current one included) and the
    tokens issued and refused per hour across ``client_ids``."""
    await flush_audit(server)
    audit = server.stores.audit
    first = (server.clock.now() // HOUR - (hours - 1)) * HOUR
    per_agent: dict[str, AgentUsage] = {}
    issued_all: list[AuditEvent] = []
    refused_all: list[AuditEvent] = []
    for cid in client_ids:
        issued = await audit.find(cid, "token.issued", first)
        refused = await audit.find(cid, "token.refused", first)
        throttled = await audit.count(cid, RATE_LIMIT_EVENT, first) + sum(
            1 for e in refused if (e.reason or "").startswith(RATE_LIMIT_REASON))
        last = issued[-1].at if issued else await _last_issued(audit, cid)
        per_agent[cid] = AgentUsage(last, len(issued), len(refused), throttled)
        issued_all.extend(issued)
        refused_all.extend(refused)
    issued_n = _buckets(issued_all, first, hours)
    refused_n = _buckets(refused_all, first, hours)
    return Usage(per_agent, tuple(HourUsage(first + i * HOUR, issued_n[i], refused_n[i])
                                  for i in range(hours)))
