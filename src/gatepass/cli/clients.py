"""``gatepass clients``: create, list, show, disable, enable, rotate-secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gatepass.cli._app import app, console, emit_json, run
from gatepass.models import Client
from gatepass.runtime import Runtime

clients = typer.Typer(help="Manage OAuth clients.", no_args_is_help=True)
app.add_typer(clients, name="clients")


def client_view(c: Client) -> dict[str, Any]:
    return {"client_id": c.client_id, "name": c.name, "status": c.status,
            "scope": " ".join(c.allowed_scopes), "auth_method": c.token_endpoint_auth_method,
            "resources": list(c.allowed_resources), "agent_type": c.agent_type,
            "owner": c.owner, "tier": c.tier, "jwks_uri": c.jwks_uri, "created_at": c.created_at,
            "operator": c.operator}


@clients.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name")],
    scope: Annotated[str, typer.Option(help="Space-separated scopes the client may request")],
    jwks: Annotated[Path | None, typer.Option(help="JWKS file: use private_key_jwt")] = None,
    jwks_uri: Annotated[str | None, typer.Option(help="JWKS URL: use private_key_jwt")] = None,
    resource: Annotated[
        list[str] | None, typer.Option(help="Allowed resource (repeatable)")
    ] = None,
    operator: Annotated[bool, typer.Option(
        "--operator", help="An operator client: may hold internal scopes (gatepass:*) and use "
                           "the admin API")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create a client; prints its id and, once, its secret."""
    keys = json.loads(jwks.read_text()) if jwks else None

    async def go(rt: Runtime) -> Any:
        return await rt.admin.create_client(name, scope, jwks=keys, jwks_uri=jwks_uri,
                                            resources=resource or (), operator=operator)

    created = run(ctx, go)
    view = {"client_id": created.client.client_id, "client_secret": created.secret,
            "token_endpoint_auth_method": created.client.token_endpoint_auth_method,
            "scope": " ".join(created.client.allowed_scopes), "operator": operator}
    if as_json:
        emit_json(view)
        return
    console.print(f"client_id:     {view['client_id']}")
    if created.secret:
        console.print(f"client_secret: {created.secret}")
        console.print("[yellow]Store the secret now: it cannot be shown again.[/yellow]")


@clients.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List clients."""
    rows = [client_view(c) for c in run(ctx, lambda rt: rt.admin.list_clients())]
    if as_json:
        emit_json(rows)
        return
    table = Table("client_id", "name", "status", "auth", "scope")
    for r in rows:
        table.add_row(r["client_id"], r["name"], r["status"], r["auth_method"], r["scope"])
    console.print(table)


@clients.command("show")
def show(ctx: typer.Context, client_id: str) -> None:
    """Show one client (never its secrets: only their ids and expiry)."""

    async def go(rt: Runtime) -> dict[str, Any]:
        view = client_view(await rt.admin.get_client(client_id))
        view["secrets"] = [{"secret_id": s.secret_id, "expires_at": s.expires_at}
                           for s in await rt.stores.clients.list_secrets(client_id)]
        return view

    emit_json(run(ctx, go))


@clients.command("disable")
def disable(ctx: typer.Context, client_id: str) -> None:
    """Disable a client: it can no longer authenticate."""
    run(ctx, lambda rt: rt.admin.set_status(client_id, "disabled"))
    console.print(f"{client_id} disabled")


@clients.command("revoke-tokens")
def revoke_tokens(ctx: typer.Context, client_id: str) -> None:
    """Revoke every token issued to a client so far (it may get new ones: from the next second)."""
    found = run(ctx, lambda rt: rt.admin.revoke_tokens(client_id, actor="cli"))
    console.print(f"every token of {client_id} issued until now is revoked ({found} unexpired "
                  "in the audit trail)")


@clients.command("enable")
def enable(ctx: typer.Context, client_id: str) -> None:
    """Re-enable a disabled client."""
    run(ctx, lambda rt: rt.admin.set_status(client_id, "active"))
    console.print(f"{client_id} enabled")


@clients.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context,
    client_id: str,
    grace: Annotated[float, typer.Option(help="Seconds the old secrets stay valid")] = 86_400,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue a new secret; old ones stay valid for the grace period."""
    secret, _ = run(ctx, lambda rt: rt.admin.rotate_secret(client_id, grace_seconds=grace))
    if as_json:
        emit_json({"client_id": client_id, "client_secret": secret})
    else:
        console.print(f"client_secret: {secret}\n[yellow]Shown once.[/yellow]")
