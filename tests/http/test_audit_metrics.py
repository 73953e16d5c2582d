"""``/metrics`` shows the audit trail's health: lag, pending, dropped and dead-lettered events."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from gatepass.clock import FrozenClock
from gatepass.storage.base import StorageError
from gatepass.storage.memory import open_memory_stores
from gp_doubles import FailingStore


def _value(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


async def test_metrics_show_audit_lag_and_pending_events_during_an_outage(
        serve: Any, clock: FrozenClock) -> None:
    base = open_memory_stores(clock)
    audit = FailingStore(base.audit, "record")
    async with serve(stores=dataclasses.replace(base, audit=audit), development=True) as s:
        await s.rt.server.audit.flush()
        text = (await s.client.get("/metrics")).text
        assert _value(text, "gatepass_audit_lag_seconds") == 0
        assert _value(text, "gatepass_audit_pending_events") == 0
        audit.fail = True
        await s.secret_client()  # a client.created event that cannot be stored now
        with pytest.raises(StorageError):
            await s.rt.server.audit.flush()
        clock.advance(7)
        text = (await s.client.get("/metrics")).text
        assert _value(text, "gatepass_audit_lag_seconds") == 7
        assert _value(text, "gatepass_audit_pending_events") == 1
        assert _value(text, "gatepass_audit_dropped_events") == 0
        assert _value(text, "gatepass_audit_dead_lettered_events") == 0
        audit.fail = False
        await s.rt.server.audit.flush()
        text = (await s.client.get("/metrics")).text
        assert _value(text, "gatepass_audit_lag_seconds") == 0
        assert _value(text, "gatepass_audit_pending_events") == 0
