"""``gatepass audit tail``: the newest audit events (who, what, why), oldest of them first."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from gatepass.cli._app import app, console, emit_json, run
from gatepass.runtime import Runtime, describe_event

audit = typer.Typer(help="Read the audit trail.", no_args_is_help=True)
app.add_typer(audit, name="audit")


@audit.command("tail")
def tail(
    ctx: typer.Context,
    client: Annotated[str | None, typer.Option(help="Only this client's events")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many events")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The last LIMIT events, oldest first."""

    async def go(rt: Runtime) -> list[dict[str, Any]]:
        events = await rt.stores.audit.recent(limit, client)
        return [describe_event(e) for e in reversed(events)]

    rows = run(ctx, go)
    if as_json:
        emit_json(rows)
        return
    table = Table("at", "event", "outcome", "client_id", "actor", "reason", "scopes")
    for r in rows:
        at = dt.datetime.fromtimestamp(r["at"], dt.UTC).isoformat(timespec="seconds")
        table.add_row(at, r["event"], r["outcome"], r["client_id"] or "-", r["actor"] or "-",
                      r["reason"] or "-", " ".join(r["scopes"]))
    console.print(table)
