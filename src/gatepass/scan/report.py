"""Scan reports: the result model, a Rich table, JSON, and a self-contained HTML page.

The HTML page has no scripts and no external resources (a CSP forbids them anyway) and every
value in it is HTML-escaped; findings were already stripped of control characters.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from html import escape
from typing import Any

from rich.table import Table
from rich.text import Text

from gatepass.scan._model import Finding
from gatepass.scan.rubric import CheckResult, total_score

__all__ = ["ScanReport", "render_html", "render_table"]

_STYLE = {"pass": ("✓", "green"), "info": ("•", "cyan"), "warning": ("!", "yellow"),
          "error": ("✗", "red")}


@dataclass(frozen=True, slots=True)
class ScanReport:
    """A finished scan: per-check results, the 0-100 score, and how it went."""

    target: str
    results: list[CheckResult]
    elapsed: float
    budget_exhausted: bool = False

    @property
    def score(self) -> int:
        return total_score(self.results)

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    def problems(self) -> list[Finding]:
        """Findings that cost points."""
        return [f for f in self.findings if f.loss > 0]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document: ``score``, ``checks`` and ``findings``."""
        return {
            "target": self.target, "score": self.score, "max_score": 100,
            "elapsed_seconds": round(self.elapsed, 3), "budget_exhausted": self.budget_exhausted,
            "checks": [{"id": r.check.id, "title": r.check.title, "weight": r.check.weight,
                        "score": round(r.score, 2)} for r in self.results],
            "findings": [{"check": f.check, "severity": f.severity, "message": f.message,
                          "fix": f.fix, "points_lost": round(f.loss * r.check.weight, 2),
                          "url": f.url} for r in self.results for f in r.findings],
        }


def render_table(report: ScanReport) -> Table:
    """One line per finding with its fix; the title carries the score."""
    table = Table(title=Text(f"Agent readiness of {report.target}: {report.score}/100"),
                  show_lines=False, expand=True)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("Check", no_wrap=True)
    table.add_column("Finding", ratio=3)
    table.add_column("Fix", ratio=2)
    for result in report.results:
        label = f"{result.check.title} ({result.score:g}/{result.check.weight})"
        for finding in result.findings:
            mark, colour = _STYLE[finding.severity]
            table.add_row(Text(mark, style=colour), Text(label), Text(finding.message),
                          Text(finding.fix, style="dim"))
            label = ""
    if report.budget_exhausted:
        table.caption = "The scan's time budget ran out; unanswered requests count as missing."
    return table


_CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
h1{font-size:1.4rem}.score{font-size:3rem;font-weight:700}table{border-collapse:collapse;
width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
.pass{color:#137333}.info{color:#1a73e8}.warning{color:#b06000}.error{color:#c5221f}
code{word-break:break-all}"""


def _row(label: str, finding: Finding) -> str:
    mark, _ = _STYLE[finding.severity]
    url = f"<br><code>{escape(finding.url)}</code>" if finding.url else ""
    return (f'<tr><td class="{escape(finding.severity)}">{escape(mark)}</td>'
            f"<td>{escape(label)}</td><td>{escape(finding.message)}{url}</td>"
            f"<td>{escape(finding.fix)}</td></tr>")


def render_html(report: ScanReport) -> str:
    """A self-contained page (inline CSS only) with every target-derived value escaped."""
    rows = []
    for result in report.results:
        label = f"{result.check.title} ({result.score:g}/{result.check.weight})"
        rows += [_row(label, f) for f in result.findings]
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = "<p>The time budget ran out; unanswered requests count as missing.</p>" \
        if report.budget_exhausted else ""
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\"><title>Agent readiness report</title>"
        f"<style>{_CSS}</style></head><body><h1>Agent readiness of "
        f"<code>{escape(report.target)}</code></h1><p class=\"score\">{report.score}/100</p>"
        f"<p>Scanned {escape(when)} in {report.elapsed:.1f}s. Rubric: docs/readiness.md.</p>"
        f"{note}<table><thead><tr><th></th><th>Check</th><th>Finding</th><th>Fix</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></body></html>\n")
