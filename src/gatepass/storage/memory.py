"""Reference in-memory backend of every storage contract (unit tests, ``gatepass dev``).

Meant for one event loop: no method awaits between its check and its write, so every
operation is atomic. Records are the frozen ``models`` dataclasses, stored as given.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence

from gatepass.clock import Clock, SystemClock
from gatepass.models import AuditEvent, Client, ClientSecret, KeyState, SigningKey
from gatepass.storage.base import ConflictError, Stores

__all__ = [
    "MemoryAuditLog",
    "MemoryClientStore",
    "MemoryKeyStore",
    "MemoryReplayCache",
    "MemoryRevocationStore",
    "open_memory_stores",
]


def _check_secrets(client_id: str, secrets: Sequence[ClientSecret]) -> None:
    if any(s.client_id != client_id for s in secrets):
        raise ValueError(f"secrets must belong to client {client_id!r}")


class MemoryClientStore:
    """Clients and their secrets in two dicts."""

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}
        self._secrets: dict[str, ClientSecret] = {}

    async def get_client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    async def create_client(self, client: Client, secrets: Sequence[ClientSecret] = ()) -> None:
        _check_secrets(client.client_id, secrets)
        if client.client_id in self._clients:
            raise ConflictError(f"client {client.client_id!r} already exists")
        ids = [s.secret_id for s in secrets]
        if len(set(ids)) != len(ids) or any(i in self._secrets for i in ids):
            raise ConflictError("duplicate secret id")
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
    """Revoked jtis: ``jti -> (expires_at, revoked_at)``; the first revocation wins."""

    def __init__(self) -> None:
        self._revoked: dict[str, tuple[float, float]] = {}

    async def revoke(self, jti: str, expires_at: float, revoked_at: float) -> None:
        self._revoked.setdefault(jti, (expires_at, revoked_at))

    async def is_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    async def revoked_since(self, since: float) -> list[tuple[str, float]]:
        rows = sorted((r, j, e) for j, (e, r) in self._revoked.items() if r >= since)
        return [(jti, exp) for _, jti, exp in rows]

    async def purge_expired(self, now: float) -> int:
        gone = [j for j, (exp, _) in self._revoked.items() if exp <= now]
        for jti in gone:
            del self._revoked[jti]
        return len(gone)


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
        """Drop entries expired at ``now``; returns how many (not part of the contract)."""
        gone = [k for k, exp in self._entries.items() if exp <= now]
        for key in gone:
            del self._entries[key]
        return len(gone)


class MemoryAuditLog:
    """The last ``max_events`` audit events; event ids are unique among those kept."""

    def __init__(self, max_events: int = 100_000) -> None:
        self._events: deque[AuditEvent] = deque()
        self._ids: set[str] = set()
        self._max = max_events

    async def record(self, events: Sequence[AuditEvent]) -> None:
        ids = [e.event_id for e in events if e.event_id is not None]
        if len(set(ids)) != len(ids) or self._ids.intersection(ids):
            raise ConflictError("duplicate audit event id")
        for event in events:
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


def open_memory_stores(clock: Clock | None = None) -> Stores:
    """A fresh set of in-memory stores; ``clock`` judges replay-cache expiry (system clock)."""

    async def close() -> None:
        return None

    return Stores(
        clients=MemoryClientStore(),
        keys=MemoryKeyStore(),
        revocations=MemoryRevocationStore(),
        replay=MemoryReplayCache(clock or SystemClock()),
        audit=MemoryAuditLog(),
        close=close,
    )
