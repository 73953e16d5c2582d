"""``gatepass owners``: create, list, set-password, set-operator, disable, enable (console
accounts, DESIGN §5). A password change or ``disable`` ends every console session of the owner.

Passwords are prompted (hidden, with confirmation) or read from stdin with ``--password-stdin``
(the first line), never taken as an argument: arguments end up in shell history and ``ps``.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from gatepass.cli._app import app, console, emit_json, run
from gatepass.core.owners import Owners, check_password
from gatepass.errors import InvalidRequest
from gatepass.models import Owner
from gatepass.runtime import Runtime

owners = typer.Typer(help="Owner accounts for the web console.", no_args_is_help=True)
app.add_typer(owners, name="owners")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]
FromStdin = Annotated[bool, typer.Option("--password-stdin",
                                         help="Read the password from the first line of stdin")]


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _owners(rt: Runtime) -> Owners:
    return Owners(rt.server, rt.stores.owners)


def owner_view(o: Owner) -> dict[str, Any]:
    return {"owner_id": o.owner_id, "email": o.email, "operator": o.is_operator,
            "disabled": o.disabled, "created_at": o.created_at}


def read_password(from_stdin: bool) -> str:
    """From stdin (one line), or prompted twice without echo; checked before any work."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)
    except InvalidRequest as exc:
        console.print(f"[red]{exc.description}[/red]")
        raise typer.Exit(2) from exc
    return password


@owners.command("create")
def create(ctx: typer.Context, email: str,
           operator: Annotated[bool, typer.Option("--operator",
                                                  help="Global view of every agent")] = False,
           password_stdin: FromStdin = False, as_json: AsJson = False) -> None:
    """Create an owner account (the email is their login)."""
    password = read_password(password_stdin)
    owner = run(ctx, lambda rt: _owners(rt).create(email, password, operator=operator,
                                                   actor=_actor()))
    if as_json:
        emit_json(owner_view(owner))
        return
    role = "operator" if owner.is_operator else "owner"
    console.print(f"Created {role} {owner.email} ({owner.owner_id})")


@owners.command("list")
def list_(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Owner accounts."""
    rows = [owner_view(o) for o in run(ctx, lambda rt: _owners(rt).list_owners())]
    if as_json:
        emit_json(rows)
        return
    table = Table("owner_id", "email", "operator", "disabled")
    for r in rows:
        table.add_row(r["owner_id"], r["email"], "yes" if r["operator"] else "",
                      "yes" if r["disabled"] else "")
    console.print(table)


@owners.command("set-password")
def set_password(ctx: typer.Context, email: str, password_stdin: FromStdin = False) -> None:
    """Replace an owner's password."""
    password = read_password(password_stdin)
    owner = run(ctx, lambda rt: _owners(rt).set_password(email, password, actor=_actor()))
    console.print(f"Password changed for {owner.email}")


@owners.command("set-operator")
def set_operator(ctx: typer.Context, email: str,
                 off: Annotated[bool, typer.Option("--off", help="Revoke instead")] = False
                 ) -> None:
    """Give (or with --off take away) the operator's global view."""
    owner = run(ctx, lambda rt: _owners(rt).set_operator(email, not off, actor=_actor()))
    console.print(f"{owner.email} is {'an operator' if owner.is_operator else 'an owner'}")


@owners.command("disable")
def disable(ctx: typer.Context, email: str) -> None:
    """Refuse the owner's sign-in and end every console session they have."""
    owner = run(ctx, lambda rt: _owners(rt).set_disabled(email, True, actor=_actor()))
    console.print(f"{owner.email} is disabled; their console sessions have ended")


@owners.command("enable")
def enable(ctx: typer.Context, email: str) -> None:
    """Let a disabled owner sign in again."""
    owner = run(ctx, lambda rt: _owners(rt).set_disabled(email, False, actor=_actor()))
    console.print(f"{owner.email} is enabled")
