"""``gatepass scan URL``: score an API's agent readiness from outside (docs/readiness.md).

The Rich table (or ``--json``) goes to stdout, the progress indicator to stderr; ``--html``
writes a self-contained report; ``--fail-under N`` exits 1 below N (for CI).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

from gatepass.cli._app import app
from gatepass.scan import CHECKS, ScanReport, render_html, render_table, scan

__all__ = ["scan_command"]

err = Console(stderr=True)


def _run(url: str, request_timeout: float, budget: float, quiet: bool) -> ScanReport:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  console=err, transient=True, disable=quiet) as bar:
        task = bar.add_task(f"Scanning {url}", total=len(CHECKS))

        def tick(check: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"Checked {check}")

        return asyncio.run(scan(url, request_timeout=request_timeout, budget=budget,
                                progress=tick))


@app.command("scan")
def scan_command(
    url: Annotated[str, typer.Argument(help="The API (or authorization server) to examine")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (score, findings)")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Write an HTML report here")] = None,
    fail_under: Annotated[int | None, typer.Option(
        "--fail-under", min=0, max=100, help="Exit 1 when the score is below N")] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request")] = 5.0,
    budget: Annotated[float, typer.Option(min=1.0, help="Seconds for the whole scan")] = 30.0,
) -> None:
    """Score an API's agent readiness 0-100 with the published rubric."""
    try:
        report = _run(url, timeout, budget, quiet=as_json)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]", markup=False)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        Console().print(render_table(report))  # sized from the environment at call time
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
        err.print(f"HTML report written to {html}", markup=False, highlight=False)
    if fail_under is not None and report.score < fail_under:
        raise typer.Exit(1)
