"""The owner/operator JSON API under ``/api/v1/admin`` (DESIGN §5, §6 "CLI").

Callers present one of our access tokens (RFC 6750 §2.1) carrying ``gatepass:admin``: signed by
a published key, unexpired, unrevoked, meant for this server, its client still active, and
either its client an operator client or its subject an operator owner. Each
action calls the same ``core.admin.Admin`` method as the CLI, so audit records match; the actor
is ``admin-api:<client_id>``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from gatepass.core.revocation import claims_revoked
from gatepass.errors import InsufficientScope, InvalidToken
from gatepass.http.api._shared import GuardedRoute, RuntimeDep, bearer
from gatepass.http.api.views import agent_view, approval_view
from gatepass.http.responses import json_response
from gatepass.models import Client
from gatepass.runtime import Runtime, describe_event

__all__ = ["ADMIN_SCOPE", "router"]

ADMIN_SCOPE = "gatepass:admin"
_REALM = f'Bearer realm="gatepass", scope="{ADMIN_SCOPE}"'


async def _admin_actor(rt: RuntimeDep, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """Who is acting: the verified admin client, or 401/403 with an RFC 6750 §3 challenge."""
    if credentials is None:
        raise InvalidToken(f"Send Authorization: Bearer <access token with {ADMIN_SCOPE}>",
                           headers={"WWW-Authenticate": _REALM})
    claims, client = await _verified_claims(rt, credentials.credentials)
    if ADMIN_SCOPE not in str(claims.get("scope", "")).split():
        raise InsufficientScope(f"This API needs the {ADMIN_SCOPE} scope", headers={
            "WWW-Authenticate": f'{_REALM}, error="insufficient_scope"'},
            extra={"required_scopes": [ADMIN_SCOPE]})
    if not client.operator and not await _operator_owner(rt, claims, client):
        raise InsufficientScope("This API is for operator clients and operator owners only",
                                headers={"WWW-Authenticate":
                                         f'{_REALM}, error="insufficient_scope"'})
    return f"admin-api:{claims['client_id']}"


async def _operator_owner(rt: Runtime, claims: dict[str, Any], client: Client) -> bool:
    """True when the token's subject is an owner (not the client itself) who is an operator."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or sub == client.client_id:
        return False
    owner = await rt.stores.owners.get_owner(sub)
    return owner is not None and owner.is_operator and not owner.disabled


async def _verified_claims(rt: Runtime, token: str) -> tuple[dict[str, Any], Client]:
    server = rt.server
    claims = server.keyring.verify(token)
    aud = claims.get("aud") if claims else None
    auds = {aud} if isinstance(aud, str) else set(aud or ())
    ok = (claims is not None and claims.get("exp", 0) > server.clock.now()
          and bool(auds & {server.config.issuer, server.config.audience})
          and not await claims_revoked(server.stores.revocations, claims))
    entry = await server.directory.lookup(str(claims.get("client_id"))) if ok and claims else None
    if claims is None or entry is None or not entry.client.is_active:
        raise InvalidToken("Invalid, expired or revoked access token", headers={
            "WWW-Authenticate": f'{_REALM}, error="invalid_token"'})
    return claims, entry.client


Actor = Annotated[str, Depends(_admin_actor)]
router = APIRouter(prefix="/admin", tags=["admin"], route_class=GuardedRoute)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[str] | None = None
    reason: str | None = None


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = None


class TrustChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int
    reason: str | None = None


@router.get("/approvals")
async def approvals(rt: RuntimeDep, actor: Actor,
                    status: Literal["pending", "approved", "denied"] | None = None) -> Response:
    """Approval requests, oldest first (optionally by status)."""
    return json_response([approval_view(a) for a in await rt.stores.approvals.list_approvals(
        status)])


@router.post("/approvals/{request_id}/approve")
async def approve(request_id: str, rt: RuntimeDep, actor: Actor,
                  body: Decision | None = None) -> Response:
    """Approve all the requested scopes, or a narrower ``scopes`` subset."""
    body = body or Decision()
    return json_response(approval_view(await rt.admin.decide(
        request_id, True, scopes=body.scopes, actor=actor, reason=body.reason)))


@router.post("/approvals/{request_id}/deny")
async def deny(request_id: str, rt: RuntimeDep, actor: Actor,
               body: Reason | None = None) -> Response:
    """Deny the request; the agent keeps its other scopes."""
    reason = body.reason if body else None
    return json_response(approval_view(await rt.admin.decide(
        request_id, False, actor=actor, reason=reason)))


@router.get("/agents")
async def agents(rt: RuntimeDep, actor: Actor) -> Response:
    """Every self-registered agent (clients with an ``agent_type``)."""
    return json_response([agent_view(c) for c in await rt.admin.list_clients()
                          if c.agent_type is not None])


@router.get("/agents/{client_id}")
async def agent(client_id: str, rt: RuntimeDep, actor: Actor) -> Response:
    """One agent as it sees itself at ``/agents/me``."""
    return json_response(await rt.agents.status(await rt.admin.get_client(client_id)))


@router.post("/agents/{client_id}/suspend")
async def suspend(client_id: str, rt: RuntimeDep, actor: Actor,
                  body: Reason | None = None) -> Response:
    """Kill switch: no new tokens; outstanding ones are revoked."""
    revoked = await rt.admin.suspend(client_id, actor=actor, reason=body.reason if body else None)
    return json_response({"client_id": client_id, "status": "suspended",
                          "revoked_tokens": revoked})


@router.post("/agents/{client_id}/trust")
async def trust(client_id: str, body: TrustChange, rt: RuntimeDep, actor: Actor) -> Response:
    """Set the trust level; newly allowed scopes work at the agent's next token request."""
    client = await rt.admin.set_trust(client_id, body.level, actor=actor, reason=body.reason)
    return json_response(agent_view(client))


@router.get("/audit")
async def audit(rt: RuntimeDep, actor: Actor, client_id: str | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    """Audit events, newest first."""
    await rt.server.audit.flush()
    events = await rt.stores.audit.recent(limit, client_id)
    return json_response([describe_event(e) for e in events])
