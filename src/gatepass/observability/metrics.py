"""Prometheus metrics derived from audit events: tokens issued and refused (by reason),
registrations, and admin actions. One registry per app, served at ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gatepass.models import AuditEvent

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "fan_out"]


class Metrics:
    """Counters fed by the audit stream."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("gatepass_audit_events", "Audit events by name and outcome",
                              ["event", "outcome"], registry=self.registry)
        self.tokens = Counter("gatepass_tokens_issued", "Access tokens issued", ["grant_type"],
                              registry=self.registry)
        self.refusals = Counter("gatepass_token_refusals", "Token requests refused by error",
                                ["error"], registry=self.registry)
        self._children: dict[tuple[str, str], Any] = {}
        self._issued: dict[str, Any] = {}

    def observe(self, ev: AuditEvent) -> None:
        key = (ev.event, ev.outcome)
        child = self._children.get(key)
        if child is None:  # label lookups cost more than the increment: cache the children
            child = self._children[key] = self.events.labels(*key)
        child.inc()
        if ev.event == "token.issued":
            grant = str(ev.details.get("grant_type", ""))
            issued = self._issued.get(grant)
            if issued is None:
                issued = self._issued[grant] = self.tokens.labels(grant)
            issued.inc()
        elif ev.event in ("token.refused", "token.revoke_refused"):
            self.refusals.labels((ev.reason or "unknown").split(":", 1)[0]).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def fan_out(*observers: Callable[[AuditEvent], None]) -> Callable[[AuditEvent], None]:
    """One audit callback calling several."""

    def on_event(ev: AuditEvent) -> None:
        for observe in observers:
            observe(ev)

    return on_event
