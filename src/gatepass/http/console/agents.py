"""Console pages for agents: the list with usage, approvals, ownership claims, one agent.

Handlers only translate forms into ``OwnerView`` calls (scoping and rules live in the core) and
redirect back with a notice (Post/Redirect/Get); a new secret is shown once, never redirected.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gatepass.core.ownership import OwnerView
from gatepass.core.usage import AgentUsage, usage
from gatepass.errors import InvalidRequest
from gatepass.http.console._app import Console, redirect
from gatepass.http.console._pages import Form, field
from gatepass.http.console.chart import hourly_chart

__all__ = ["agent_routes"]


def _reason(form: Form) -> str | None:
    return field(form, "reason").strip()[:500] or None


def _level(form: Form) -> int:
    try:
        return int(field(form, "level"))
    except ValueError as exc:
        raise InvalidRequest("Pick a trust level") from exc


def agent_routes(console: Console) -> list[Route]:
    server, pages = console.runtime.server, console.pages
    levels = server.config.agents.trust_levels

    async def dashboard(request: Request, view: OwnerView, form: Form) -> Response:
        clients = await view.clients()
        used = await usage(server, [c.client_id for c in clients])
        return pages.render(
            request, "agents.html", owner=view.owner, chart=hourly_chart(used.hours),
            usage=used, rows=[(c, used.agents.get(c.client_id, AgentUsage())) for c in clients],
            claims=await console.owners.claims(view.owner), pending=len(await view.approvals()),
            levels=levels)

    async def approvals(request: Request, view: OwnerView, form: Form) -> Response:
        names = {c.client_id: c.name for c in await view.clients()}
        return pages.render(request, "approvals.html", owner=view.owner, names=names,
                            approvals=await view.approvals(), scopes=server.config.scope)

    async def decide(request: Request, view: OwnerView, form: Form) -> Response:
        request_id = request.path_params["request_id"]
        approve = field(form, "decision") == "approve"
        decided = await view.decide(request_id, approve, reason=_reason(form),
                                    scopes=form.get("scope", []) if approve else None)
        granted = " ".join(decided.granted) or "nothing"
        console.notice(request, f"Request {request_id} {decided.status}; granted: {granted}.")
        return redirect("/console/approvals")

    async def agent(request: Request, view: OwnerView, form: Form) -> Response:
        client = await view.client(request.path_params["client_id"])
        used = await usage(server, [client.client_id])
        return pages.render(
            request, "agent.html", owner=view.owner, client=client,
            stats=used.agents[client.client_id], chart=hourly_chart(used.hours),
            secrets=await view.secrets(client.client_id), levels=levels,
            approvals=await server.stores.approvals.list_approvals(client_id=client.client_id),
            events=await view.audit_trail(client.client_id), now=server.clock.now())

    def action(name: str) -> Route:
        async def act(request: Request, view: OwnerView, form: Form) -> Response:
            cid = request.path_params["client_id"]
            if name == "rotate":
                secret = await view.rotate_secret(cid)
                return pages.render(request, "secret.html", owner=view.owner,
                                    client=await view.client(cid), secret=secret,
                                    grace=server.config.agents.secret_grace)
            if name == "suspend":
                revoked = await view.suspend(cid, reason=_reason(form))
                message = f"Suspended; {revoked} outstanding token(s) revoked."
            elif name == "reactivate":
                await view.reactivate(cid, reason=_reason(form))
                message = "Reactivated."
            elif name == "trust":
                changed = await view.set_trust(cid, _level(form), reason=_reason(form))
                message = f"Trust level is now {changed.trust_level}."
            else:
                await view.drop_secret(cid, field(form, "secret_id"))
                message = "Secret dropped."
            console.notice(request, message)
            return redirect(f"/console/agents/{cid}")

        return Route(f"/agents/{{client_id}}/{name}", console.page(act), methods=["POST"])

    def claim(confirm: bool) -> Route:
        async def decide_claim(request: Request, view: OwnerView, form: Form) -> Response:
            cid = request.path_params["client_id"]
            if confirm:
                await console.owners.confirm(view.owner, cid)
            else:
                await console.owners.reject(view.owner, cid, reason=_reason(form))
            console.notice(request, f"Agent {cid} {'is now yours' if confirm else 'rejected'}.")
            return redirect("/console")

        verb = "confirm" if confirm else "reject"
        return Route(f"/claims/{{client_id}}/{verb}", console.page(decide_claim),
                     methods=["POST"])

    return [
        Route("/", console.page(dashboard), methods=["GET"]),
        Route("/approvals", console.page(approvals), methods=["GET"]),
        Route("/approvals/{request_id}", console.page(decide), methods=["POST"]),
        Route("/agents/{client_id}", console.page(agent), methods=["GET"]),
        *(action(n) for n in ("suspend", "reactivate", "trust", "rotate", "drop-secret")),
        claim(True), claim(False),
    ]
