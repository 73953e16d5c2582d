"""``gatepass scan`` output modes, and the rubric as published in docs/readiness.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from gatepass.cli import scan as _scan_command  # noqa: F401  (registers `gatepass scan`)
from gatepass.cli._app import app
from gatepass.scan import CHECKS

from .conftest import Serve, bare_api

DOCS = Path(__file__).resolve().parents[2] / "docs" / "readiness.md"


def test_weights_sum_to_100_and_the_rubric_is_published() -> None:
    assert sum(c.weight for c in CHECKS) == 100
    assert len({c.id for c in CHECKS}) == len(CHECKS)
    text = DOCS.read_text(encoding="utf-8")
    for check in CHECKS:
        row = re.search(rf"^\| `{check.id}` \| (.+?) \| (\d+) \|", text, re.MULTILINE)
        assert row is not None, f"{check.id} missing from docs/readiness.md"
        assert int(row[2]) == check.weight
        assert f"### `{check.id}`" in text


def test_json_html_and_fail_under(serve: Serve, tmp_path: Path) -> None:
    url = serve(bare_api())
    html = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["scan", url, "--json", "--html", str(html),
                                      "--fail-under", "50", "--timeout", "2", "--budget", "10"])
    assert result.exit_code == 1  # below --fail-under
    data = json.loads(result.stdout)
    assert set(data) >= {"score", "findings", "checks", "target"}
    assert data["score"] <= 10 and data["target"] == url
    assert {f["check"] for f in data["findings"]} == {c.id for c in CHECKS}
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert "http" not in page.split("<body>")[0].replace("http-equiv", "")  # no external refs


def test_table_output(serve: Serve) -> None:
    result = CliRunner().invoke(app, ["scan", serve(bare_api()), "--fail-under", "0"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Agent readiness of" in result.stdout and "/100" in result.stdout
    assert "No llms.txt (HTTP 404)" in result.stdout and "Publish /llms.txt" in result.stdout


def test_not_a_url_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["scan", "ftp://example.com"])
    assert result.exit_code == 2
