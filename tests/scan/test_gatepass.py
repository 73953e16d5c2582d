"""The Gatepass server itself (create_app under uvicorn on loopback) is agent-ready."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatepass.http.app import create_app
from gatepass.scan import ScanReport, scan
from gatepass.settings import Settings

from .conftest import free_port, serve_on

pytestmark = pytest.mark.slow
SERVER_SIDE = ("discovery", "jwks", "client_credentials", "registration", "llms_txt")


@pytest.fixture(scope="module")
def gatepass_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    settings = Settings(issuer=f"http://127.0.0.1:{port}", database_url="memory://",
                        data_dir=Path(tmp_path_factory.mktemp("gp")), development=True,
                        agents={"free_tier": "agent_standard"})
    with serve_on(create_app(settings), port) as url:
        yield url


@pytest.fixture
async def report(gatepass_url: str) -> ScanReport:
    return await scan(gatepass_url, request_timeout=5, budget=30)


def test_gatepass_scores_high(report: ScanReport) -> None:
    scores = {r.check.id: (r.score, r.check.weight) for r in report.results}
    assert all(scores[c][0] == scores[c][1] for c in SERVER_SIDE), report.problems()
    assert report.score >= 75
    assert not report.budget_exhausted


def test_gatepass_scores_100(report: ScanReport) -> None:
    assert report.score == 100, [f"{f.check}: {f.message}" for f in report.problems()]
