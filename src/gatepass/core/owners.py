"""Owner accounts (DESIGN §5): Argon2id passwords, sign-in, and owner <-> agent linkage.

An agent may name an owner at registration (``metadata["owner_hint"]``, an email); that names
nobody until the owner with that email **confirms** it, which sets ``Client.owner``. No agent
can claim an owner by itself. Sign-in does the same work for an unknown email as for a wrong
password (a verify against a dummy hash) and fails with the same message.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import replace
from typing import TYPE_CHECKING

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gatepass.errors import InvalidRequest, NotFound, OAuthError
from gatepass.models import Client, Owner
from gatepass.storage.base import ConflictError

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer
    from gatepass.storage.base import OwnerStore

__all__ = [
    "LOGIN_FAILED",
    "LoginFailed",
    "Owners",
    "check_password",
    "normalise_email",
    "password_hasher",
]

LOGIN_FAILED = "Unknown email or wrong password"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_EMAIL = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class LoginFailed(OAuthError):
    """Sign-in refused: one message for an unknown account, a wrong password or a disabled one."""

    error = "access_denied"
    status = 401

    def __init__(self) -> None:
        super().__init__(LOGIN_FAILED)


def normalise_email(email: str) -> str:
    """Trimmed and lower-cased; ``InvalidRequest`` unless it looks like ``local@domain``."""
    value = email.strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        raise InvalidRequest("Give an email address such as owner@example.com")
    return value


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(f"Passwords need {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def password_hasher() -> PasswordHasher:
    """The default: Argon2id with RFC 9106's second recommended parameters (t=3, 64 MiB, p=4)."""
    return PasswordHasher(time_cost=3, memory_cost=65_536, parallelism=4, type=Type.ID)


def _hint(client: Client) -> str | None:
    hint = client.metadata.get("owner_hint")
    try:
        return normalise_email(hint) if isinstance(hint, str) else None
    except InvalidRequest:
        return None


class Owners:
    """Owner accounts and their claims on agents, with an audit event for every change."""

    def __init__(self, server: AuthorizationServer, store: OwnerStore,
                 hasher: PasswordHasher | None = None) -> None:
        self._server = server
        self._store = store
        self._hasher = hasher or password_hasher()
        self._dummy: str | None = None

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    def _verify(self, digest: str, password: str) -> bool:
        try:
            return self._hasher.verify(digest, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def create(self, email: str, password: str, *, operator: bool = False,
                     actor: str) -> Owner:
        email = normalise_email(email)
        check_password(password)
        if await self._store.get_owner_by_email(email) is not None:
            raise InvalidRequest(f"An owner with the email {email} already exists")
        owner = Owner(owner_id="own_" + secrets.token_hex(8), email=email,
                      password_hash=await self._hash(password),
                      created_at=self._server.clock.now(), is_operator=operator)
        try:
            await self._store.create_owner(owner)
        except ConflictError as exc:
            raise InvalidRequest(f"An owner with the email {email} already exists") from exc
        self._server.audit.emit("owner.created", "success", actor=actor, owner_id=owner.owner_id,
                                email=email, operator=operator)
        return owner

    async def get(self, email: str) -> Owner:
        owner = await self._store.get_owner_by_email(normalise_email(email))
        if owner is None:
            raise NotFound(f"No owner {email}")
        return owner

    async def list_owners(self) -> list[Owner]:
        return await self._store.list_owners()

    async def authenticate(self, email: str, password: str) -> Owner:
        """The owner, or ``LoginFailed`` after the same Argon2 work whatever went wrong."""
        try:
            owner = await self._store.get_owner_by_email(normalise_email(email))
        except InvalidRequest:
            owner = None
        if self._dummy is None:
            self._dummy = await self._hash(secrets.token_urlsafe(16))
        digest = owner.password_hash if owner is not None else self._dummy
        ok = await asyncio.to_thread(self._verify, digest, password[:MAX_PASSWORD])
        if owner is None or owner.disabled or not ok:
            self._server.audit.emit("owner.login", "failure", actor="console",
                                    email=email.strip().lower()[:MAX_EMAIL],
                                    reason="unknown" if owner is None else "refused")
            raise LoginFailed()
        if self._hasher.check_needs_rehash(owner.password_hash):
            owner = replace(owner, password_hash=await self._hash(password))
            await self._store.update_owner(owner)
        self._server.audit.emit("owner.login", "success", actor=f"owner:{owner.email}",
                                owner_id=owner.owner_id)
        return owner

    async def set_password(self, email: str, password: str, *, actor: str) -> Owner:
        """Replace the password and end every console session of the owner."""
        check_password(password)
        owner = replace(await self.get(email), password_hash=await self._hash(password))
        await self._store.update_owner(owner)
        ended = await self._server.stores.sessions.delete_owner_sessions(owner.owner_id)
        self._server.audit.emit("owner.password_changed", "success", actor=actor,
                                owner_id=owner.owner_id, sessions_ended=ended)
        return owner

    async def set_disabled(self, email: str, disabled: bool, *, actor: str) -> Owner:
        """Disable (no sign-in, every console session ended) or enable the owner again."""
        owner = replace(await self.get(email), disabled=disabled)
        await self._store.update_owner(owner)
        ended = 0
        if disabled:
            ended = await self._server.stores.sessions.delete_owner_sessions(owner.owner_id)
        self._server.audit.emit("owner.disabled" if disabled else "owner.enabled", "success",
                                actor=actor, owner_id=owner.owner_id, sessions_ended=ended)
        return owner

    async def set_operator(self, email: str, operator: bool, *, actor: str) -> Owner:
        owner = replace(await self.get(email), is_operator=operator)
        await self._store.update_owner(owner)
        self._server.audit.emit("owner.operator_changed", "success", actor=actor,
                                owner_id=owner.owner_id, operator=operator)
        return owner

    async def claims(self, owner: Owner) -> list[Client]:
        """Unowned agents whose registration named this owner's email, oldest first."""
        found = [c for c in await self._server.stores.clients.list_clients()
                 if c.owner is None and _hint(c) == owner.email]
        return sorted(found, key=lambda c: c.created_at)

    async def _claim(self, owner: Owner, client_id: str) -> Client:
        client = await self._server.stores.clients.get_client(client_id)
        if client is None or client.owner is not None or _hint(client) != owner.email:
            raise NotFound(f"No agent {client_id} waits for your confirmation")
        return client

    async def confirm(self, owner: Owner, client_id: str) -> Client:
        """Attach the agent to this owner (it named them at registration)."""
        client = replace(await self._claim(owner, client_id), owner=owner.owner_id)
        await self._store_client(client)
        self._server.audit.emit("owner.claim_confirmed", "success", client_id=client_id,
                                actor=f"owner:{owner.email}", owner_id=owner.owner_id)
        return client

    async def reject(self, owner: Owner, client_id: str, *, reason: str | None = None) -> Client:
        """Refuse the claim: the hint is dropped (kept as ``owner_hint_rejected``)."""
        client = await self._claim(owner, client_id)
        meta = {k: v for k, v in client.metadata.items() if k != "owner_hint"}
        meta["owner_hint_rejected"] = client.metadata.get("owner_hint")
        client = replace(client, metadata=meta)
        await self._store_client(client)
        self._server.audit.emit("owner.claim_rejected", "success", client_id=client_id,
                                actor=f"owner:{owner.email}", reason=reason,
                                owner_id=owner.owner_id)
        return client

    async def _store_client(self, client: Client) -> None:
        await self._server.stores.clients.update_client(client)
        await self._server.directory.changed(client.client_id)
