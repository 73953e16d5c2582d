"""SQL backend of the storage contracts: SQLAlchemy Core on an async engine (SQLite, Postgres).

Each method is one transaction. Duplicate identifiers raise ``ConflictError``, a missing parent
row ``KeyError``, and any other driver or connection failure ``StorageError``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import Table, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

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
from gatepass.storage.base import (
    ConflictError,
    DataRejected,
    StorageError,
    Stores,
    email_key,
    kept_in_grace,
)
from gatepass.storage.sql import _rows
from gatepass.storage.sql.engine import STATEMENT_TIMEOUT, create_engine
from gatepass.storage.sql.tables import (
    approval_requests,
    audit_events,
    authorization_codes,
    billing_tokens,
    client_changes,
    client_cutoffs,
    client_secrets,
    clients,
    console_sessions,
    owners,
    refresh_tokens,
    replay_cache,
    revoked_tokens,
    signing_keys,
)

__all__ = [
    "SqlApprovalStore",
    "SqlAuditLog",
    "SqlBillingStore",
    "SqlClientChanges",
    "SqlClientStore",
    "SqlGrantStore",
    "SqlKeyStore",
    "SqlOwnerStore",
    "SqlReplayCache",
    "SqlRevocationStore",
    "open_sql_stores",
]

log = logging.getLogger("gatepass.storage")
_AUDIT_CHUNK = 5000  # events per INSERT statement (one JSON parameter each)
# The whole batch is one JSON parameter: an array of rows, each an array in this column order.
_AUDIT_INSERT = {
    "sqlite": (
        "INSERT INTO audit_events (event_id, event, outcome, at, client_id, scopes, reason,"
        " actor, details) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'),"
        " json_extract(value, '$[5]'), json_extract(value, '$[6]'), json_extract(value, '$[7]'),"
        " json_extract(value, '$[8]') FROM json_each(?) WHERE true"
        " ON CONFLICT (event_id) DO NOTHING"
    ),
    "postgresql": (
        "INSERT INTO audit_events (event_id, event, outcome, at, client_id, scopes, reason,"
        " actor, details) SELECT e->>0, e->>1, e->>2, (e->>3)::float8, e->>4, e->5, e->>6,"
        " e->>7, e->8 FROM json_array_elements(%s::json) AS e"
        " ON CONFLICT (event_id) DO NOTHING"
    ),
}


def _integrity_error(exc: IntegrityError) -> Exception:
    code = getattr(exc.orig, "sqlstate", None)
    text = str(exc.orig)
    if code == "23505" or "UNIQUE constraint failed" in text:
        return ConflictError("a record with the same identifier already exists")
    if code == "23503" or "FOREIGN KEY constraint failed" in text:
        return KeyError("the referenced record does not exist")
    return StorageError("integrity error")


class _SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed on success; database errors become storage errors."""
        try:
            async with self._engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise _integrity_error(exc) from exc
        except DataError as exc:
            raise DataRejected(f"the database refused the data: {type(exc.orig).__name__}") from exc
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"database unavailable: {type(exc).__name__}") from exc

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT, which knows ON CONFLICT."""
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def _fetch(self, statement: Any) -> list[_rows.Row]:
        async with self._tx() as conn:
            return list((await conn.execute(statement)).mappings().all())

    async def _change(self, statement: Any) -> int:
        """Run a write; returns the number of rows it touched."""
        async with self._tx() as conn:
            return (await conn.execute(statement)).rowcount


class SqlClientStore(_SqlStore):
    async def get_client(self, client_id: str) -> Client | None:
        if "\x00" in client_id:  # no such id can exist (PostgreSQL refuses NUL in text)
            return None
        rows = await self._fetch(select(clients).where(clients.c.client_id == client_id))
        return _rows.to_client(rows[0]) if rows else None

    async def create_client(self, client: Client, secrets: Sequence[ClientSecret] = (),
                            approval: ApprovalRequest | None = None) -> None:
        if any(s.client_id != client.client_id for s in secrets):
            raise ValueError(f"secrets must belong to client {client.client_id!r}")
        if approval is not None and approval.client_id != client.client_id:
            raise ValueError(f"the approval must belong to client {client.client_id!r}")
        async with self._tx() as conn:
            await conn.execute(clients.insert().values(_rows.client_row(client)))
            if secrets:
                await conn.execute(client_secrets.insert(), [_rows.secret_row(s) for s in secrets])
            if approval is not None:
                await conn.execute(approval_requests.insert().values(_rows.approval_row(approval)))

    @staticmethod
    async def _lock_client(conn: AsyncConnection, client_id: str) -> bool:
        """Lock the client's row until the transaction ends; False if there is none.

        PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite has no row locks: a write that changes
        nothing takes the database's write lock (waiting out the busy timeout), which a
        read-then-write transaction would only try for at its first write and then fail."""
        where = clients.c.client_id == client_id
        if conn.dialect.name == "postgresql":
            found = await conn.execute(select(clients.c.client_id).where(where).with_for_update())
            return found.first() is not None
        touched = await conn.execute(update(clients).where(where).values(
            client_id=clients.c.client_id))
        return bool(touched.rowcount)

    @staticmethod
    async def _secrets_of(conn: AsyncConnection, client_id: str) -> list[ClientSecret]:
        c = client_secrets.c
        query = select(client_secrets).where(c.client_id == client_id)
        rows = (await conn.execute(query.order_by(c.created_at, c.secret_id))).mappings()
        return [_rows.to_secret(r) for r in rows]

    async def rotate_secret(
        self, secret: ClientSecret, grace_until: float, now: float
    ) -> list[ClientSecret]:
        c = client_secrets.c
        async with self._tx() as conn:
            if not await self._lock_client(conn, secret.client_id):
                raise KeyError(secret.client_id)
            others = await self._secrets_of(conn, secret.client_id)
            kept = kept_in_grace(others, now)
            gone = [s.secret_id for s in others if s is not kept]
            if gone:
                await conn.execute(delete(client_secrets).where(c.secret_id.in_(gone)))
            if kept is not None:
                until = grace_until if kept.expires_at is None else min(kept.expires_at,
                                                                        grace_until)
                await conn.execute(update(client_secrets).where(
                    c.secret_id == kept.secret_id).values(expires_at=until))
            await conn.execute(client_secrets.insert().values(_rows.secret_row(secret)))
            return await self._secrets_of(conn, secret.client_id)

    async def drop_secret(self, client_id: str, secret_id: str, now: float) -> None:
        async with self._tx() as conn:
            if not await self._lock_client(conn, client_id):
                raise KeyError(secret_id)
            found = await self._secrets_of(conn, client_id)
            if not any(s.secret_id == secret_id for s in found):
                raise KeyError(secret_id)
            if not any(s.secret_id != secret_id and s.is_valid_at(now) for s in found):
                raise ConflictError("the client's last valid secret cannot be dropped")
            await conn.execute(delete(client_secrets).where(
                client_secrets.c.secret_id == secret_id))

    async def update_client(self, client: Client) -> None:
        row = _rows.client_row(client)
        where = clients.c.client_id == row.pop("client_id")
        if not await self._change(update(clients).where(where).values(row)):
            raise KeyError(client.client_id)

    async def list_clients(self) -> list[Client]:
        query = select(clients).order_by(clients.c.created_at, clients.c.client_id)
        return [_rows.to_client(r) for r in await self._fetch(query)]

    async def add_secret(self, secret: ClientSecret) -> None:
        await self._change(client_secrets.insert().values(_rows.secret_row(secret)))

    async def list_secrets(self, client_id: str) -> list[ClientSecret]:
        async with self._tx() as conn:
            return await self._secrets_of(conn, client_id)

    async def expire_secret(self, secret_id: str, expires_at: float) -> None:
        statement = update(client_secrets).where(client_secrets.c.secret_id == secret_id)
        if not await self._change(statement.values(expires_at=expires_at)):
            raise KeyError(secret_id)

    async def delete_secret(self, secret_id: str) -> None:
        await self._change(delete(client_secrets).where(client_secrets.c.secret_id == secret_id))

    async def find_by_registration_token(self, digest: str) -> Client | None:
        c = clients.c
        query = select(clients).where(c.registration_token_digest == digest)
        rows = await self._fetch(query.order_by(c.created_at, c.client_id).limit(1))
        return _rows.to_client(rows[0]) if rows else None

    async def find_by_fingerprint(self, fingerprint: str, since: float) -> Client | None:
        c = clients.c
        query = select(clients).where(c.registration_fingerprint == fingerprint)
        query = query.where(c.created_at >= since)
        rows = await self._fetch(query.order_by(c.created_at.desc(), c.client_id.desc()).limit(1))
        return _rows.to_client(rows[0]) if rows else None

    async def release_fingerprint(self, fingerprint: str, before: float) -> None:
        c = clients.c
        await self._change(update(clients).where(c.registration_fingerprint == fingerprint)
                           .where(c.created_at < before).values(registration_fingerprint=None))

    async def delete_client(self, client_id: str) -> None:
        """Secrets first (no reliance on ON DELETE CASCADE), then the client, in one transaction."""
        async with self._tx() as conn:
            await conn.execute(
                delete(client_secrets).where(client_secrets.c.client_id == client_id)
            )
            gone = await conn.execute(delete(clients).where(clients.c.client_id == client_id))
            if not gone.rowcount:
                raise KeyError(client_id)


class SqlKeyStore(_SqlStore):
    async def list_keys(self) -> list[SigningKey]:
        query = select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.kid)
        return [_rows.to_key(r) for r in await self._fetch(query)]

    async def add_key(self, key: SigningKey) -> None:
        await self._change(signing_keys.insert().values(_rows.key_row(key)))

    async def set_key_state(self, kid: str, state: KeyState, at: float) -> None:
        statement = update(signing_keys).where(signing_keys.c.kid == kid)
        if not await self._change(statement.values(state=state, state_changed_at=at)):
            raise KeyError(kid)


class SqlRevocationStore(_SqlStore):
    async def revoke(self, jti: str, expires_at: float, revoked_at: float) -> None:
        values = {"jti": jti, "expires_at": expires_at, "revoked_at": revoked_at}
        statement = self._insert(revoked_tokens).values(values)
        await self._change(statement.on_conflict_do_nothing(index_elements=["jti"]))

    async def is_revoked(self, jti: str) -> bool:
        query = select(exists().where(revoked_tokens.c.jti == jti).label("found"))
        return bool((await self._fetch(query))[0]["found"])

    async def revoked_since(self, since: float) -> list[tuple[str, float]]:
        c = revoked_tokens.c
        query = select(c.jti, c.expires_at).where(c.revoked_at >= since)
        rows = await self._fetch(query.order_by(c.revoked_at, c.jti))
        return [(r["jti"], r["expires_at"]) for r in rows]

    async def revoked_page(
        self, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[str, float, float]]:
        c = revoked_tokens.c
        query = select(c.jti, c.expires_at, c.revoked_at)
        if after is not None:
            at, jti = after
            query = query.where(or_(c.revoked_at > at, and_(c.revoked_at == at, c.jti > jti)))
        rows = await self._fetch(query.order_by(c.revoked_at, c.jti).limit(limit))
        return [(r["jti"], r["expires_at"], r["revoked_at"]) for r in rows]

    async def revoke_client(self, client_id: str, before: float, expires_at: float) -> None:
        values = {"client_id": client_id, "revoked_before": before, "expires_at": expires_at}
        statement = self._insert(client_cutoffs).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["client_id"],
            set_={"revoked_before": statement.excluded.revoked_before,
                  "expires_at": statement.excluded.expires_at},
            where=client_cutoffs.c.revoked_before < statement.excluded.revoked_before,
        )
        await self._change(statement)

    async def token_revoked(self, jti: str, client_id: str | None, issued_at: float | None) -> bool:
        found: ColumnElement[bool] = exists().where(revoked_tokens.c.jti == jti)
        if client_id is not None:
            c = client_cutoffs.c
            cut = c.client_id == client_id
            if issued_at is not None:
                cut = cut & (c.revoked_before > issued_at)
            found = or_(found, exists().where(cut))
        return bool((await self._fetch(select(found.label("found"))))[0]["found"])

    async def client_cutoffs(self, now: float) -> list[tuple[str, float, float]]:
        c = client_cutoffs.c
        query = select(c.client_id, c.revoked_before, c.expires_at).where(c.expires_at > now)
        rows = await self._fetch(query.order_by(c.client_id))
        return [(r["client_id"], r["revoked_before"], r["expires_at"]) for r in rows]

    async def purge_expired(self, now: float) -> int:
        async with self._tx() as conn:
            jtis = await conn.execute(
                delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now))
            cuts = await conn.execute(
                delete(client_cutoffs).where(client_cutoffs.c.expires_at <= now))
            return jtis.rowcount + cuts.rowcount


class SqlClientChanges(_SqlStore):
    """``ClientChanges`` through a change-log table every instance polls (no Redis needed):
    a change reaches the others within ``interval`` seconds. Rows older than ``keep`` seconds
    are deleted by the pollers."""

    def __init__(self, engine: AsyncEngine, clock: Clock, *, interval: float = 0.5,
                 keep: float = 600.0) -> None:
        super().__init__(engine)
        self._clock = clock
        self.interval = interval
        self._keep = keep

    async def publish(self, client_id: str) -> None:
        await self._change(client_changes.insert().values(client_id=client_id,
                                                          at=self._clock.now()))

    async def _last_id(self) -> int:
        rows = await self._fetch(select(func.max(client_changes.c.id).label("last")))
        return int(rows[0]["last"] or 0)

    async def listen(self, changed: Callable[[str], None]) -> None:
        last: int | None = None
        failing = False
        polls = 0
        while True:
            try:
                if last is None:
                    last = await self._last_id()
                c = client_changes.c
                query = select(c.id, c.client_id).where(c.id > last).order_by(c.id).limit(1000)
                for row in await self._fetch(query):
                    last = int(row["id"])
                    changed(row["client_id"])
                polls += 1
                if polls % 1000 == 0:
                    cutoff = self._clock.now() - self._keep
                    await self._change(delete(client_changes).where(c.at < cutoff))
                if failing:
                    log.warning("client change poll recovered")
                failing = False
            except StorageError as exc:
                if not failing:
                    log.warning("client change poll failed: %s", exc)
                failing = True
            await asyncio.sleep(self.interval)


class SqlReplayCache(_SqlStore):
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        super().__init__(engine)
        self._clock = clock

    async def add_once(self, key: str, expires_at: float) -> bool:
        """One atomic upsert: insert, or take over the row only if it has expired."""
        statement = self._insert(replay_cache).values(key=key, expires_at=expires_at)
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"expires_at": statement.excluded.expires_at},
            where=replay_cache.c.expires_at <= self._clock.now(),
        )
        return bool(await self._fetch(statement.returning(replay_cache.c.key)))

    async def purge_expired(self, now: float) -> int:
        return await self._change(delete(replay_cache).where(replay_cache.c.expires_at <= now))


class SqlAuditLog(_SqlStore):
    async def record(self, events: Sequence[AuditEvent]) -> None:
        """One statement per chunk with the whole batch as a single JSON parameter: no per-row
        binding (on SQLite each bound row would also hand the GIL back and forth with the
        driver's thread). Ids already stored are skipped, so a retried batch is stored once."""
        statement = _AUDIT_INSERT[self._engine.dialect.name]
        try:
            payloads = [orjson.dumps([_rows.event_values(e) for e in events[i : i + _AUDIT_CHUNK]])
                        .decode() for i in range(0, len(events), _AUDIT_CHUNK)]
        except TypeError as exc:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
            raise DataRejected(f"an audit event cannot be encoded: {exc}") from exc
        async with self._tx() as conn:
            for payload in payloads:
                await conn.exec_driver_sql(statement, (payload,))

    async def recent(self, limit: int = 100, client_id: str | None = None) -> list[AuditEvent]:
        c = audit_events.c
        query = select(audit_events).order_by(c.at.desc(), c.id.desc()).limit(limit)
        if client_id is not None:
            query = query.where(c.client_id == client_id)
        return [_rows.to_event(r) for r in await self._fetch(query)]

    @staticmethod
    def _matching(client_id: str, event: str, since: float) -> Any:
        c = audit_events.c
        return (c.client_id == client_id) & (c.event == event) & (c.at >= since)

    async def count(self, client_id: str, event: str, since: float = 0.0) -> int:
        query = select(func.count().label("n")).where(self._matching(client_id, event, since))
        return int((await self._fetch(query))[0]["n"])

    async def find(
        self, client_id: str, event: str, since: float = 0.0, limit: int = 100_000
    ) -> list[AuditEvent]:
        c = audit_events.c
        query = select(audit_events).where(self._matching(client_id, event, since))
        query = query.order_by(c.at, c.id).limit(limit)
        return [_rows.to_event(r) for r in await self._fetch(query)]


class SqlApprovalStore(_SqlStore):
    async def add_approval(self, request: ApprovalRequest) -> None:
        await self._change(approval_requests.insert().values(_rows.approval_row(request)))

    async def get_approval(self, request_id: str) -> ApprovalRequest | None:
        query = select(approval_requests).where(approval_requests.c.request_id == request_id)
        rows = await self._fetch(query)
        return _rows.to_approval(rows[0]) if rows else None

    async def list_approvals(
        self, status: ApprovalStatus | None = None, client_id: str | None = None
    ) -> list[ApprovalRequest]:
        c = approval_requests.c
        query = select(approval_requests).order_by(c.created_at, c.request_id)
        if status is not None:
            query = query.where(c.status == status)
        if client_id is not None:
            query = query.where(c.client_id == client_id)
        return [_rows.to_approval(r) for r in await self._fetch(query)]

    async def decide_approval(
        self,
        request_id: str,
        status: ApprovalStatus,
        granted: tuple[str, ...],
        decided_by: str,
        reason: str | None,
        at: float,
    ) -> ApprovalRequest:
        """One conditional UPDATE (``status = 'pending'``): of two racing deciders, the second
        waits for the first's row lock, re-checks the condition and matches nothing."""
        if status == "pending":
            raise ValueError("a decision is 'approved' or 'denied'")
        c = approval_requests.c
        statement = update(approval_requests).where(
            c.request_id == request_id, c.status == "pending"
        )
        statement = statement.values(
            status=status,
            granted=list(granted),
            decided_at=at,
            decided_by=decided_by,
            reason=reason,
        )
        async with self._tx() as conn:
            rows = (await conn.execute(statement.returning(approval_requests))).mappings().all()
            if rows:
                return _rows.to_approval(rows[0])
            known = await conn.execute(select(exists().where(c.request_id == request_id)))
            if known.scalar():
                raise ConflictError(f"approval request {request_id!r} was already decided")
            raise KeyError(request_id)


class SqlBillingStore(_SqlStore):
    async def add_billing_token(self, token: BillingToken) -> None:
        await self._change(billing_tokens.insert().values(_rows.billing_row(token)))

    async def get_billing_token(self, digest: str) -> BillingToken | None:
        rows = await self._fetch(select(billing_tokens).where(billing_tokens.c.digest == digest))
        return _rows.to_billing(rows[0]) if rows else None

    async def use_billing_token(self, digest: str, now: float) -> BillingToken | None:
        """One conditional ``UPDATE ... SET uses = uses + 1 ... RETURNING``: on Postgres a
        concurrent use waits for the row lock and re-checks ``uses < max_uses`` on the new row;
        SQLite serializes writers."""
        c = billing_tokens.c
        statement = update(billing_tokens).where(
            c.digest == digest,
            or_(c.expires_at.is_(None), c.expires_at > now),
            or_(c.max_uses.is_(None), c.uses < c.max_uses),
        )
        statement = statement.values(uses=c.uses + 1).returning(billing_tokens)
        rows = await self._fetch(statement)
        return _rows.to_billing(rows[0]) if rows else None

    async def list_billing_tokens(self) -> list[BillingToken]:
        query = select(billing_tokens).order_by(
            billing_tokens.c.created_at, billing_tokens.c.token_id
        )
        return [_rows.to_billing(r) for r in await self._fetch(query)]


class SqlOwnerStore(_SqlStore):
    """Owners; the unique ``email_key`` column makes the email unique case-insensitively."""

    async def create_owner(self, owner: Owner) -> None:
        await self._change(owners.insert().values(_rows.owner_row(owner)))

    async def get_owner(self, owner_id: str) -> Owner | None:
        rows = await self._fetch(select(owners).where(owners.c.owner_id == owner_id))
        return _rows.to_owner(rows[0]) if rows else None

    async def get_owner_by_email(self, email: str) -> Owner | None:
        rows = await self._fetch(select(owners).where(owners.c.email_key == email_key(email)))
        return _rows.to_owner(rows[0]) if rows else None

    async def list_owners(self) -> list[Owner]:
        query = select(owners).order_by(owners.c.created_at, owners.c.owner_id)
        return [_rows.to_owner(r) for r in await self._fetch(query)]

    async def update_owner(self, owner: Owner) -> None:
        """``ConflictError`` too if the new email belongs to another owner (the unique index)."""
        row = _rows.owner_row(owner)
        where = owners.c.owner_id == row.pop("owner_id")
        if not await self._change(update(owners).where(where).values(row)):
            raise KeyError(owner.owner_id)


class SqlGrantStore(_SqlStore):
    """Codes and refresh tokens. One use each: a conditional ``UPDATE ... SET used_at = :now
    WHERE digest = :d AND used_at IS NULL RETURNING``. On Postgres a concurrent use waits for
    the row lock and re-checks ``used_at IS NULL`` on the new row, so it matches nothing;
    SQLite serializes writers."""

    async def _use_once(
        self, table: Table, key: str, digest: str, now: float
    ) -> tuple[_rows.Row, bool] | None:
        """(the row, whether this call marked it used), or None if unknown."""
        c = table.c
        mark = update(table).where(c[key] == digest, c.used_at.is_(None))
        mark = mark.values(used_at=now).returning(table)
        async with self._tx() as conn:
            # Twice at most: a row found unmarked yet unused was inserted after the UPDATE's
            # snapshot (Postgres, READ COMMITTED); the second UPDATE sees it.
            for _ in range(2):
                won = (await conn.execute(mark)).mappings().first()
                if won is not None:
                    return won, True
                found = await conn.execute(select(table).where(c[key] == digest))
                row = found.mappings().first()
                if row is None:
                    return None
                if row["used_at"] is not None:
                    return row, False
        raise StorageError("could not mark the record used")

    async def add_code(self, code: AuthorizationCode) -> None:
        await self._change(authorization_codes.insert().values(_rows.code_row(code)))

    async def consume_code(self, digest: str, now: float) -> AuthorizationCode | None:
        found = await self._use_once(authorization_codes, "code_digest", digest, now)
        if found is None:
            return None
        code = _rows.to_code(found[0])
        return dataclasses.replace(code, used_at=None) if found[1] else code

    async def add_refresh(self, token: RefreshToken) -> None:
        await self._change(refresh_tokens.insert().values(_rows.refresh_row(token)))

    async def use_refresh(self, digest: str, now: float) -> RefreshToken | None:
        found = await self._use_once(refresh_tokens, "token_digest", digest, now)
        if found is None:
            return None
        token = _rows.to_refresh(found[0])
        return dataclasses.replace(token, used_at=None) if found[1] else token

    async def find_refresh(self, digest: str) -> RefreshToken | None:
        rows = await self._fetch(select(refresh_tokens).where(
            refresh_tokens.c.token_digest == digest))
        return _rows.to_refresh(rows[0]) if rows else None

    async def revoke_grant(self, grant_id: str) -> int:
        c = refresh_tokens.c
        statement = update(refresh_tokens).where(c.grant_id == grant_id, c.revoked.is_(False))
        return await self._change(statement.values(revoked=True))

    async def purge_expired(self, now: float) -> int:
        async with self._tx() as conn:
            codes = await conn.execute(
                delete(authorization_codes).where(authorization_codes.c.expires_at <= now)
            )
            tokens = await conn.execute(
                delete(refresh_tokens).where(refresh_tokens.c.expires_at <= now)
            )
            return codes.rowcount + tokens.rowcount


class SqlSessionStore(_SqlStore):
    """Console sessions, one row each; expired rows are ignored until purged."""

    async def add_session(self, session: ConsoleSession) -> None:
        await self._change(console_sessions.insert().values(
            session_digest=session.digest, owner_id=session.owner_id,
            created_at=session.created_at, expires_at=session.expires_at))

    async def get_session(self, digest: str, now: float) -> ConsoleSession | None:
        c = console_sessions.c
        rows = await self._fetch(select(console_sessions).where(
            c.session_digest == digest, c.expires_at > now))
        if not rows:
            return None
        row = rows[0]
        return ConsoleSession(digest=row["session_digest"], owner_id=row["owner_id"],
                              created_at=row["created_at"], expires_at=row["expires_at"])

    async def delete_session(self, digest: str) -> None:
        await self._change(delete(console_sessions).where(
            console_sessions.c.session_digest == digest))

    async def delete_owner_sessions(self, owner_id: str) -> int:
        return await self._change(delete(console_sessions).where(
            console_sessions.c.owner_id == owner_id))

    async def purge_expired(self, now: float) -> int:
        return await self._change(delete(console_sessions).where(
            console_sessions.c.expires_at <= now))


async def open_sql_stores(url: str, *, clock: Clock | None = None,
                          statement_timeout: float = STATEMENT_TIMEOUT,
                          change_interval: float = 0.5) -> Stores:
    """Stores on one engine for ``url`` (migrate it first with ``migrate.upgrade``).

    ``clock`` judges replay-cache expiry (default: the system clock). ``statement_timeout``
    (seconds) bounds each statement (see ``engine.create_engine``); ``change_interval`` is how
    often the client change log is polled. ``close`` disposes the engine.
    """
    engine = create_engine(url, statement_timeout=statement_timeout)
    clock = clock or SystemClock()
    return Stores(
        clients=SqlClientStore(engine),
        keys=SqlKeyStore(engine),
        revocations=SqlRevocationStore(engine),
        replay=SqlReplayCache(engine, clock),
        audit=SqlAuditLog(engine),
        approvals=SqlApprovalStore(engine),
        billing=SqlBillingStore(engine),
        owners=SqlOwnerStore(engine),
        grants=SqlGrantStore(engine),
        sessions=SqlSessionStore(engine),
        close=engine.dispose,
        changes=SqlClientChanges(engine, clock, interval=change_interval),
    )
