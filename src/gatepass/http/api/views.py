"""JSON views of domain records for the API (never a secret or a digest)."""

from __future__ import annotations

from typing import Any

from gatepass.models import ApprovalRequest, Client

__all__ = ["agent_view", "approval_view"]


def approval_view(a: ApprovalRequest) -> dict[str, Any]:
    return {"request_id": a.request_id, "client_id": a.client_id, "scopes": list(a.scopes),
            "status": a.status, "granted": list(a.granted), "created_at": a.created_at,
            "decided_at": a.decided_at, "decided_by": a.decided_by, "reason": a.reason}


def agent_view(c: Client) -> dict[str, Any]:
    return {"client_id": c.client_id, "agent_name": c.name, "agent_type": c.agent_type,
            "status": c.status, "tier": c.tier, "trust_level": c.trust_level,
            "allowed_scopes": list(c.allowed_scopes),
            "token_endpoint_auth_method": c.token_endpoint_auth_method,
            "owner": c.owner or c.metadata.get("owner_hint"), "created_at": c.created_at,
            "registered_via": c.metadata.get("registered_via")}
