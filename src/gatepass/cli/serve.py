"""``gatepass serve``: migrate, make sure a key (and, in development, a demo client) exist, then
run uvicorn."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

import typer
import uvicorn

from gatepass.cli._app import app, console, run
from gatepass.cli.billing import issue_token
from gatepass.core.admin import CreatedClient
from gatepass.runtime import Runtime, start_lock
from gatepass.settings import Settings

DEMO_NAME = "demo-agent"
DEMO_TIER = "agent_standard"


@dataclass(frozen=True, slots=True)
class FirstStart:
    """What the first start created: the demo client and, in development, a billing token."""

    created: CreatedClient
    billing_token: str | None


async def _first_start(rt: Runtime) -> FirstStart | None:
    """On an empty database with ``demo_client`` on: the demo client, holding the catalog's
    scopes that are neither internal nor behind an approval, and (development mode) a reusable
    demo billing token for agent registration. Servers starting together create one."""
    async with start_lock(rt.settings):
        if not rt.settings.demo_client or await rt.stores.clients.list_clients():
            return None
        scopes = [s.name for s in rt.settings.scopes
                  if not s.internal and not s.requires_approval]
        created = await rt.admin.create_client(DEMO_NAME, scopes, actor="first-start",
                                               agent_type="autonomous", owner="demo-owner")
    token = None
    if rt.settings.development:
        token, _ = await issue_token(rt, tier=DEMO_TIER, account="demo", max_uses=None,
                                     ttl=None, actor="first-start")
    return FirstStart(created, token)


def _announce(first: FirstStart, development: bool) -> None:
    """Secrets go to the terminal only in development mode (production logs keep none)."""
    client = first.created.client
    if not development:
        console.print(f"Demo client {client.client_id} created; its secret is not shown outside "
                      "development mode (`gatepass clients rotate-secret` issues one).")
        return
    console.print("[bold]Demo client created[/bold] (secret shown only now):")
    console.print(f"  client_id:     {client.client_id}")
    console.print(f"  client_secret: {first.created.secret}")
    if first.billing_token is not None:
        console.print("[bold]Demo billing token[/bold] (reusable; agents send it when they "
                      "register):")
        console.print(f"  billing_token: {first.billing_token}")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Run the authorization server."""
    first = run(ctx, _first_start, create=True)
    settings: Settings = ctx.find_root().obj["settings"]
    if first is not None:
        _announce(first, settings.development)
    os.environ["GATEPASS_MIGRATE"] = "0"  # done above, once; workers must not race on it
    # uvicorn bounds idle keep-alive connections and (h11) request heads; slow senders and
    # TLS are a reverse proxy's job (README, Configuration).
    uvicorn.run("gatepass.http.asgi:app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, proxy_headers=False,
                http=settings.http_parser, timeout_keep_alive=settings.http_keep_alive_timeout,
                h11_max_incomplete_event_size=settings.http_max_header_bytes)
