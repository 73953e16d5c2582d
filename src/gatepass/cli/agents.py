"""``gatepass agents``: list, show, approvals, approve, deny, suspend, promote (DESIGN §5).

Every action calls the same ``core.admin.Admin`` method as the admin API, so the audit trail
records who (``cli:<user>``, or ``--actor``) and why (``--reason``) either way.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from rich.table import Table

from gatepass.cli._app import app, console, emit_json, run
from gatepass.errors import InvalidScope, NotFound
from gatepass.models import ApprovalRequest, Client
from gatepass.runtime import Runtime

agents = typer.Typer(help="Self-registered agents: approvals, trust, suspension.",
                     no_args_is_help=True)
app.add_typer(agents, name="agents")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]
Reason = Annotated[str | None, typer.Option(help="Why (recorded in the audit trail)")]
Actor = Annotated[str | None, typer.Option(help="Who decides (default: cli:<login name>)")]
Scopes = Annotated[list[str] | None, typer.Option("--scope", help="Grant only this scope "
                                                  "(repeatable; narrows the request)")]


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def agent_view(c: Client) -> dict[str, Any]:
    return {"client_id": c.client_id, "name": c.name, "agent_type": c.agent_type,
            "status": c.status, "tier": c.tier, "trust_level": c.trust_level,
            "scope": " ".join(c.allowed_scopes), "created_at": c.created_at}


def approval_view(a: ApprovalRequest) -> dict[str, Any]:
    return {"request_id": a.request_id, "client_id": a.client_id, "scopes": list(a.scopes),
            "status": a.status, "granted": list(a.granted), "decided_by": a.decided_by,
            "reason": a.reason, "created_at": a.created_at}


@agents.command("list")
def list_(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Agents (clients with an agent type)."""
    rows = [agent_view(c) for c in run(ctx, lambda rt: rt.admin.list_clients())
            if c.agent_type is not None]
    if as_json:
        emit_json(rows)
        return
    table = Table("client_id", "name", "type", "status", "tier", "trust", "scope")
    for r in rows:
        table.add_row(r["client_id"], r["name"], r["agent_type"], r["status"], str(r["tier"]),
                      str(r["trust_level"]), r["scope"])
    console.print(table)


@agents.command("show")
def show(ctx: typer.Context, client_id: str) -> None:
    """One agent as it sees itself (scopes, pending approvals, secret ids)."""

    async def go(rt: Runtime) -> dict[str, Any]:
        return await rt.agents.status(await rt.admin.get_client(client_id))

    emit_json(run(ctx, go))


@agents.command("approvals")
def approvals(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="pending, approved, denied or all")] = "pending",
    as_json: AsJson = False,
) -> None:
    """Approval requests, oldest first."""
    if status not in ("pending", "approved", "denied", "all"):
        raise typer.BadParameter("status must be pending, approved, denied or all")
    wanted: Any = None if status == "all" else status
    rows = [approval_view(a) for a in run(ctx, lambda rt: rt.stores.approvals.list_approvals(
        wanted))]
    if as_json:
        emit_json(rows)
        return
    table = Table("request_id", "client_id", "scopes", "status", "granted")
    for r in rows:
        table.add_row(r["request_id"], r["client_id"], " ".join(r["scopes"]), r["status"],
                      " ".join(r["granted"]))
    console.print(table)


async def _decide(rt: Runtime, ident: str, approve: bool, scopes: list[str] | None,
                  actor: str, reason: str | None) -> list[ApprovalRequest]:
    """Decide one request (``apr_...``) or every pending request of one agent."""
    if ident.startswith("apr_"):
        return [await rt.admin.decide(ident, approve, scopes=scopes, actor=actor, reason=reason)]
    pending = await rt.stores.approvals.list_approvals("pending", ident)
    if not pending:
        raise NotFound(f"No pending approval request for {ident}")
    outside = [s for s in scopes or () if not any(s in p.scopes for p in pending)]
    if outside:
        raise InvalidScope(f"Not part of any pending request: {' '.join(outside)}")
    return [await rt.admin.decide(
        p.request_id, approve, scopes=None if scopes is None else
        [s for s in scopes if s in p.scopes], actor=actor, reason=reason) for p in pending]


def _report(decided: list[ApprovalRequest], as_json: bool) -> None:
    if as_json:
        emit_json([approval_view(a) for a in decided])
        return
    for a in decided:
        granted = " ".join(a.granted) or "-"
        console.print(f"{a.request_id} ({a.client_id}): {a.status}; granted: {granted}")


@agents.command("approve")
def approve(ctx: typer.Context, ident: Annotated[str, typer.Argument(
        metavar="ID", help="An approval request id (apr_...) or an agent's client_id")],
            scope: Scopes = None, reason: Reason = None, actor: Actor = None,
            as_json: AsJson = False) -> None:
    """Approve the requested scopes (all, or only the --scope ones)."""
    _report(run(ctx, lambda rt: _decide(rt, ident, True, scope, _actor(actor), reason)), as_json)


@agents.command("deny")
def deny(ctx: typer.Context, ident: Annotated[str, typer.Argument(
        metavar="ID", help="An approval request id (apr_...) or an agent's client_id")],
         reason: Reason = None, actor: Actor = None, as_json: AsJson = False) -> None:
    """Deny the request; the agent keeps the scopes it already has."""
    _report(run(ctx, lambda rt: _decide(rt, ident, False, None, _actor(actor), reason)), as_json)


@agents.command("suspend")
def suspend(ctx: typer.Context, client_id: str, reason: Reason = None,
            actor: Actor = None) -> None:
    """Kill switch: no new tokens, and every outstanding token is revoked."""
    revoked = run(ctx, lambda rt: rt.admin.suspend(client_id, actor=_actor(actor), reason=reason))
    console.print(f"{client_id} suspended; {revoked} outstanding token(s) revoked")


@agents.command("promote")
def promote(
    ctx: typer.Context, client_id: str,
    level: Annotated[int | None, typer.Option(help="Trust level (default: one up)")] = None,
    reason: Reason = None, actor: Actor = None,
) -> None:
    """Raise (or set) an agent's trust level; newly allowed scopes work at its next token."""

    async def go(rt: Runtime) -> Client:
        target = level if level is not None else (await rt.admin.get_client(client_id)
                                                  ).trust_level + 1
        return await rt.admin.set_trust(client_id, target, actor=_actor(actor), reason=reason)

    client = run(ctx, go)
    console.print(f"{client_id} now at trust level {client.trust_level}")

