"""The MCP tools: the demo API's operations over its data model (``gatepass.demo.DemoData``).

=======================  ==========================================  ============================
tool                     scopes it needs                             what it does
=======================  ==========================================  ============================
``list_projects``        ``read:projects``                           list the caller's projects
``create_project``       ``write:projects``                          create a project
``get_analytics``        ``read:analytics``                          daily usage metrics
``trigger_deployment``   ``read:projects execute:deployments``       queue a deployment
=======================  ==========================================  ============================

Each tool declares its scopes in its description and in ``_meta["gatepass/required_scopes"]``.
``ToolScopeGuard`` enforces them at the HTTP layer before a call reaches the SDK; the tools check
again (defence in depth) and answer a tool error naming the missing scopes. Data is partitioned
per tenant exactly like the demo API: the token's ``owner``, else its client. The server keeps
its own in-memory store and never forwards the caller's token anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field, ValidationError

from gatepass.demo import DEMO_IMPLICATIONS, DemoData
from gatepass.demo.schemas import DeploymentIn, ProjectIn
from gatepass.errors import OAuthError
from gatepass.models import Principal
from gatepass.rs import PRINCIPAL_KEY
from gatepass.scopes import expand_implied, format_scope

__all__ = ["SCOPES_META_KEY", "TOOL_SCOPES", "add_tools"]

TOOL_SCOPES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "list_projects": ("read:projects",),
    "create_project": ("write:projects",),
    "get_analytics": ("read:analytics",),
    "trigger_deployment": ("read:projects", "execute:deployments"),
})  # fmt: skip
SCOPES_META_KEY = "gatepass/required_scopes"
Record = dict[str, Any]


def _caller(ctx: Context, tool: str) -> Principal:
    """The verified caller, holding every scope ``tool`` needs (else a ``ToolError``)."""
    request = ctx.request_context.request
    principal = getattr(request, "scope", {}).get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise ToolError(f"{tool} needs an access token (scopes: {format_scope(TOOL_SCOPES[tool])})")
    granted = expand_implied(principal.scopes, DEMO_IMPLICATIONS)
    missing = [s for s in TOOL_SCOPES[tool] if s not in granted]
    if missing:
        raise ToolError(f"insufficient_scope: {tool} needs {format_scope(TOOL_SCOPES[tool])}; "
                        f"missing {format_scope(missing)}")  # fmt: skip
    return principal


def _tenant(principal: Principal) -> str:
    return principal.owner or principal.client_id


def _described(tool: str, text: str) -> dict[str, Any]:
    scopes = TOOL_SCOPES[tool]
    return {"name": tool, "description": f"{text} Requires scope: {format_scope(scopes)}.",
            "meta": {SCOPES_META_KEY: list(scopes)}}  # fmt: skip


def _invalid(err: ValidationError) -> ToolError:
    fields = sorted({".".join(str(p) for p in e["loc"]) for e in err.errors()})
    return ToolError(f"invalid arguments: {', '.join(fields)}")


def add_tools(server: MCPServer, data: DemoData) -> None:
    """Register the four tools on ``server``, backed by ``data``."""
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    writing = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

    @server.tool(annotations=reading, **_described("list_projects", "List your projects."))
    async def list_projects(
        ctx: Context,
        status: Literal["active", "archived"] | None = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 50,
    ) -> Record:
        found, more = data.projects(_tenant(_caller(ctx, "list_projects")), status, limit)
        return {"data": found, "count": len(found), "has_more": more}

    @server.tool(annotations=writing, **_described("create_project", "Create a project."))
    async def create_project(ctx: Context, name: str, description: str = "") -> Record:
        tenant = _tenant(_caller(ctx, "create_project"))
        try:
            body = ProjectIn(name=name, description=description)
            return data.create_project(tenant, body.name, body.description)
        except ValidationError as err:
            raise _invalid(err) from None
        except OAuthError as err:
            raise ToolError(f"{err.error}: {err.description}") from None

    @server.tool(annotations=reading, **_described("get_analytics", "Daily usage metrics."))
    async def get_analytics(ctx: Context, days: Annotated[int, Field(ge=1, le=90)] = 7) -> Record:
        return data.analytics(_tenant(_caller(ctx, "get_analytics")), days)

    @server.tool(annotations=writing,
                 **_described("trigger_deployment", "Queue a deployment of a project."))
    async def trigger_deployment(
        ctx: Context,
        project_id: str,
        environment: Literal["staging", "production"] = "staging",
        ref: str = "main",
    ) -> Record:
        principal = _caller(ctx, "trigger_deployment")
        try:
            body = DeploymentIn(project_id=project_id, environment=environment, ref=ref)
            return data.queue_deployment(_tenant(principal), body.project_id, body.environment,
                                         body.ref, principal.client_id)
        except ValidationError as err:
            raise _invalid(err) from None
        except OAuthError as err:
            raise ToolError(f"{err.error}: {err.description}") from None
