"""Operator actions shared by the CLI, the admin API and the console (same rules, same audit)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gatepass.core.credentials import new_client_id, new_secret
from gatepass.core.revocation import revoke_outstanding
from gatepass.errors import InvalidClientMetadata, InvalidRequest, InvalidScope, NotFound
from gatepass.keys import RotationReport, rotate
from gatepass.models import ApprovalRequest, Client, ClientSecret, ClientStatus
from gatepass.scopes import parse_scope
from gatepass.storage.base import ConflictError

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = ["Admin", "CreatedClient"]


class CreatedClient:
    """A new client and its secret (shown once; None for key-based clients)."""

    def __init__(self, client: Client, secret: str | None) -> None:
        self.client = client
        self.secret = secret


class Admin:
    """Client administration on top of the server's stores, cache and audit trail."""

    def __init__(self, server: AuthorizationServer) -> None:
        self._server = server
        self._store = server.stores.clients

    def _check_scopes(self, scopes: Sequence[str]) -> None:
        unknown = [s for s in scopes if self._server.config.scope(s) is None]
        if unknown:
            raise InvalidScope(f"Unknown scope: {' '.join(unknown)}")

    async def create_client(
        self,
        name: str,
        scopes: str | Sequence[str],
        *,
        jwks: Mapping[str, Any] | None = None,
        jwks_uri: str | None = None,
        resources: Sequence[str] = (),
        actor: str = "cli",
        operator: bool = False,
        **fields: Any,
    ) -> CreatedClient:
        """Create a confidential client; key-based (``private_key_jwt``) when keys are given.

        Only an ``operator`` client (the operator's own tooling) may list internal scopes.
        """
        allowed = parse_scope(scopes)
        self._check_scopes(allowed)
        internal = [s for s in allowed if (spec := self._server.config.scope(s)) and spec.internal]
        if internal and not operator:
            raise InvalidScope(f"Scope {' '.join(internal)} is reserved for operator clients; "
                               "create the client as an operator client (--operator)")
        if jwks is not None and jwks_uri is not None:
            raise InvalidClientMetadata("Give jwks or jwks_uri, not both")
        if jwks is not None and not isinstance(jwks.get("keys"), list):
            raise InvalidClientMetadata("jwks must be a JWK Set with a 'keys' array")
        now = self._server.clock.now()
        keyed = jwks is not None or jwks_uri is not None
        fields.setdefault("trust_level", self._server.config.agents.max_trust)
        client = Client(
            client_id=new_client_id(fields.pop("client_id_prefix", "client_")),
            name=name,
            created_at=now,
            allowed_scopes=allowed,
            allowed_resources=tuple(resources),
            token_endpoint_auth_method="private_key_jwt" if keyed else "client_secret_basic",
            jwks=jwks,
            jwks_uri=jwks_uri,
            operator=operator,
            **fields,
        )
        secret = None if keyed else new_secret()
        stored = [] if secret is None else [self._secret_record(client.client_id, secret, now)]
        await self._store.create_client(client, stored)
        self._server.audit.emit("client.created", "success", client_id=client.client_id,
                                scopes=allowed, actor=actor, operator=operator,
                                auth_method=client.token_endpoint_auth_method)
        return CreatedClient(client, secret)

    def _secret_record(self, client_id: str, secret: str, now: float,
                       expires_at: float | None = None) -> ClientSecret:
        return ClientSecret(secret_id=secrets.token_hex(8), client_id=client_id,
                            digest=self._server.hasher.digest(secret), created_at=now,
                            expires_at=expires_at)

    async def get_client(self, client_id: str) -> Client:
        client = await self._store.get_client(client_id)
        if client is None:
            raise NotFound(f"No client {client_id}")
        return client

    async def list_clients(self) -> list[Client]:
        return await self._store.list_clients()

    async def set_status(self, client_id: str, status: ClientStatus, *, actor: str = "cli",
                         reason: str | None = None) -> Client:
        client = replace(await self.get_client(client_id), status=status)
        await self._store.update_client(client)
        await self._server.directory.changed(client_id)
        self._server.audit.emit(f"client.{status}", "success", client_id=client_id, actor=actor,
                                reason=reason)
        return client

    async def rotate_secret(self, client_id: str, *, grace_seconds: float = 86_400,
                            actor: str = "cli") -> tuple[str, list[ClientSecret]]:
        """Add a new secret; the newest old one stays valid for ``grace_seconds`` (no downtime)
        and any older one goes now, so a client never holds more than two. Atomic in the store:
        racing rotations leave the newest secret plus at most one in grace."""
        client = await self.get_client(client_id)
        if client.uses_private_key_jwt:
            raise InvalidClientMetadata("This client authenticates with keys, not secrets")
        now = self._server.clock.now()
        secret = new_secret()
        try:
            after = await self._store.rotate_secret(self._secret_record(client_id, secret, now),
                                                    now + grace_seconds, now)
        except KeyError as exc:
            raise NotFound(f"No client {client_id}") from exc
        await self._server.directory.changed(client_id)
        self._server.audit.emit("client.secret_rotated", "success", client_id=client_id,
                                actor=actor, grace_seconds=grace_seconds)
        return secret, after

    async def drop_secret(self, client_id: str, secret_id: str, *, actor: str = "cli") -> None:
        """Remove one secret now (e.g. the old one, before its grace period ends); never the
        client's last valid one (409)."""
        try:
            await self._store.drop_secret(client_id, secret_id, self._server.clock.now())
        except KeyError as exc:
            raise NotFound(f"No secret {secret_id} for {client_id}") from exc
        except ConflictError as exc:
            raise InvalidRequest("Cannot drop the last secret; rotate first",
                                 status=409) from exc
        await self._server.directory.changed(client_id)
        self._server.audit.emit("client.secret_dropped", "success", client_id=client_id,
                                actor=actor, secret_id=secret_id)

    async def decide(self, request_id: str, approve: bool, *, scopes: Sequence[str] | None = None,
                     actor: str, reason: str | None = None) -> ApprovalRequest:
        """Approve (all or a narrower subset) or deny a pending approval request."""
        approvals = self._server.stores.approvals
        request = await approvals.get_approval(request_id)
        if request is None:
            raise NotFound(f"No approval request {request_id}")
        granted: tuple[str, ...] = ()
        if approve:
            granted = request.scopes if scopes is None else tuple(parse_scope(list(scopes)))
            extra = [s for s in granted if s not in request.scopes]
            if extra:
                raise InvalidScope(f"Not part of the request: {' '.join(extra)}")
        try:
            decided = await approvals.decide_approval(
                request_id, "approved" if approve else "denied", granted, actor, reason,
                self._server.clock.now())
        except ConflictError as exc:
            raise InvalidRequest(f"Approval request {request_id} was already decided") from exc
        if granted:
            client = await self.get_client(request.client_id)
            merged = tuple(dict.fromkeys((*client.allowed_scopes, *granted)))
            await self._store.update_client(replace(client, allowed_scopes=merged))
            await self._server.directory.changed(client.client_id)
        self._server.audit.emit(f"approval.{decided.status}", "success",
                                client_id=request.client_id, scopes=granted, actor=actor,
                                reason=reason, request_id=request_id,
                                requested=list(request.scopes))
        return decided

    async def suspend(self, client_id: str, *, actor: str, reason: str | None = None) -> int:
        """Kill switch: no more tokens, and every token issued so far is revoked by cutoff.

        The suspension is announced to every instance first; the cutoff is taken once it has
        reached them (twice ``client_sync_interval`` when other processes share the stores), so
        a token issued anywhere before this returns is refused, and none is issued after.
        Returns how many unexpired tokens the audit trail lists (see ``revoke_outstanding``)."""
        await self.set_status(client_id, "suspended", actor=actor, reason=reason)
        settle = 2 * self._server.config.client_sync_interval
        return await revoke_outstanding(self._server, client_id, actor=actor,
                                        settle=settle if self._server.stores.changes else 0.0)

    async def revoke_tokens(self, client_id: str, *, actor: str) -> int:
        """Revoke every token issued to a client so far (by cutoff) without suspending it."""
        await self.get_client(client_id)
        return await revoke_outstanding(self._server, client_id, actor=actor)

    async def set_trust(self, client_id: str, level: int, *, actor: str,
                        reason: str | None = None) -> Client:
        """Promote (or demote) an agent's trust level; takes effect at its next token request."""
        policy = self._server.config.agents
        if not 0 <= level <= policy.max_trust:
            raise InvalidRequest(f"Trust level must be between 0 and {policy.max_trust}")
        client = replace(await self.get_client(client_id), trust_level=level)
        await self._store.update_client(client)
        await self._server.directory.changed(client_id)
        self._server.audit.emit("client.trust_changed", "success", client_id=client_id,
                                actor=actor, reason=reason, trust_level=level)
        return client

    async def apply_promotion_rules(self, client_id: str) -> int | None:
        """Promote one level when the configured age and usage rules hold and no violations
        (refusals for scope or suspension) are on record. Returns the new level, or None."""
        client = await self.get_client(client_id)
        policy = self._server.config.agents
        nxt = client.trust_level + 1
        if client.agent_type is None or nxt > policy.max_trust or not client.is_active:
            return None
        audit = self._server.stores.audit
        if self._server.clock.now() - client.created_at < policy.promotion_min_age[nxt]:
            return None
        if await audit.count(client_id, "token.issued") < policy.promotion_min_tokens[nxt]:
            return None
        if await audit.count(client_id, "client.suspended") or await audit.count(
                client_id, "token.refused"):
            return None
        await self.set_trust(client_id, nxt, actor="promotion-rules", reason="rules met")
        return nxt

    async def rotate_keys(self, *, actor: str, force: bool = False) -> RotationReport:
        """One step of the signing-key lifecycle (``keys.rotation.rotate``), audited; the same
        for the CLI and the console."""
        server = self._server
        cfg = server.config
        report = await rotate(server.stores.keys, server.sealer, cfg.signing_alg, server.clock,
                              publish_delay=cfg.jwks_max_age, token_ttl=cfg.access_token_ttl,
                              force=force)
        server.audit.emit("keys.rotated", "success", actor=actor, actions=report.actions,
                          forced=force)
        return report
