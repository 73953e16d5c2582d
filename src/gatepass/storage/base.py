"""Narrow async storage contracts the core depends on; backends return ``models`` objects.

Each consumer asks only for the protocol it uses. Every backend passes the one contract suite in
``tests/storage``. Writes that belong together (a client and its first secret) are atomic: a
failed call leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gatepass.models import (
    ApprovalRequest,
    ApprovalStatus,
    AuditEvent,
    AuthorizationCode,
    BillingToken,
    Client,
    ClientSecret,
    ConsoleSession,
    KeyState,
    Owner,
    RefreshToken,
    SigningKey,
)

__all__ = [
    "ApprovalStore",
    "AuditLog",
    "BillingStore",
    "ClientChanges",
    "ClientStore",
    "ConflictError",
    "DataRejected",
    "GrantStore",
    "KeyStore",
    "OwnerStore",
    "ReplayCache",
    "RevocationStore",
    "SessionStore",
    "StorageError",
    "Stores",
    "email_key",
    "kept_in_grace",
]


class StorageError(Exception):
    """The backend could not complete the operation (connection lost, timeout, ...)."""


class DataRejected(StorageError):
    """The backend refused the data itself (an invalid character, a value too long): retrying
    the same write fails again, unlike a lost connection."""


class ConflictError(StorageError):
    """A record with the same identifier already exists."""


class ClientStore(Protocol):
    async def get_client(self, client_id: str) -> Client | None: ...

    async def create_client(self, client: Client, secrets: Sequence[ClientSecret] = (),
                            approval: ApprovalRequest | None = None) -> None:
        """Insert a client with its initial secrets and the approval request for its pending
        scopes, atomically; ``ConflictError`` if the id, or its ``registration_fingerprint``,
        exists."""

    async def update_client(self, client: Client) -> None:
        """Replace a client's record; ``KeyError`` if it does not exist."""

    async def list_clients(self) -> list[Client]: ...

    async def add_secret(self, secret: ClientSecret) -> None: ...

    async def list_secrets(self, client_id: str) -> list[ClientSecret]: ...

    async def expire_secret(self, secret_id: str, expires_at: float) -> None:
        """Set (or shorten) a secret's expiry; ``KeyError`` if unknown."""

    async def delete_secret(self, secret_id: str) -> None: ...

    async def rotate_secret(
        self, secret: ClientSecret, grace_until: float, now: float
    ) -> list[ClientSecret]:
        """Add ``secret``. Of the client's other secrets only the newest still valid at ``now``
        stays, expiring by ``grace_until``; the others are deleted. One transaction with the
        client locked: racing rotations leave the newest secret plus at most one in grace.
        ``KeyError`` if the client is unknown. The client's secrets afterwards, oldest first."""

    async def drop_secret(self, client_id: str, secret_id: str, now: float) -> None:
        """Delete one secret of a client, unless no other secret valid at ``now`` would remain
        (``ConflictError``); ``KeyError`` if the client has no such secret. The client is
        locked: racing drops never leave it without a valid secret."""

    async def find_by_registration_token(self, digest: str) -> Client | None:
        """The client whose ``registration_token_digest`` equals ``digest``."""

    async def find_by_fingerprint(self, fingerprint: str, since: float) -> Client | None:
        """The newest client with ``registration_fingerprint`` created at or after ``since``."""

    async def release_fingerprint(self, fingerprint: str, before: float) -> None:
        """Clear ``fingerprint`` from clients created before ``before`` (dedup window over)."""

    async def delete_client(self, client_id: str) -> None:
        """Remove a client and its secrets (RFC 7592 §2.3); ``KeyError`` if unknown."""


class KeyStore(Protocol):
    async def list_keys(self) -> list[SigningKey]:
        """All keys, retired included, oldest first."""

    async def add_key(self, key: SigningKey) -> None: ...

    async def set_key_state(self, kid: str, state: KeyState, at: float) -> None:
        """Move a key to ``state``; ``KeyError`` if unknown."""


class RevocationStore(Protocol):
    async def revoke(self, jti: str, expires_at: float, revoked_at: float) -> None:
        """Record ``jti`` as revoked until ``expires_at`` (the token's own ``exp``); idempotent."""

    async def is_revoked(self, jti: str) -> bool: ...

    async def revoked_since(self, since: float) -> list[tuple[str, float]]:
        """(jti, expires_at) of revocations with ``revoked_at >= since``, oldest first."""

    async def revoked_page(
        self, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[str, float, float]]:
        """At most ``limit`` (jti, expires_at, revoked_at), ordered by (revoked_at, jti) and
        strictly after the position ``after`` = (revoked_at, jti); from the start when None."""

    async def revoke_client(self, client_id: str, before: float, expires_at: float) -> None:
        """Revoke every token of ``client_id`` whose ``iat`` is earlier than ``before``, kept
        until ``expires_at`` (when no such token can still be unexpired). A later cutoff
        replaces an earlier one, never the reverse (idempotent, order-free)."""

    async def token_revoked(self, jti: str, client_id: str | None, issued_at: float | None) -> bool:
        """Whether a token is revoked: its ``jti`` alone, or its client's cutoff is later than
        its ``iat`` (a token without ``iat`` counts as issued before any cutoff)."""

    async def client_cutoffs(self, now: float) -> list[tuple[str, float, float]]:
        """(client_id, revoked_before, expires_at) of every cutoff unexpired at ``now``."""

    async def purge_expired(self, now: float) -> int:
        """Drop revocations (jtis and client cutoffs) expired at ``now``; how many."""


class ClientChanges(Protocol):
    """Tells every instance that a client changed (status, scopes, secrets, deletion), so their
    cached lookups are dropped at once instead of after ``client_cache_ttl``."""

    async def publish(self, client_id: str) -> None:
        """Announce a change; raises ``StorageError`` if it could not be announced."""

    async def listen(self, changed: Callable[[str], None]) -> None:
        """Call ``changed(client_id)`` for each change announced by any process (this one
        included) until cancelled; survives outages of the channel (logged, retried)."""


class ReplayCache(Protocol):
    async def add_once(self, key: str, expires_at: float) -> bool:
        """Remember ``key`` until ``expires_at``; False if it was already there (a replay)."""

    async def purge_expired(self, now: float) -> int:
        """Drop entries expired at ``now``; how many. Safe to call periodically (a no-op on
        backends that expire entries themselves, such as Redis)."""


class AuditLog(Protocol):
    async def record(self, events: Sequence[AuditEvent]) -> None:
        """Append events (batched by the caller); an event whose ``event_id`` is stored already
        is skipped, so a batch retried after an uncertain failure is stored once."""

    async def recent(self, limit: int = 100, client_id: str | None = None) -> list[AuditEvent]:
        """Newest first."""

    async def count(self, client_id: str, event: str, since: float = 0.0) -> int:
        """How many ``event`` events a client has at or after ``since`` (trust rules)."""

    async def find(
        self, client_id: str, event: str, since: float = 0.0, limit: int = 100_000
    ) -> list[AuditEvent]:
        """A client's ``event`` events at or after ``since``, oldest first (e.g. the tokens
        issued to a client that is being suspended)."""


class ApprovalStore(Protocol):
    async def add_approval(self, request: ApprovalRequest) -> None: ...

    async def get_approval(self, request_id: str) -> ApprovalRequest | None: ...

    async def list_approvals(
        self, status: ApprovalStatus | None = None, client_id: str | None = None
    ) -> list[ApprovalRequest]:
        """Oldest first."""

    async def decide_approval(
        self,
        request_id: str,
        status: ApprovalStatus,
        granted: tuple[str, ...],
        decided_by: str,
        reason: str | None,
        at: float,
    ) -> ApprovalRequest:
        """Decide a pending request atomically; ``KeyError`` if unknown, ``ConflictError`` if it
        was already decided."""


class BillingStore(Protocol):
    async def add_billing_token(self, token: BillingToken) -> None: ...

    async def get_billing_token(self, digest: str) -> BillingToken | None: ...

    async def use_billing_token(self, digest: str, now: float) -> BillingToken | None:
        """Atomically count one use of an unexpired token with uses left; the updated record,
        or None (unknown, expired or used up). Safe under concurrency."""

    async def list_billing_tokens(self) -> list[BillingToken]: ...


def email_key(email: str) -> str:
    """The form owner emails are compared in (unique, looked up): lower-cased. Every backend
    uses this one function, so "case-insensitive" means the same thing everywhere."""
    return email.lower()


def kept_in_grace(secrets: Sequence[ClientSecret], now: float) -> ClientSecret | None:
    """The one old secret a rotation keeps (in grace): the newest still valid at ``now``. Every
    backend uses this rule, so "at most one in grace" means the same thing everywhere."""
    valid = [s for s in secrets if s.is_valid_at(now)]
    return max(valid, key=lambda s: (s.created_at, s.secret_id), default=None)


class OwnerStore(Protocol):
    async def create_owner(self, owner: Owner) -> None:
        """Insert; ``ConflictError`` if the owner_id or the (case-insensitive) email exists."""

    async def get_owner(self, owner_id: str) -> Owner | None: ...

    async def get_owner_by_email(self, email: str) -> Owner | None:
        """Case-insensitive match on the email."""

    async def list_owners(self) -> list[Owner]:
        """Oldest first."""

    async def update_owner(self, owner: Owner) -> None:
        """Replace; ``KeyError`` if unknown."""


class SessionStore(Protocol):
    """Owners' console sessions (server-side: the cookie only names one), by digest."""

    async def add_session(self, session: ConsoleSession) -> None: ...

    async def get_session(self, digest: str, now: float) -> ConsoleSession | None:
        """The session unless unknown, ended or expired at ``now``."""

    async def delete_session(self, digest: str) -> None: ...

    async def delete_owner_sessions(self, owner_id: str) -> int:
        """End every session of the owner; how many."""

    async def purge_expired(self, now: float) -> int: ...


class GrantStore(Protocol):
    """Authorization codes and refresh tokens (stored as digests), grouped by ``grant_id``."""

    async def add_code(self, code: AuthorizationCode) -> None: ...

    async def consume_code(self, digest: str, now: float) -> AuthorizationCode | None:
        """Atomically mark the code used (``used_at = now``) if it was unused, and return the
        record AS IT WAS BEFORE this call: ``used_at is None`` means this call won; a non-None
        ``used_at`` means a replay. None if unknown. Exactly one of N concurrent calls wins."""

    async def add_refresh(self, token: RefreshToken) -> None: ...

    async def use_refresh(self, digest: str, now: float) -> RefreshToken | None:
        """Same semantics as ``consume_code`` for a refresh token (rotation: one use each)."""

    async def find_refresh(self, digest: str) -> RefreshToken | None:
        """The refresh token as stored (used, revoked or expired alike), or None if unknown.
        No side effects: for introspection and revocation, which must not spend it."""

    async def revoke_grant(self, grant_id: str) -> int:
        """Mark every refresh token of the grant revoked; returns how many changed."""

    async def purge_expired(self, now: float) -> int:
        """Delete codes and refresh tokens past ``expires_at``."""


@dataclass(frozen=True, slots=True)
class Stores:
    """The set of stores a server is wired with; ``close`` releases connections."""

    clients: ClientStore
    keys: KeyStore
    revocations: RevocationStore
    replay: ReplayCache
    audit: AuditLog
    approvals: ApprovalStore
    billing: BillingStore
    owners: OwnerStore
    grants: GrantStore
    sessions: SessionStore
    close: Callable[[], Awaitable[None]]
    changes: ClientChanges | None = None  # None: one process only (memory)
