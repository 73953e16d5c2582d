"""``gatepass serve``: migrate, make sure a key (and a demo client) exist, then run uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from gatepass.cli._app import app, console, run
from gatepass.core.admin import CreatedClient
from gatepass.runtime import Runtime, start_lock

DEMO_NAME = "demo-agent"


async def _first_start(rt: Runtime) -> CreatedClient | None:
    async with start_lock(rt.settings):  # servers starting together: at most one demo client
        if not rt.settings.demo_client or await rt.stores.clients.list_clients():
            return None
        scopes = [s.name for s in rt.settings.scopes if not s.requires_approval]
        return await rt.admin.create_client(DEMO_NAME, scopes, actor="first-start",
                                            agent_type="autonomous", owner="demo-owner")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Run the authorization server."""
    created = run(ctx, _first_start)
    if created is not None:
        console.print("[bold]Demo client created[/bold] (secret shown only now):")
        console.print(f"  client_id:     {created.client.client_id}")
        console.print(f"  client_secret: {created.secret}")
    os.environ["GATEPASS_MIGRATE"] = "0"  # done above, once; workers must not race on it
    uvicorn.run("gatepass.http.asgi:app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, proxy_headers=False)
