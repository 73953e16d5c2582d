"""In-memory data behind the demo API: projects, daily analytics, deployments and webhooks.

Every tenant (the owner who delegated the token, else the client's owner, else the client) gets
its own partition, seeded with three sample projects on first use, so tenants never see one
another's writes. Partitions and the items in them are capped (the least recently used tenant
is dropped first), so the demo's memory stays bounded whatever it is sent. Analytics are
synthetic but stable: the same tenant and day always give the same figures, plus the
deployments really queued today.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gatepass.clock import Clock
from gatepass.errors import NotFound, OAuthError

__all__ = ["WEBHOOK_EVENTS", "Conflict", "DemoData", "Tenant"]

Record = dict[str, Any]
DAY = 86_400.0
WEBHOOK_EVENTS = (
    "project.created", "project.updated", "project.archived",
    "deployment.queued", "deployment.succeeded", "deployment.failed",
)  # fmt: skip
_SAMPLES = (
    ("apollo", "Customer-facing web app", "active", 120),
    ("data-pipeline", "Nightly ETL into the warehouse", "active", 45),
    ("legacy-billing", "Retired invoicing service", "archived", 400),
)


class Conflict(OAuthError):
    """The request clashes with the current state (duplicate name, archived project, full)."""

    error = "conflict"
    status = 409


def iso(timestamp: float) -> str:
    """RFC 3339 UTC timestamp with second precision."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stable(*parts: str) -> bytes:
    return hashlib.sha256(":".join(parts).encode()).digest()


@dataclass(slots=True)
class Tenant:
    """One tenant's projects, recent deployments and webhooks."""

    projects: dict[str, Record] = field(default_factory=dict)
    deployments: deque[Record] = field(default_factory=lambda: deque(maxlen=200))
    webhooks: dict[str, Record] = field(default_factory=dict)


class DemoData:
    """The demo's store: a bounded LRU of tenants, each capped at ``max_items`` per collection."""

    def __init__(self, clock: Clock, *, max_tenants: int = 1000, max_items: int = 100) -> None:
        self._clock = clock
        self._max_tenants, self._max_items = max_tenants, max_items
        self._tenants: OrderedDict[str, Tenant] = OrderedDict()

    def tenant(self, name: str) -> Tenant:
        """The tenant's partition, created (with sample projects) on first use."""
        found = self._tenants.get(name)
        if found is not None:
            self._tenants.move_to_end(name)
            return found
        found = self._tenants[name] = self._seed(name)
        while len(self._tenants) > self._max_tenants:
            self._tenants.popitem(last=False)
        return found

    def _seed(self, name: str) -> Tenant:
        tenant, now = Tenant(), self._clock.now()
        for project, description, status, age_days in _SAMPLES:
            pid = "proj_" + _stable(name, project).hex()[:12]
            tenant.projects[pid] = {
                "id": pid, "name": project, "description": description, "status": status,
                "created_at": iso(now - age_days * DAY),
            }  # fmt: skip
        return tenant

    def projects(self, tenant: str, status: str | None, limit: int) -> tuple[list[Record], bool]:
        """Projects (oldest first), optionally of one status; and whether more remain."""
        found = [p for p in self.tenant(tenant).projects.values() if status in (None, p["status"])]
        return found[:limit], len(found) > limit

    def create_project(self, tenant: str, name: str, description: str) -> Record:
        """A new active project; names are unique per tenant."""
        projects = self.tenant(tenant).projects
        if any(p["name"] == name for p in projects.values()):
            raise Conflict(f"A project named {name!r} already exists")
        self._room(projects, "projects")
        pid = "proj_" + secrets.token_hex(6)
        record = {"id": pid, "name": name, "description": description, "status": "active",
                  "created_at": iso(self._clock.now())}  # fmt: skip
        projects[pid] = record
        return record

    def queue_deployment(
        self, tenant: str, project_id: str, environment: str, ref: str, requested_by: str
    ) -> Record:
        """A deployment of an active project, queued."""
        state = self.tenant(tenant)
        project = state.projects.get(project_id)
        if project is None:
            raise NotFound(f"No project {project_id!r}; list them with GET /api/projects")
        if project["status"] != "active":
            raise Conflict(f"Project {project_id!r} is {project['status']}; it cannot deploy")
        record = {
            "id": "dep_" + secrets.token_hex(8), "project_id": project_id,
            "environment": environment, "ref": ref, "status": "queued",
            "created_at": iso(self._clock.now()), "requested_by": requested_by,
        }  # fmt: skip
        state.deployments.append(record)
        return record

    def create_webhook(self, tenant: str, url: str, events: list[str], description: str) -> Record:
        """A new active webhook; its signing secret is returned now and never again."""
        hooks = self.tenant(tenant).webhooks
        self._room(hooks, "webhooks")
        wid = "wh_" + secrets.token_hex(8)
        hooks[wid] = {"id": wid, "url": url, "events": events, "description": description,
                      "active": True, "created_at": iso(self._clock.now())}  # fmt: skip
        return {**hooks[wid], "secret": "whsec_" + secrets.token_urlsafe(24)}

    def analytics(self, tenant: str, days: int) -> Record:
        """Daily metrics for the last ``days`` days up to today (UTC), with totals."""
        today = datetime.fromtimestamp(self._clock.now(), UTC).date()
        queued_today = sum(
            1 for d in self.tenant(tenant).deployments if d["created_at"][:10] == today.isoformat()
        )
        daily = [_day(tenant, today - timedelta(days=n)) for n in range(days - 1, -1, -1)]
        daily[-1]["deployments"] += queued_today
        calls = sum(d["api_calls"] for d in daily)
        errors = sum(d["api_calls"] * d["error_rate"] for d in daily)
        return {
            "from": daily[0]["date"], "to": daily[-1]["date"], "daily": daily,
            "totals": {"api_calls": calls, "deployments": sum(d["deployments"] for d in daily),
                       "error_rate": round(errors / calls, 4) if calls else 0.0},
        }  # fmt: skip

    def _room(self, items: dict[str, Record], what: str) -> None:
        if len(items) >= self._max_items:
            raise Conflict(f"This demo keeps at most {self._max_items} {what} per tenant")


def _day(tenant: str, day: date) -> Record:
    seed = _stable(tenant, day.isoformat())
    weekday = day.weekday() < 5
    calls = (2000 if weekday else 600) + int.from_bytes(seed[:2]) % 3000
    return {
        "date": day.isoformat(),
        "api_calls": calls,
        "unique_agents": 1 + seed[2] % 12,
        "tokens_issued": max(1, calls // 40),
        "deployments": seed[3] % (6 if weekday else 2),
        "error_rate": round(0.001 + (seed[4] % 240) / 10_000, 4),
        "p95_latency_ms": 80 + seed[5] % 320,
    }
