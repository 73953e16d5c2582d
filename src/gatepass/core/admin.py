"""Operator actions shared by the CLI, the admin API and the console (same rules, same audit)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gatepass.core.credentials import new_client_id, new_secret
from gatepass.errors import InvalidClientMetadata, InvalidScope, NotFound
from gatepass.models import Client, ClientSecret, ClientStatus
from gatepass.scopes import parse_scope

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
        **fields: Any,
    ) -> CreatedClient:
        """Create a confidential client; key-based (``private_key_jwt``) when keys are given."""
        allowed = parse_scope(scopes)
        self._check_scopes(allowed)
        if jwks is not None and jwks_uri is not None:
            raise InvalidClientMetadata("Give jwks or jwks_uri, not both")
        if jwks is not None and not isinstance(jwks.get("keys"), list):
            raise InvalidClientMetadata("jwks must be a JWK Set with a 'keys' array")
        now = self._server.clock.now()
        keyed = jwks is not None or jwks_uri is not None
        client = Client(
            client_id=new_client_id(fields.pop("client_id_prefix", "client_")),
            name=name,
            created_at=now,
            allowed_scopes=allowed,
            allowed_resources=tuple(resources),
            token_endpoint_auth_method="private_key_jwt" if keyed else "client_secret_basic",
            jwks=jwks,
            jwks_uri=jwks_uri,
            **fields,
        )
        secret = None if keyed else new_secret()
        stored = [] if secret is None else [self._secret_record(client.client_id, secret, now)]
        await self._store.create_client(client, stored)
        self._server.audit.emit("client.created", "success", client_id=client.client_id,
                                scopes=allowed, actor=actor, auth_method=client.token_endpoint_auth_method)
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
        self._server.directory.invalidate(client_id)
        self._server.audit.emit(f"client.{status}", "success", client_id=client_id, actor=actor,
                                reason=reason)
        return client

    async def rotate_secret(self, client_id: str, *, grace_seconds: float = 86_400,
                            actor: str = "cli") -> tuple[str, list[ClientSecret]]:
        """Add a new secret; existing ones expire after ``grace_seconds`` (no downtime)."""
        client = await self.get_client(client_id)
        if client.uses_private_key_jwt:
            raise InvalidClientMetadata("This client authenticates with keys, not secrets")
        now = self._server.clock.now()
        secret = new_secret()
        await self._store.add_secret(self._secret_record(client_id, secret, now))
        for old in await self._store.list_secrets(client_id):
            if old.digest != self._server.hasher.digest(secret):
                until = now + grace_seconds
                if old.expires_at is None or old.expires_at > until:
                    await self._store.expire_secret(old.secret_id, until)
        self._server.directory.invalidate(client_id)
        self._server.audit.emit("client.secret_rotated", "success", client_id=client_id,
                                actor=actor, grace_seconds=grace_seconds)
        return secret, await self._store.list_secrets(client_id)
