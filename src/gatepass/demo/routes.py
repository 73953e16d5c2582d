"""The five demo operations and the scope each one needs (the guide's scope catalogue).

=========================  =============================  ===================================
operation                  scope                          answer
=========================  =============================  ===================================
``GET /projects``          ``read:projects``              200 list (``status``, ``limit``)
``POST /projects``         ``write:projects``             201 project
``GET /analytics``         ``read:analytics``             200 daily metrics (``days``)
``POST /deployments``      ``execute:deployments``        202 deployment, ``status: queued``
``POST /webhooks``         ``agent:webhook-management``   201 webhook with its signing secret
=========================  =============================  ===================================

``guard(scope)`` makes the dependency that admits a caller and returns its ``Principal``
(``gatepass.rs.fastapi.require_scopes`` in the real app; the benchmark's unprotected baseline
passes one that returns None, whose data partition is then ``"public"``). No ``from __future__
import annotations`` here: FastAPI must see the dependency aliases defined in ``demo_router``.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from gatepass.demo.data import DemoData
from gatepass.demo.errors import json_response
from gatepass.demo.schemas import DeploymentIn, ProjectIn, WebhookIn
from gatepass.models import Principal

__all__ = ["ROUTE_SCOPES", "Guard", "demo_router"]

Guard = Callable[[str], Callable[..., Any]]
ROUTE_SCOPES = {
    ("GET", "/projects"): "read:projects",
    ("POST", "/projects"): "write:projects",
    ("GET", "/analytics"): "read:analytics",
    ("POST", "/deployments"): "execute:deployments",
    ("POST", "/webhooks"): "agent:webhook-management",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing_token, invalid_token, token_expired or token_revoked"},
    403: {"description": "insufficient_scope: lists required_scopes and granted_scopes"},
    422: {"description": "invalid_request: lists invalid_fields"},
    429: {"description": "rate_limit_exceeded: retry_after and upgrade_url"},
}


def _tenant(principal: Principal | None) -> str:
    """Whose data a request sees: the owner who delegated the token (its ``sub`` when that is not
    the client), else the client's registered owner, else the client itself. Two owners who
    authorized one client never share a partition."""
    if principal is None:
        return "public"
    if principal.subject != principal.client_id:
        return f"owner:{principal.subject}"
    return f"owner:{principal.owner}" if principal.owner else f"client:{principal.client_id}"


def demo_router(guard: Guard, data: DemoData) -> APIRouter:
    """The demo operations, each behind ``guard(<its scope>)``."""
    router = APIRouter(responses=_ERRORS)
    Reader = Annotated[Principal | None, Depends(guard(ROUTE_SCOPES["GET", "/projects"]))]
    Writer = Annotated[Principal | None, Depends(guard(ROUTE_SCOPES["POST", "/projects"]))]
    Analyst = Annotated[Principal | None, Depends(guard(ROUTE_SCOPES["GET", "/analytics"]))]
    Deployer = Annotated[Principal | None, Depends(guard(ROUTE_SCOPES["POST", "/deployments"]))]
    Hooker = Annotated[Principal | None, Depends(guard(ROUTE_SCOPES["POST", "/webhooks"]))]

    @router.get("/projects", summary="List projects")
    async def list_projects(
        who: Reader,
        status: Literal["active", "archived"] | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> Response:
        found, more = data.projects(_tenant(who), status, limit)
        return json_response({"data": found, "count": len(found), "has_more": more})

    @router.post("/projects", status_code=201, summary="Create a project")
    async def create_project(who: Writer, body: ProjectIn) -> Response:
        return json_response(data.create_project(_tenant(who), body.name, body.description), 201)

    @router.get("/analytics", summary="Daily usage metrics")
    async def analytics(who: Analyst, days: Annotated[int, Query(ge=1, le=90)] = 7) -> Response:
        return json_response(data.analytics(_tenant(who), days))

    @router.post("/deployments", status_code=202, summary="Queue a deployment")
    async def deploy(who: Deployer, body: DeploymentIn) -> Response:
        by = who.client_id if who is not None else "anonymous"
        record = data.queue_deployment(
            _tenant(who), body.project_id, body.environment, body.ref, by
        )
        return json_response(record, 202)

    @router.post("/webhooks", status_code=201, summary="Register a webhook")
    async def webhook(who: Hooker, body: WebhookIn) -> Response:
        return json_response(data.create_webhook(_tenant(who), body.url, body.events,
                                                 body.description), 201)  # fmt: skip

    return router
