"""What the audit flush feeds besides the store: Prometheus counters and the audit log lines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest
from gp_http_kit import Served
from prometheus_client.parser import text_string_to_metric_families

METRICS_TOKEN = "metrics-" + "m" * 32


@pytest.fixture
async def served(serve: Callable[..., AbstractAsyncContextManager[Served]]
                 ) -> AsyncIterator[Served]:
    async with serve(metrics_token=METRICS_TOKEN) as s:
        yield s


async def samples(s: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await s.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(resp.text)
            for sample in family.samples}


async def test_metrics_count_issued_and_refused_tokens(served: Served) -> None:
    cid, secret = await served.secret_client()
    for _ in range(3):
        await served.access_token(cid, secret)
    assert (await served.token((cid, "wrong"))).status_code == 401
    await served.flush_audit()  # counters follow the audit flush
    got = await samples(served)
    issued = ("gatepass_tokens_issued_total", (("grant_type", "client_credentials"),))
    assert got[issued] == 3
    assert got[("gatepass_token_refusals_total", (("error", "invalid_client"),))] == 1
    events = ("gatepass_audit_events_total", (("event", "token.issued"), ("outcome", "success")))
    assert got[events] == 3
    await served.access_token(cid, secret)
    await served.flush_audit()
    assert (await samples(served))[issued] == 4  # counted once per event, not per flush


@pytest.fixture
def root_level() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.mark.parametrize(("level", "logged"), [(logging.INFO, True), (logging.WARNING, False)])
async def test_audit_lines_follow_the_log_level(
    serve: Callable[..., AbstractAsyncContextManager[Served]],
    capsys: pytest.CaptureFixture[str], root_level: None, level: int, logged: bool,
) -> None:
    logging.getLogger().setLevel(level)
    async with serve() as s:
        cid, secret = await s.secret_client()
        await s.access_token(cid, secret)
        await s.flush_audit()
        stored = [e.event for e in await s.rt.stores.audit.recent()]
    assert "token.issued" in stored  # the trail is stored whatever the log level
    assert ('"event":"token.issued"' in capsys.readouterr().err) is logged
