"""What one owner may see and do (DESIGN §5): the one place owner scoping is enforced.

A non-operator owner sees and acts on the clients whose ``owner`` is their ``owner_id``; an
operator sees every client. Anything else looks exactly like an unknown id (``NotFound``), so
ids of other owners' agents leak nothing. Every action goes through ``core.admin.Admin``, the
same functions the CLI and the admin API call, with the actor ``console:<email>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gatepass.core.usage import flush_audit
from gatepass.errors import AccessDenied, InvalidRequest, NotFound
from gatepass.models import ApprovalRequest, ApprovalStatus, AuditEvent, Client, ClientSecret

if TYPE_CHECKING:
    from gatepass.core.admin import Admin
    from gatepass.core.server import AuthorizationServer
    from gatepass.models import Owner

__all__ = ["OwnerView"]


class OwnerView:
    """Admin actions as ``owner`` may perform them."""

    def __init__(self, server: AuthorizationServer, admin: Admin, owner: Owner) -> None:
        self._server = server
        self._admin = admin
        self.owner = owner
        self.actor = f"console:{owner.email}"

    def can_see(self, client: Client) -> bool:
        return self.owner.is_operator or client.owner == self.owner.owner_id

    def require_operator(self) -> None:
        if not self.owner.is_operator:
            raise AccessDenied("Only operators may do this")

    async def clients(self) -> list[Client]:
        """Visible clients, newest first."""
        found = [c for c in await self._admin.list_clients() if self.can_see(c)]
        return sorted(found, key=lambda c: c.created_at, reverse=True)

    async def client(self, client_id: str) -> Client:
        client = await self._server.stores.clients.get_client(client_id)
        if client is None or not self.can_see(client):
            raise NotFound(f"No agent {client_id}")
        return client

    async def approvals(self, status: ApprovalStatus | None = "pending") -> list[ApprovalRequest]:
        visible = {c.client_id for c in await self.clients()}
        found = await self._server.stores.approvals.list_approvals(status)
        return [a for a in found if a.client_id in visible]

    async def decide(self, request_id: str, approve: bool, *,
                     scopes: Sequence[str] | None = None,
                     reason: str | None = None) -> ApprovalRequest:
        """Approve (all, or the ``scopes`` subset) or deny one visible approval request."""
        request = await self._server.stores.approvals.get_approval(request_id)
        if request is None:
            raise NotFound(f"No approval request {request_id}")
        await self.client(request.client_id)
        if approve and scopes is not None and not scopes:
            raise InvalidRequest("Pick at least one scope to approve, or deny the request")
        return await self._admin.decide(request_id, approve, scopes=scopes, actor=self.actor,
                                        reason=reason)

    async def suspend(self, client_id: str, *, reason: str | None = None) -> int:
        """The kill switch; returns how many outstanding tokens were revoked."""
        await self.client(client_id)
        return await self._admin.suspend(client_id, actor=self.actor, reason=reason)

    async def reactivate(self, client_id: str, *, reason: str | None = None) -> Client:
        """Lift a suspension (operators only: an owner cannot undo an operator's kill switch)."""
        self.require_operator()
        await self.client(client_id)
        return await self._admin.set_status(client_id, "active", actor=self.actor,
                                            reason=reason)

    async def set_trust(self, client_id: str, level: int, *,
                        reason: str | None = None) -> Client:
        await self.client(client_id)
        return await self._admin.set_trust(client_id, level, actor=self.actor, reason=reason)

    async def secrets(self, client_id: str) -> list[ClientSecret]:
        await self.client(client_id)
        return await self._server.stores.clients.list_secrets(client_id)

    async def rotate_secret(self, client_id: str) -> str:
        """A new secret (shown once); the old ones expire after the configured grace."""
        await self.client(client_id)
        grace = self._server.config.agents.secret_grace
        secret, _ = await self._admin.rotate_secret(client_id, grace_seconds=grace,
                                                    actor=self.actor)
        return secret

    async def drop_secret(self, client_id: str, secret_id: str) -> None:
        await self.client(client_id)
        await self._admin.drop_secret(client_id, secret_id, actor=self.actor)

    async def audit_trail(self, client_id: str, limit: int = 50) -> list[AuditEvent]:
        """The agent's newest audit events first."""
        await self.client(client_id)
        await flush_audit(self._server)
        return await self._server.stores.audit.recent(limit, client_id)
