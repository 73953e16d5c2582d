"""``gatepass config show`` (secrets masked) and ``gatepass db upgrade``."""

from __future__ import annotations

import typer

from gatepass.cli._app import app, emit_json, run, settings_from
from gatepass.runtime import Runtime

db = typer.Typer(help="Database migrations.", no_args_is_help=True)
config = typer.Typer(help="Inspect settings.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(config, name="config")


@config.command("show")
def show(ctx: typer.Context) -> None:
    """The effective settings as JSON; secrets appear as '**********'."""
    emit_json(settings_from(ctx).masked())


@db.command("upgrade")
def upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Apply migrations (SQL backends); at head, also create the local secrets and a signing key
    when missing, so the other commands can act on the database."""
    from gatepass.storage.sql.migrate import upgrade as do_upgrade

    async def ready(rt: Runtime) -> None:
        return None

    if revision == "head":
        run(ctx, ready, create=True)  # migrates to head, then secrets and a signing key
    else:
        do_upgrade(settings_from(ctx).database_url, revision)
    typer.echo(f"database at {revision}")
