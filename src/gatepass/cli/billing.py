"""``gatepass billing``: prepaid billing tokens for agent registration (issue, list).

A token is shown once (stored as a SHA-256 digest); an agent sends it as ``billing_token``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from gatepass.cli._app import app, console, emit_json, run
from gatepass.core.billing import issue_billing_token
from gatepass.models import BillingToken
from gatepass.runtime import Runtime

billing = typer.Typer(help="Prepaid billing tokens for agent registration.", no_args_is_help=True)
app.add_typer(billing, name="billing")


async def issue_token(rt: Runtime, *, tier: str, account: str | None, max_uses: int | None,
                      ttl: float | None, actor: str) -> tuple[str, BillingToken]:
    """Issue a prepaid billing token and audit it (``billing.token_issued``)."""
    token, record = await issue_billing_token(rt.stores.billing, rt.server.clock, tier=tier,
                                              account_id=account, max_uses=max_uses, ttl=ttl)
    rt.server.audit.emit("billing.token_issued", "success", actor=actor, tier=tier,
                         account=record.account_id, token_id=record.token_id)
    return token, record


@billing.command("issue")
def issue(
    ctx: typer.Context,
    tier: Annotated[str, typer.Option(help="Tier the token buys (e.g. agent_premium)")],
    account: Annotated[str | None, typer.Option(help="Billing account (default: a new one)")
                       ] = None,
    uses: Annotated[int, typer.Option(min=1, help="Registrations it pays for")] = 1,
    reusable: Annotated[bool, typer.Option(help="No use limit (per-account daily limits "
                                                "still apply)")] = False,
    ttl: Annotated[float | None, typer.Option(help="Lifetime in seconds")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Issue a prepaid billing token; it is printed once."""

    async def go(rt: Runtime) -> dict[str, Any]:
        tiers = rt.server.config.agents.tier_order
        if tier not in tiers:
            raise typer.BadParameter(f"unknown tier {tier!r}; known: {', '.join(tiers)}")
        token, record = await issue_token(rt, tier=tier, account=account,
                                          max_uses=None if reusable else uses, ttl=ttl,
                                          actor="cli")
        return {"billing_token": token, "token_id": record.token_id, "tier": record.tier,
                "account_id": record.account_id, "max_uses": record.max_uses,
                "expires_at": record.expires_at}

    view = run(ctx, go)
    if as_json:
        emit_json(view)
        return
    console.print(f"billing_token: {view['billing_token']}")
    console.print(f"tier: {view['tier']}  account: {view['account_id']}  "
                  f"uses: {view['max_uses'] or 'unlimited'}")
    console.print("[yellow]Shown once: hand it to the agent now.[/yellow]")


@billing.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Issued tokens (ids and usage only, never the tokens)."""
    rows: list[dict[str, Any]] = [
        {"token_id": t.token_id, "tier": t.tier, "account_id": t.account_id, "uses": t.uses,
         "max_uses": t.max_uses, "expires_at": t.expires_at}
        for t in run(ctx, lambda rt: rt.stores.billing.list_billing_tokens())]
    if as_json:
        emit_json(rows)
        return
    table = Table("token_id", "tier", "account_id", "uses", "max_uses")
    for r in rows:
        table.add_row(r["token_id"], r["tier"], r["account_id"], str(r["uses"]),
                      str(r["max_uses"] or "unlimited"))
    console.print(table)
