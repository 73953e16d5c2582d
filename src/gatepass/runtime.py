"""Wiring: settings -> local secrets, stores, keys and the AuthorizationServer (DESIGN §7.7).

Shared by ``create_app`` and the CLI so both act on the same database the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from gatepass.clock import Clock, SystemClock
from gatepass.core.admin import Admin
from gatepass.core.agents import AgentRegistrar
from gatepass.core.attestation import AttestationVerifier
from gatepass.core.audit import Auditor, BatchObserver, DeadLetterFile
from gatepass.core.billing import BillingGate, FreeTierGate, PrepaidBillingGate
from gatepass.core.client_auth.private_key_jwt import JwksFetcher
from gatepass.core.config import AgentPolicy, AttestationIssuer, ServerConfig
from gatepass.core.credentials import SecretHasher
from gatepass.core.provisioning import Provisioner, RegistrationLimiter
from gatepass.core.registration import DynamicRegistration
from gatepass.core.server import AuthorizationServer
from gatepass.errors import BillingRequired
from gatepass.http.fetch import check_public_url
from gatepass.keys import Keyring, KeySealer, ensure_signing_key
from gatepass.models import AuditEvent, ScopeDef
from gatepass.ratelimit.policy import DEFAULT_TIERS, Tier
from gatepass.settings import Settings
from gatepass.storage.base import Stores

__all__ = [
    "MissingLocalSecrets",
    "Runtime",
    "billing_required",
    "describe_event",
    "local_secrets",
    "open_runtime",
    "open_stores",
    "server_config",
]


class MissingLocalSecrets(Exception):
    """The key-encryption keys and pepper are neither configured nor generated yet."""


def local_secrets(settings: Settings, *, create: bool = True) -> tuple[list[str], bytes]:
    """Key-encryption keys and the secret pepper: configured, else generated once into
    ``data_dir/secrets.json`` (mode 0600) so a development server keeps its keys across starts.
    Without ``create``, a missing file raises ``MissingLocalSecrets`` instead."""
    keks = [k.get_secret_value() for k in settings.key_encryption_keys]
    pepper = settings.secret_pepper.get_secret_value() if settings.secret_pepper else None
    if keks and pepper:
        return keks, pepper.encode()
    path = Path(settings.data_dir) / "secrets.json"
    stored: dict[str, Any] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    elif not create:
        raise MissingLocalSecrets(
            f"No local secrets at {path} (setting data_dir) and no key_encryption_keys and "
            "secret_pepper configured: run `gatepass serve` or `gatepass db upgrade` first")
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        stored = {"key_encryption_key": Fernet.generate_key().decode(),
                  "secret_pepper": os.urandom(32).hex()}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
    return keks or [stored["key_encryption_key"]], (pepper or stored["secret_pepper"]).encode()


def agent_policy(settings: Settings) -> AgentPolicy:
    a = settings.agents
    return AgentPolicy(
        tos_url=a.tos_url, tos_version=a.tos_version, documentation_url=a.documentation_url,
        billing_options=tuple(a.billing_options), free_tier=a.free_tier,
        rate_limits={name: _limits_view(t) for name, t in DEFAULT_TIERS.items()},
        trust_levels=tuple(a.trust_levels), promotion_min_age=tuple(a.promotion_min_age),
        promotion_min_tokens=tuple(a.promotion_min_tokens), secret_grace=a.secret_rotation_grace,
        dedup_window=a.dedup_window,
        attestation_issuers=tuple(AttestationIssuer(**i.model_dump())
                                  for i in a.attestation_issuers),
        development=settings.development,
    )


def _limits_view(tier: Tier) -> dict[str, int]:
    view = {"requests_per_minute": tier.per_minute}
    if tier.burst is not None:
        view["burst"] = tier.burst
    if tier.per_day is not None:
        view["requests_per_day"] = tier.per_day
    return view


def server_config(settings: Settings) -> ServerConfig:
    return ServerConfig(
        issuer=settings.issuer,
        scopes=tuple(ScopeDef(**s.model_dump()) for s in settings.scopes),
        access_token_ttl=settings.access_token_ttl,
        default_audience=settings.default_audience,
        resources=tuple(settings.resources),
        assertion_max_lifetime=settings.assertion_max_lifetime,
        assertion_algorithms=tuple(settings.assertion_algorithms),
        client_cache_ttl=settings.client_cache_ttl,
        client_sync_interval=settings.client_sync_interval,
        agents=agent_policy(settings),
        signing_alg=settings.signing_alg,
        jwks_max_age=settings.jwks_max_age,
    )


async def open_stores(
    settings: Settings, *, migrate: bool = True, clock: Clock | None = None
) -> Stores:
    """The configured backend: ``memory://`` or an SQL URL (migrated to head unless told not)."""
    if settings.database_url == "memory://":
        from gatepass.storage.memory import open_memory_stores

        return open_memory_stores(clock=clock)
    from gatepass.storage.sql.migrate import upgrade_async
    from gatepass.storage.sql.stores import open_sql_stores

    if migrate:
        await upgrade_async(settings.database_url)
    stores = await open_sql_stores(settings.database_url, clock=clock,
                                   statement_timeout=settings.database_timeout,
                                   change_interval=settings.client_sync_interval)
    return await _with_redis_push(settings, stores)


def start_lock(settings: Settings) -> AbstractAsyncContextManager[None]:
    """Serialise first-start provisioning (check, then create) between processes that share
    the database: a PostgreSQL advisory lock; nothing to do for SQLite and memory."""
    if settings.database_url == "memory://":
        return nullcontext()
    from gatepass.storage.sql.migrate import advisory_lock

    return advisory_lock(settings.database_url)


async def _with_redis_push(settings: Settings, stores: Stores) -> Stores:
    """With ``redis_url`` set, revocations and client cutoffs are also pushed on
    ``gatepass:revocations``, and client changes on ``gatepass:clients``."""
    if not settings.redis_url:
        return stores
    from redis.asyncio import Redis

    from gatepass.storage.fanout import BroadcastClientChanges, PublishingRevocationStore
    from gatepass.storage.redis import RedisClientChanges, publish_cutoff, publish_revocation

    redis = Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def publish(jti: str, exp: float) -> None:
        await publish_revocation(redis, jti, exp)

    async def cutoff(client_id: str, before: float, exp: float) -> None:
        await publish_cutoff(redis, client_id, before, exp)

    async def close() -> None:
        try:
            await stores.close()
        finally:
            await redis.aclose()

    changes = RedisClientChanges(redis)
    return replace(stores,
                   revocations=PublishingRevocationStore(stores.revocations, publish, cutoff),
                   changes=BroadcastClientChanges(stores.changes, changes) if stores.changes
                   else changes, close=close)


@dataclass
class Runtime:
    """Everything a process needs to act as the server."""

    settings: Settings
    stores: Stores
    server: AuthorizationServer
    admin: Admin
    agents: AgentRegistrar
    registration: DynamicRegistration

    async def reload_keys(self) -> None:
        self.server.keyring = Keyring(await self.stores.keys.list_keys(), self.server.sealer)

    async def close(self) -> None:
        """Flush the audit trail (what cannot be stored goes to the dead-letter file), then
        release the stores."""
        try:
            await self.server.audit.close()
        finally:
            await self.stores.close()


async def _no_fetch(url: str, *, refresh: bool = False) -> Mapping[str, Any]:
    raise RuntimeError("fetching jwks_uri is not available in this process")


async def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    fetch_jwks: JwksFetcher | None = None,
    on_audit: Callable[[AuditEvent], None] | None = None,
    on_audit_batch: BatchObserver | None = None,
    stores: Stores | None = None,
    migrate: bool = True,
    billing: BillingGate | None = None,
    account_limiter: RegistrationLimiter | None = None,
    create: bool = True,
) -> Runtime:
    """Open stores, make sure a signing key exists, and build the server and admin facade.
    Without ``create`` no local secrets or signing key are generated (CLI commands other than
    ``serve`` and ``db upgrade``)."""
    clock = clock or SystemClock()
    stores = stores or await open_stores(settings, migrate=migrate, clock=clock)
    try:  # secrets after the database: one that cannot be reached leaves no key material
        keks, pepper = local_secrets(settings, create=create)
        sealer = KeySealer(keks)
        if create:
            async with start_lock(settings):  # N processes starting together: one first key
                await ensure_signing_key(stores.keys, sealer, settings.signing_alg, clock)
        keyring = Keyring(await stores.keys.list_keys(), sealer)
    except BaseException:
        await stores.close()
        raise
    dead_letter = settings.audit_dead_letter_path or (
        Path(settings.data_dir) / "audit-dead-letter.jsonl")
    auditor = Auditor(stores.audit, clock, on_audit, on_audit_batch, DeadLetterFile(dead_letter))
    hasher = SecretHasher(pepper)
    server = AuthorizationServer(server_config(settings), stores, keyring, sealer, hasher, clock,
                                 auditor, fetch_jwks or _no_fetch)
    agents, registration = _registration(settings, server, fetch_jwks or _no_fetch, billing,
                                         account_limiter)
    return Runtime(settings, stores, server, Admin(server), agents, registration)


def _registration(
    settings: Settings, server: AuthorizationServer, fetch: JwksFetcher,
    billing: BillingGate | None, account_limiter: RegistrationLimiter | None,
) -> tuple[AgentRegistrar, DynamicRegistration]:
    policy = server.config.agents
    required = billing_required(server.config)
    gate: BillingGate = billing or PrepaidBillingGate(server.stores.billing, server.clock, required)
    if policy.free_tier:
        gate = FreeTierGate(gate, policy.free_tier)
    verifier = AttestationVerifier(policy.attestation_issuers, server.config.issuer, server.clock,
                                   fetch)

    async def guard(url: str) -> None:
        await check_public_url(url, development=settings.development)

    provisioner = Provisioner(server, gate, guard, account_limiter)
    return (AgentRegistrar(server, provisioner, gate, verifier),
            DynamicRegistration(server, provisioner, gate, verifier))


def billing_required(config: ServerConfig) -> BillingRequired:
    """The 402 every billing gate raises, listing the configured options as absolute URLs."""
    options = [{"type": o["type"], "endpoint": o["endpoint"] if "://" in o["endpoint"]
                else config.issuer + o["endpoint"]} for o in config.agents.billing_options]
    return BillingRequired("Valid billing method required for agent registration",
                           extra={"billing_options": options})


def describe_event(ev: AuditEvent) -> dict[str, Any]:
    """An audit event as plain JSON-able data."""
    return {"event": ev.event, "outcome": ev.outcome, "at": ev.at, "client_id": ev.client_id,
            "scopes": list(ev.scopes), "reason": ev.reason, "actor": ev.actor,
            "details": dict(ev.details)}
