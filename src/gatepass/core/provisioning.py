"""Creating self-registered clients: tier, trust, approval requests, dedup (DESIGN §5).

Shared by agent self-registration and RFC 7591 dynamic registration so both apply the same
client model, trust and approval rules. The server always chooses the ``client_id`` (RFC 9700
§4.15); the secret and the registration access token are returned once and stored as digests.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from gatepass.core.attestation import Attestation
from gatepass.core.billing import BillingDecision, BillingGate
from gatepass.core.credentials import new_client_id, new_secret
from gatepass.core.policy import split_requested
from gatepass.errors import InvalidClientMetadata, RateLimitExceeded
from gatepass.models import ApprovalRequest, Client, ClientSecret

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = [
    "ProvisionRequest",
    "Provisioned",
    "Provisioner",
    "RegistrationLimiter",
    "UrlGuard",
    "fingerprint",
]

RAT_PREFIX = "gpr_"
UrlGuard = Callable[[str], Awaitable[None]]
"""Raises ValueError when a client-supplied URL is not https/public (SSRF guard)."""


class RegistrationLimiter(Protocol):
    async def hit(self, key: str) -> int | None:
        """Count one registration for ``key``; None if allowed, else seconds to wait."""


@dataclass(frozen=True, slots=True)
class ProvisionRequest:
    name: str
    scopes: tuple[str, ...]
    billing: BillingDecision
    agent_type: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    attestation: Attestation | None = None
    fingerprint: str | None = None
    source: str = "agent_registration"
    grant_types: tuple[str, ...] = ("client_credentials",)
    auth_method: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Provisioned:
    client: Client
    secret: str | None
    registration_token: str
    pending: tuple[str, ...]
    restricted: Mapping[str, str]
    approval_id: str | None
    reused: bool = False


def fingerprint(source_addr: str | None, body: Mapping[str, Any]) -> str | None:
    """Same source + same metadata (secrets included as digests) = same fingerprint.

    Only a body that carries a secret (a billing token or a software statement) gets one:
    otherwise anyone behind the same address could replay a public body and take over the
    client's credentials. Such registrations are not merged (the per-IP limit still applies).
    """
    secrets_in_body = [k for k in ("billing_token", "software_statement") if body.get(k)]
    if not secrets_in_body:
        return None
    data = {k: v for k, v in body.items() if k not in ("billing_token", "software_statement")}
    for k in secrets_in_body:
        data[k] = hashlib.sha256(str(body[k]).encode()).hexdigest()
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{source_addr}|{canon}".encode()).hexdigest()


def _public_jwk_set(jwks: Any) -> bool:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    return (isinstance(keys, list) and bool(keys)
            and not any("d" in k for k in keys if isinstance(k, dict)))


class Provisioner:
    """Turns a validated registration into a stored client."""

    def __init__(self, server: AuthorizationServer, billing: BillingGate, url_guard: UrlGuard,
                 account_limiter: RegistrationLimiter | None = None) -> None:
        self._server = server
        self._billing = billing
        self.url_guard = url_guard
        self._account_limiter = account_limiter

    async def check_keys(self, jwks: Any, jwks_uri: Any) -> None:
        """RFC 7591 §2: jwks and jwks_uri are exclusive; a jwks_uri must be https and public."""
        if jwks is not None and jwks_uri is not None:
            raise InvalidClientMetadata("Give jwks or jwks_uri, not both (RFC 7591 §2)")
        if jwks is not None and not _public_jwk_set(jwks):
            raise InvalidClientMetadata("jwks must be a non-empty JWK Set of public keys")
        if jwks_uri is not None:
            if not isinstance(jwks_uri, str):
                raise InvalidClientMetadata("jwks_uri must be a string")
            try:
                await self.url_guard(jwks_uri)
            except ValueError as exc:
                raise InvalidClientMetadata(f"jwks_uri refused: {exc}") from exc

    async def find_duplicate(self, fp: str | None) -> Client | None:
        if fp is None:
            return None
        since = self._server.clock.now() - self._server.config.agents.dedup_window
        return await self._server.stores.clients.find_by_fingerprint(fp, since)

    async def check_billing(self, fp: str | None, billing_token: Any) -> BillingDecision:
        """The billing decision, after the per-account daily limit. A retried identical
        registration (same fingerprint, which covers the billing token) was paid for and
        counted already, so a used single-use token passes and the limit is not hit again."""
        existing = await self.find_duplicate(fp)
        if existing is not None:
            account = str(existing.metadata.get("billing_account", ""))
            return BillingDecision(existing.tier or "", account)
        decision = await self._billing.check(billing_token)
        await self._limit_account(decision.account_id)
        return decision

    async def _limit_account(self, account_id: str) -> None:
        if self._account_limiter is None or account_id == "free":
            return
        wait = await self._account_limiter.hit(f"account:{account_id}")
        if wait is not None:
            raise RateLimitExceeded(
                "Too many registrations for this billing account today",
                headers={"Retry-After": str(wait)}, extra={"retry_after": wait},
            )

    async def provision(self, req: ProvisionRequest) -> Provisioned:
        if req.fingerprint is not None:
            existing = await self.find_duplicate(req.fingerprint)
            if existing is not None:
                return await self._reissue(existing)
        await self._billing.commit(req.billing)
        client = self._new_client(req)
        _, pending, restricted = split_requested(self._server.config, client, req.scopes)
        client = replace(client, allowed_scopes=tuple(s for s in req.scopes if s not in pending))
        return await self._store(client, pending, restricted, req)

    def _new_client(self, req: ProvisionRequest) -> Client:
        keyed = req.jwks is not None or req.jwks_uri is not None
        trust = req.attestation.trust_level if req.attestation else 0
        meta = {**req.metadata, "registered_via": req.source,
                "billing_account": req.billing.account_id}
        if req.attestation is not None:
            meta["attestation"] = {"issuer": req.attestation.issuer,
                                   "sub": req.attestation.claims.get("sub")}
        return Client(
            client_id=new_client_id("agent_"), name=req.name, created_at=self._server.clock.now(),
            grant_types=req.grant_types,
            token_endpoint_auth_method=req.auth_method
            or ("private_key_jwt" if keyed else "client_secret_basic"),
            jwks=req.jwks, jwks_uri=req.jwks_uri, agent_type=req.agent_type,
            tier=req.billing.tier, trust_level=min(trust, self._server.config.agents.max_trust),
            metadata=meta, registration_fingerprint=req.fingerprint,
        )

    async def _store(self, client: Client, pending: tuple[str, ...], restricted: Mapping[str, str],
                     req: ProvisionRequest) -> Provisioned:
        rat = RAT_PREFIX + secrets.token_urlsafe(32)
        client = replace(client, registration_token_digest=self._server.hasher.digest(rat))
        secret = None if client.uses_private_key_jwt or _public(client) else new_secret()
        stored = [] if secret is None else [self._secret(client.client_id, secret)]
        await self._server.stores.clients.create_client(client, stored)
        approval_id = None
        if pending:
            approval_id = "apr_" + secrets.token_hex(8)
            await self._server.stores.approvals.add_approval(ApprovalRequest(
                approval_id, client.client_id, pending, self._server.clock.now()))
        self._server.audit.emit(
            "client.registered", "success", client_id=client.client_id,
            scopes=client.allowed_scopes,
            actor=req.source, pending=list(pending), tier=client.tier,
            trust_level=client.trust_level, account=req.billing.account_id,
        )
        return Provisioned(client, secret, rat, pending, restricted, approval_id)

    def _secret(self, client_id: str, secret: str) -> ClientSecret:
        now = self._server.clock.now()
        ttl = self._server.config.agents.secret_ttl
        return ClientSecret(secrets.token_hex(8), client_id, self._server.hasher.digest(secret),
                            now, now + ttl if ttl else None)

    async def _reissue(self, client: Client) -> Provisioned:
        """A retried identical registration: same client, fresh credentials (old ones dropped)."""
        store = self._server.stores.clients
        secret = None if client.uses_private_key_jwt or _public(client) else new_secret()
        rat = RAT_PREFIX + secrets.token_urlsafe(32)
        client = replace(client, registration_token_digest=self._server.hasher.digest(rat))
        await store.update_client(client)
        if secret is not None:
            for old in await store.list_secrets(client.client_id):
                await store.delete_secret(old.secret_id)
            await store.add_secret(self._secret(client.client_id, secret))
        await self._server.directory.changed(client.client_id)
        pending = [a for a in await self._server.stores.approvals.list_approvals(
            "pending", client.client_id)]
        self._server.audit.emit("client.registration_repeated", "success",
                                client_id=client.client_id, actor="registration")
        _, _, restricted = split_requested(self._server.config, client, client.allowed_scopes)
        return Provisioned(client, secret, rat, tuple(s for a in pending for s in a.scopes),
                           restricted, pending[0].request_id if pending else None, reused=True)


def _public(client: Client) -> bool:
    """A public client (``none``, RFC 7591 §2) gets no secret."""
    return client.token_endpoint_auth_method == "none"
