"""Agent self-service (DESIGN §5): register, see its own state, rotate its secret.

``POST /agents/register`` answers 201 with the credentials once (the guide's Step 3 shape), 400
``tos_required``, 402 ``billing_required`` or another OAuth error. Secret management needs the
registration access token (like RFC 7592 §3): an access token that leaked to a resource server
must not be able to mint long-lived credentials.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from starlette.responses import Response

from gatepass.core.provisioning import RAT_PREFIX
from gatepass.errors import AccessDenied, InvalidClientMetadata, InvalidToken
from gatepass.http.api._shared import GuardedRoute, RuntimeDep, SourcePolicyDep, bearer
from gatepass.http.gates import source_address
from gatepass.http.jsonbody import read_json
from gatepass.http.responses import json_response
from gatepass.models import Client

__all__ = ["router"]

router = APIRouter(prefix="/agents", tags=["agents"], route_class=GuardedRoute)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class AgentRegistration(BaseModel):
    """The registration request (documentation only: the core validates the raw body). The RFC
    7591 names are understood too (``client_name`` stands for an absent ``agent_name``); other
    fields are ignored and listed in the answer's ``ignored_metadata``."""

    agent_name: str | None = None
    agent_type: Literal["autonomous", "supervised", "tool"] = "autonomous"
    requested_scopes: list[str] | str = []
    tos_accepted: bool
    billing_token: str | None = None
    owner: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    software_statement: str | None = None
    client_name: str | None = None
    scope: str | None = None
    grant_types: list[str] | None = None
    response_types: list[str] | None = None
    redirect_uris: list[str] | None = None
    token_endpoint_auth_method: str | None = None
    token_endpoint_auth_signing_alg: str | None = None


_REGISTRATION_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": AgentRegistration.model_json_schema()}}}}


async def _current_agent(request: Request, rt: RuntimeDep, credentials: Bearer) -> Client:
    return await rt.agents.identify(request.headers.get("authorization"))


async def _managing_agent(request: Request, client: Annotated[Client, Depends(_current_agent)]
                          ) -> Client:
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    if not token.startswith(RAT_PREFIX):
        raise InvalidToken("Managing secrets needs the registration access token", headers={
            "WWW-Authenticate": 'Bearer realm="gatepass", error="invalid_token"'})
    if not client.is_active:
        raise AccessDenied(f"This agent is {client.status}")
    return client


CurrentAgent = Annotated[Client, Depends(_current_agent)]
ManagingAgent = Annotated[Client, Depends(_managing_agent)]


@router.post("/register", status_code=201, openapi_extra=_REGISTRATION_BODY)
async def register(request: Request, rt: RuntimeDep, policy: SourcePolicyDep) -> Response:
    """Register an agent: ToS, billing, abuse gates, scopes by tier, trust and approval."""
    body = await read_json(request, rt.settings.max_body_bytes, InvalidClientMetadata)
    return json_response(await rt.agents.register(body, source_address(request, policy)), 201)


@router.get("/me")
async def me(rt: RuntimeDep, client: CurrentAgent) -> Response:
    """The calling agent's status, scopes, pending approvals and secrets (ids only)."""
    return json_response(await rt.agents.status(client))


@router.post("/me/secrets", status_code=201)
async def rotate_secret(rt: RuntimeDep, client: ManagingAgent) -> Response:
    """A new secret, shown once; the others stay valid for the configured grace period."""
    grace = rt.settings.agents.secret_rotation_grace
    secret, all_ = await rt.admin.rotate_secret(client.client_id, grace_seconds=grace,
                                                actor=f"agent:{client.client_id}")
    new_id = next(s.secret_id for s in all_ if rt.server.hasher.matches(secret, s.digest))
    return json_response({
        "client_id": client.client_id, "client_secret": secret, "secret_id": new_id,
        "secrets": [{"secret_id": s.secret_id, "created_at": s.created_at,
                     "expires_at": s.expires_at} for s in all_],
        "warning": "Store the client_secret securely. It cannot be retrieved again.",
    }, 201)


@router.delete("/me/secrets/{secret_id}", status_code=204)
async def drop_secret(secret_id: str, rt: RuntimeDep, client: ManagingAgent) -> Response:
    """Drop one secret now (e.g. the old one, before its grace period ends)."""
    await rt.admin.drop_secret(client.client_id, secret_id, actor=f"agent:{client.client_id}")
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
