"""``gatepass keys``: list and rotate signing keys (next -> current -> previous -> retired)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from gatepass.cli._app import app, console, emit_json, run
from gatepass.keys import RotationReport
from gatepass.runtime import Runtime

keys = typer.Typer(help="Manage signing keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


@keys.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Signing keys and their states."""

    async def go(rt: Runtime) -> list[dict[str, object]]:
        return [{"kid": k.kid, "alg": k.alg, "state": k.state, "since": k.state_changed_at}
                for k in await rt.stores.keys.list_keys()]

    rows = run(ctx, go)
    if as_json:
        emit_json(rows)
        return
    table = Table("kid", "alg", "state", "since")
    for r in rows:
        table.add_row(str(r["kid"]), str(r["alg"]), str(r["state"]), _when(r["since"]))  # type: ignore[arg-type]
    console.print(table)


@keys.command("rotate")
def rotate_(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option(help="Promote without waiting (development only)")] = False,
) -> None:
    """One lifecycle step; says when the next step is safe."""

    async def go(rt: Runtime) -> RotationReport:
        return await rt.admin.rotate_keys(actor="cli", force=force)

    report = run(ctx, go)
    for action in report.actions or ["nothing to do yet"]:
        console.print(action)
    console.print(f"next step safe at: {_when(report.next_step_at)}")
