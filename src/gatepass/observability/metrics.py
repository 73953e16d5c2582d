"""Prometheus metrics derived from audit events: tokens issued and refused (by reason),
registrations, and admin actions; and the audit trail's own health (lag, events dropped or
dead-lettered). One registry per app, served at ``/metrics``."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gatepass.core.audit import Auditor, BatchObserver
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
        self.failed_open = Counter(
            "gatepass_rate_limit_fail_open",
            "Requests let through unlimited while the rate-limit storage is down",
            ["endpoint_class"], registry=self.registry)

    def fail_open(self, endpoint_class: str) -> None:
        """A ``RateLimitMiddleware`` ``on_fail_open`` hook."""
        self.failed_open.labels(endpoint_class).inc()

    def observe(self, events: Sequence[AuditEvent]) -> None:
        """Count a batch of events (an ``Auditor`` batch observer: counts lag by one flush)."""
        by_name: dict[tuple[str, str], int] = {}
        issued: dict[str, int] = {}
        refused: dict[str, int] = {}
        for ev in events:
            key = (ev.event, ev.outcome)
            by_name[key] = by_name.get(key, 0) + 1
            if ev.event == "token.issued":
                grant = str(ev.details.get("grant_type", ""))
                issued[grant] = issued.get(grant, 0) + 1
            elif ev.event in ("token.refused", "token.revoke_refused"):
                error = (ev.reason or "unknown").split(":", 1)[0]
                refused[error] = refused.get(error, 0) + 1
        for (name, outcome), n in by_name.items():
            self.events.labels(name, outcome).inc(n)
        for grant, n in issued.items():
            self.tokens.labels(grant).inc(n)
        for error, n in refused.items():
            self.refusals.labels(error).inc(n)

    def watch(self, auditor: Auditor) -> None:
        """Export the audit trail's health, read from ``auditor`` at each scrape."""
        gauges = {
            "gatepass_audit_lag_seconds": ("Age of the oldest audit event not yet stored",
                                           auditor.lag),
            "gatepass_audit_pending_events": ("Audit events waiting to be stored",
                                              lambda: auditor.pending),
            "gatepass_audit_dropped_events": ("Audit events dropped (buffer full), since start",
                                              lambda: auditor.dropped),
            "gatepass_audit_dead_lettered_events": (
                "Audit events the store refused or could not take at shutdown (written to the "
                "dead-letter file), since start", lambda: auditor.dead_lettered),
        }
        for name, (doc, read) in gauges.items():
            Gauge(name, doc, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def fan_out(*observers: BatchObserver) -> BatchObserver:
    """One audit batch observer calling several."""

    def on_batch(events: Sequence[AuditEvent]) -> None:
        for observe in observers:
            observe(events)

    return on_batch
