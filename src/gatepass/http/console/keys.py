"""Console page for signing keys (operators): their states, and one rotation step per click.

The button runs ``Admin.rotate_keys``, the same step and audit event as ``gatepass keys
rotate`` (``force`` only in development), then reloads this process's keyring.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gatepass.core.ownership import OwnerView
from gatepass.http.console._app import Console, redirect
from gatepass.http.console._pages import Form, field, when

__all__ = ["key_routes"]


def key_routes(console: Console) -> list[Route]:
    runtime, settings, pages = console.runtime, console.settings, console.pages

    async def keys(request: Request, view: OwnerView, form: Form) -> Response:
        view.require_operator()
        found = sorted(await runtime.stores.keys.list_keys(), key=lambda k: k.created_at,
                       reverse=True)
        return pages.render(request, "keys.html", owner=view.owner, keys=found,
                            development=settings.development,
                            publish_delay=settings.jwks_max_age,
                            token_ttl=settings.access_token_ttl)

    async def rotate_step(request: Request, view: OwnerView, form: Form) -> Response:
        view.require_operator()
        force = settings.development and field(form, "force") == "yes"
        report = await runtime.admin.rotate_keys(actor=view.actor, force=force)
        await runtime.reload_keys()
        done = "; ".join(report.actions) or "nothing to do yet"
        console.notice(request, f"Rotation step: {done}. Next step safe at "
                                f"{when(report.next_step_at)}.")
        return redirect("/console/keys")

    return [Route("/keys", console.page(keys), methods=["GET"]),
            Route("/keys/rotate", console.page(rotate_step), methods=["POST"])]
