"""Reference in-memory backend of every storage contract (unit tests, ``gatepass dev``).

Meant for one event loop: no method awaits between its check and its write, so every
operation is atomic. Records are the frozen ``models`` dataclasses, stored as given.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence

from gatepass.clock import Clock, SystemClock
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
from gatepass.storage.base import ConflictError, Stores, email_key, kept_in_grace

__all__ = [
    "MemoryApprovalStore",
    "MemoryAuditLog",
    "MemoryBillingStore",
    "MemoryClientStore",
    "MemoryGrantStore",
    "MemoryKeyStore",
    "MemoryOwnerStore",
    "MemoryReplayCache",
    "MemoryRevocationStore",
    "MemorySessionStore",
    "open_memory_stores",
]


def _check_secrets(client_id: str, secrets: Sequence[ClientSecret]) -> None:
    if any(s.client_id != client_id for s in secrets):
        raise ValueError(f"secrets must belong to client {client_id!r}")


class MemoryClientStore:
    """Clients and their secrets in two dicts; approval requests written with a client go to
    ``approvals`` (the set's approval store)."""

    def __init__(self, approvals: MemoryApprovalStore | None = None) -> None:
        self._clients: dict[str, Client] = {}
        self._secrets: dict[str, ClientSecret] = {}
        self._approvals = approvals if approvals is not None else MemoryApprovalStore()

    async def get_client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    async def create_client(self, client: Client, secrets: Sequence[ClientSecret] = (),
                            approval: ApprovalRequest | None = None) -> None:
        _check_secrets(client.client_id, secrets)
        if approval is not None and approval.client_id != client.client_id:
            raise ValueError(f"the approval must belong to client {client.client_id!r}")
        if client.client_id in self._clients:
            raise ConflictError(f"client {client.client_id!r} already exists")
        fp = client.registration_fingerprint
        if fp is not None and any(c.registration_fingerprint == fp for c in self._clients.values()):
            raise ConflictError("a client with this registration fingerprint exists")
        ids = [s.secret_id for s in secrets]
        if len(set(ids)) != len(ids) or any(i in self._secrets for i in ids):
            raise ConflictError("duplicate secret id")
        if approval is not None:
            self._approvals.insert(approval)  # checks first: raises before anything is stored
        self._clients[client.client_id] = client
        self._secrets.update((s.secret_id, s) for s in secrets)

    async def update_client(self, client: Client) -> None:
        if client.client_id not in self._clients:
            raise KeyError(client.client_id)
        self._clients[client.client_id] = client

    async def list_clients(self) -> list[Client]:
        return sorted(self._clients.values(), key=lambda c: (c.created_at, c.client_id))

    async def add_secret(self, secret: ClientSecret) -> None:
        if secret.client_id not in self._clients:
            raise KeyError(secret.client_id)
        if secret.secret_id in self._secrets:
            raise ConflictError(f"secret {secret.secret_id!r} already exists")
        self._secrets[secret.secret_id] = secret

    async def list_secrets(self, client_id: str) -> list[ClientSecret]:
        found = [s for s in self._secrets.values() if s.client_id == client_id]
        return sorted(found, key=lambda s: (s.created_at, s.secret_id))

    async def expire_secret(self, secret_id: str, expires_at: float) -> None:
        secret = self._secrets[secret_id]
        self._secrets[secret_id] = dataclasses.replace(secret, expires_at=expires_at)

    async def delete_secret(self, secret_id: str) -> None:
        self._secrets.pop(secret_id, None)

    async def rotate_secret(
        self, secret: ClientSecret, grace_until: float, now: float
    ) -> list[ClientSecret]:
        # No await between reading and writing: atomic on the one event loop.
        if secret.client_id not in self._clients:
            raise KeyError(secret.client_id)
        if secret.secret_id in self._secrets:
            raise ConflictError(f"secret {secret.secret_id!r} already exists")
        others = [s for s in self._secrets.values() if s.client_id == secret.client_id]
        kept = kept_in_grace(others, now)
        for old in others:
            del self._secrets[old.secret_id]
        if kept is not None:
            until = grace_until if kept.expires_at is None else min(kept.expires_at, grace_until)
            self._secrets[kept.secret_id] = dataclasses.replace(kept, expires_at=until)
        self._secrets[secret.secret_id] = secret
        return await self.list_secrets(secret.client_id)

    async def drop_secret(self, client_id: str, secret_id: str, now: float) -> None:
        secret = self._secrets.get(secret_id)
        if secret is None or secret.client_id != client_id:
            raise KeyError(secret_id)
        if not any(s.client_id == client_id and s.secret_id != secret_id and s.is_valid_at(now)
                   for s in self._secrets.values()):
            raise ConflictError("the client's last valid secret cannot be dropped")
        del self._secrets[secret_id]

    async def find_by_registration_token(self, digest: str) -> Client | None:
        found = [c for c in self._clients.values() if c.registration_token_digest == digest]
        return min(found, key=lambda c: (c.created_at, c.client_id), default=None)

    async def find_by_fingerprint(self, fingerprint: str, since: float) -> Client | None:
        found = [
            c
            for c in self._clients.values()
            if c.registration_fingerprint == fingerprint and c.created_at >= since
        ]
        return max(found, key=lambda c: (c.created_at, c.client_id), default=None)

    async def release_fingerprint(self, fingerprint: str, before: float) -> None:
        for c in list(self._clients.values()):
            if c.registration_fingerprint == fingerprint and c.created_at < before:
                self._clients[c.client_id] = dataclasses.replace(c, registration_fingerprint=None)

    async def delete_client(self, client_id: str) -> None:
        del self._clients[client_id]
        for secret_id in [i for i, s in self._secrets.items() if s.client_id == client_id]:
            del self._secrets[secret_id]


class MemoryKeyStore:
    """Signing keys by kid."""

    def __init__(self) -> None:
        self._keys: dict[str, SigningKey] = {}

    async def list_keys(self) -> list[SigningKey]:
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.kid))

    async def add_key(self, key: SigningKey) -> None:
        if key.kid in self._keys:
            raise ConflictError(f"key {key.kid!r} already exists")
        self._keys[key.kid] = key

    async def set_key_state(self, kid: str, state: KeyState, at: float) -> None:
        key = self._keys[kid]
        self._keys[kid] = dataclasses.replace(key, state=state, state_changed_at=at)


class MemoryRevocationStore:
    """Revoked jtis: ``jti -> (expires_at, revoked_at)``; the first revocation wins. Client
    cutoffs: ``client_id -> (revoked_before, expires_at)``; the later cutoff wins."""

    def __init__(self) -> None:
        self._revoked: dict[str, tuple[float, float]] = {}
        self._cutoffs: dict[str, tuple[float, float]] = {}

    async def revoke(self, jti: str, expires_at: float, revoked_at: float) -> None:
        self._revoked.setdefault(jti, (expires_at, revoked_at))

    async def is_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    async def revoked_since(self, since: float) -> list[tuple[str, float]]:
        rows = sorted((r, j, e) for j, (e, r) in self._revoked.items() if r >= since)
        return [(jti, exp) for _, jti, exp in rows]

    async def revoked_page(
        self, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[str, float, float]]:
        rows = sorted((r, j, e) for j, (e, r) in self._revoked.items()
                      if after is None or (r, j) > after)
        return [(jti, exp, at) for at, jti, exp in rows[:limit]]

    async def revoke_client(self, client_id: str, before: float, expires_at: float) -> None:
        old = self._cutoffs.get(client_id)
        if old is None or old[0] < before:
            self._cutoffs[client_id] = (before, max(expires_at, old[1] if old else expires_at))

    async def token_revoked(self, jti: str, client_id: str | None, issued_at: float | None) -> bool:
        if jti in self._revoked:
            return True
        cut = self._cutoffs.get(client_id) if client_id is not None else None
        return cut is not None and (issued_at is None or issued_at < cut[0])

    async def client_cutoffs(self, now: float) -> list[tuple[str, float, float]]:
        return sorted((c, b, e) for c, (b, e) in self._cutoffs.items() if e > now)

    async def purge_expired(self, now: float) -> int:
        gone = [j for j, (exp, _) in self._revoked.items() if exp <= now]
        for jti in gone:
            del self._revoked[jti]
        cuts = [c for c, (_, exp) in self._cutoffs.items() if exp <= now]
        for client_id in cuts:
            del self._cutoffs[client_id]
        return len(gone) + len(cuts)


class MemoryReplayCache:
    """Keys with an expiry, judged by the injected clock; expired keys are swept as it grows."""

    _SWEEP_EVERY = 1024

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: dict[str, float] = {}
        self._adds = 0

    async def add_once(self, key: str, expires_at: float) -> bool:
        now = self._clock.now()
        current = self._entries.get(key)
        if current is not None and current > now:
            return False
        self._entries[key] = expires_at
        self._adds += 1
        if self._adds % self._SWEEP_EVERY == 0:
            await self.purge_expired(now)
        return True

    async def purge_expired(self, now: float) -> int:
        gone = [k for k, exp in self._entries.items() if exp <= now]
        for key in gone:
            del self._entries[key]
        return len(gone)


class MemoryAuditLog:
    """The last ``max_events`` audit events; an event whose id is already kept is skipped."""

    def __init__(self, max_events: int = 100_000) -> None:
        self._events: deque[AuditEvent] = deque()
        self._ids: set[str] = set()
        self._max = max_events

    async def record(self, events: Sequence[AuditEvent]) -> None:
        for event in events:
            if event.event_id is not None and event.event_id in self._ids:
                continue  # stored already (a retried batch)
            if len(self._events) >= self._max:
                self._ids.discard(self._events.popleft().event_id or "")
            self._events.append(event)
            if event.event_id is not None:
                self._ids.add(event.event_id)

    async def recent(self, limit: int = 100, client_id: str | None = None) -> list[AuditEvent]:
        indexed = [
            (e.at, i, e)
            for i, e in enumerate(self._events)
            if client_id is None or e.client_id == client_id
        ]
        indexed.sort(key=lambda t: (t[0], t[1]), reverse=True)
        return [e for _, _, e in indexed[:limit]]

    def _matching(self, client_id: str, event: str, since: float) -> list[AuditEvent]:
        found = [
            (e.at, i, e)
            for i, e in enumerate(self._events)
            if e.client_id == client_id and e.event == event and e.at >= since
        ]
        found.sort(key=lambda t: (t[0], t[1]))
        return [e for _, _, e in found]

    async def count(self, client_id: str, event: str, since: float = 0.0) -> int:
        return len(self._matching(client_id, event, since))

    async def find(
        self, client_id: str, event: str, since: float = 0.0, limit: int = 100_000
    ) -> list[AuditEvent]:
        return self._matching(client_id, event, since)[:limit]


def _check_decision(status: ApprovalStatus) -> None:
    if status == "pending":
        raise ValueError("a decision is 'approved' or 'denied'")


class MemoryApprovalStore:
    """Approval requests by id; a decision replaces the pending record."""

    def __init__(self) -> None:
        self._requests: dict[str, ApprovalRequest] = {}

    async def add_approval(self, request: ApprovalRequest) -> None:
        self.insert(request)

    def insert(self, request: ApprovalRequest) -> None:
        """``add_approval`` without an await (for a client store writing one with a client)."""
        if request.request_id in self._requests:
            raise ConflictError(f"approval request {request.request_id!r} already exists")
        self._requests[request.request_id] = request

    async def get_approval(self, request_id: str) -> ApprovalRequest | None:
        return self._requests.get(request_id)

    async def list_approvals(
        self, status: ApprovalStatus | None = None, client_id: str | None = None
    ) -> list[ApprovalRequest]:
        found = [
            r
            for r in self._requests.values()
            if (status is None or r.status == status)
            and (client_id is None or r.client_id == client_id)
        ]
        return sorted(found, key=lambda r: (r.created_at, r.request_id))

    async def decide_approval(
        self,
        request_id: str,
        status: ApprovalStatus,
        granted: tuple[str, ...],
        decided_by: str,
        reason: str | None,
        at: float,
    ) -> ApprovalRequest:
        _check_decision(status)
        request = self._requests[request_id]
        if request.status != "pending":
            raise ConflictError(f"approval request {request_id!r} was already decided")
        decided = dataclasses.replace(
            request,
            status=status,
            granted=tuple(granted),
            decided_at=at,
            decided_by=decided_by,
            reason=reason,
        )
        self._requests[request_id] = decided
        return decided


def _usable(token: BillingToken, now: float) -> bool:
    """Unexpired at ``now`` with a use left (the condition ``use_billing_token`` checks)."""
    unexpired = token.expires_at is None or now < token.expires_at
    return unexpired and (token.max_uses is None or token.uses < token.max_uses)


class MemoryBillingStore:
    """Billing tokens by id, with an index by digest (unique, like the id)."""

    def __init__(self) -> None:
        self._tokens: dict[str, BillingToken] = {}
        self._by_digest: dict[str, str] = {}

    async def add_billing_token(self, token: BillingToken) -> None:
        if token.token_id in self._tokens or token.digest in self._by_digest:
            raise ConflictError("a billing token with the same id or digest already exists")
        self._tokens[token.token_id] = token
        self._by_digest[token.digest] = token.token_id

    async def get_billing_token(self, digest: str) -> BillingToken | None:
        token_id = self._by_digest.get(digest)
        return None if token_id is None else self._tokens[token_id]

    async def use_billing_token(self, digest: str, now: float) -> BillingToken | None:
        token_id = self._by_digest.get(digest)
        token = None if token_id is None else self._tokens[token_id]
        if token is None or not _usable(token, now):
            return None
        used = dataclasses.replace(token, uses=token.uses + 1)
        self._tokens[used.token_id] = used
        return used

    async def list_billing_tokens(self) -> list[BillingToken]:
        return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.token_id))


class MemoryOwnerStore:
    """Owners by id, with a unique index by ``email_key(email)``."""

    def __init__(self) -> None:
        self._owners: dict[str, Owner] = {}
        self._by_email: dict[str, str] = {}

    async def create_owner(self, owner: Owner) -> None:
        key = email_key(owner.email)
        if owner.owner_id in self._owners or key in self._by_email:
            raise ConflictError("an owner with the same id or email already exists")
        self._owners[owner.owner_id] = owner
        self._by_email[key] = owner.owner_id

    async def get_owner(self, owner_id: str) -> Owner | None:
        return self._owners.get(owner_id)

    async def get_owner_by_email(self, email: str) -> Owner | None:
        owner_id = self._by_email.get(email_key(email))
        return None if owner_id is None else self._owners[owner_id]

    async def list_owners(self) -> list[Owner]:
        return sorted(self._owners.values(), key=lambda o: (o.created_at, o.owner_id))

    async def update_owner(self, owner: Owner) -> None:
        """``ConflictError`` too if the new email belongs to another owner (the unique index)."""
        current = self._owners.get(owner.owner_id)
        if current is None:
            raise KeyError(owner.owner_id)
        key = email_key(owner.email)
        if self._by_email.get(key, owner.owner_id) != owner.owner_id:
            raise ConflictError("another owner has this email")
        del self._by_email[email_key(current.email)]
        self._by_email[key] = owner.owner_id
        self._owners[owner.owner_id] = owner


class MemoryGrantStore:
    """Authorization codes and refresh tokens, each by digest.

    ``consume_code``/``use_refresh`` check and mark without awaiting in between: atomic.
    """

    def __init__(self) -> None:
        self._codes: dict[str, AuthorizationCode] = {}
        self._refresh: dict[str, RefreshToken] = {}

    async def add_code(self, code: AuthorizationCode) -> None:
        if code.code_digest in self._codes:
            raise ConflictError("an authorization code with the same digest already exists")
        self._codes[code.code_digest] = code

    async def consume_code(self, digest: str, now: float) -> AuthorizationCode | None:
        code = self._codes.get(digest)
        if code is not None and code.used_at is None:
            self._codes[digest] = dataclasses.replace(code, used_at=now)
        return code

    async def add_refresh(self, token: RefreshToken) -> None:
        if token.token_digest in self._refresh:
            raise ConflictError("a refresh token with the same digest already exists")
        self._refresh[token.token_digest] = token

    async def use_refresh(self, digest: str, now: float) -> RefreshToken | None:
        token = self._refresh.get(digest)
        if token is not None and token.used_at is None:
            self._refresh[digest] = dataclasses.replace(token, used_at=now)
        return token

    async def find_refresh(self, digest: str) -> RefreshToken | None:
        return self._refresh.get(digest)

    async def revoke_grant(self, grant_id: str) -> int:
        changed = [t for t in self._refresh.values() if t.grant_id == grant_id and not t.revoked]
        for token in changed:
            self._refresh[token.token_digest] = dataclasses.replace(token, revoked=True)
        return len(changed)

    async def purge_expired(self, now: float) -> int:
        codes = [d for d, c in self._codes.items() if c.expires_at <= now]
        tokens = [d for d, t in self._refresh.items() if t.expires_at <= now]
        for digest in codes:
            del self._codes[digest]
        for digest in tokens:
            del self._refresh[digest]
        return len(codes) + len(tokens)


class MemorySessionStore:
    """Console sessions by digest."""

    def __init__(self) -> None:
        self._sessions: dict[str, ConsoleSession] = {}

    async def add_session(self, session: ConsoleSession) -> None:
        self._sessions[session.digest] = session

    async def get_session(self, digest: str, now: float) -> ConsoleSession | None:
        session = self._sessions.get(digest)
        return session if session is not None and session.expires_at > now else None

    async def delete_session(self, digest: str) -> None:
        self._sessions.pop(digest, None)

    async def delete_owner_sessions(self, owner_id: str) -> int:
        ended = [d for d, s in self._sessions.items() if s.owner_id == owner_id]
        for digest in ended:
            del self._sessions[digest]
        return len(ended)

    async def purge_expired(self, now: float) -> int:
        expired = [d for d, s in self._sessions.items() if s.expires_at <= now]
        for digest in expired:
            del self._sessions[digest]
        return len(expired)


def open_memory_stores(clock: Clock | None = None) -> Stores:
    """A fresh set of in-memory stores; ``clock`` judges replay-cache expiry (system clock)."""

    async def close() -> None:
        return None

    approvals = MemoryApprovalStore()
    return Stores(
        clients=MemoryClientStore(approvals),
        keys=MemoryKeyStore(),
        revocations=MemoryRevocationStore(),
        replay=MemoryReplayCache(clock or SystemClock()),
        audit=MemoryAuditLog(),
        approvals=approvals,
        billing=MemoryBillingStore(),
        owners=MemoryOwnerStore(),
        grants=MemoryGrantStore(),
        sessions=MemorySessionStore(),
        close=close,
    )
