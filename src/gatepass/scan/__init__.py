"""Agent-readiness scanner: examine an API from outside and score it 0-100.

The rubric is published in ``docs/readiness.md``; ``gatepass scan URL`` is the command line::

    report = await scan("https://api.example.com", request_timeout=5, budget=30)
    print(report.score, [f.message for f in report.problems()])
"""

from gatepass.scan._model import Finding, Severity
from gatepass.scan.report import ScanReport, render_html, render_table
from gatepass.scan.rubric import CHECKS, Check, CheckResult
from gatepass.scan.runner import Fetched, Fetcher, scan

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "Fetched",
    "Fetcher",
    "Finding",
    "ScanReport",
    "Severity",
    "render_html",
    "render_table",
    "scan",
]
