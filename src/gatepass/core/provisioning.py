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
from gatepass.storage.base import ConflictError

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
CONSENT_ACCOUNT = "consent"
"""The billing account of clients that registered without billing (consent is their gate)."""
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


def fingerprint(source_addr: str | None, body: Mapping[str, Any]) -> str | None:
    """Same source + same metadata (secrets included as digests) = same fingerprint.

    Only a body that carries a secret (a billing token or a software statement) gets one: a
    public body may come from strangers behind one address, who must not be refused as each
    other's repeats. Such registrations each create a client (the per-IP limit still applies).
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

    async def check_billing(self, fp: str | None, billing_token: Any, *,
                            required: bool = True) -> BillingDecision:
        """The billing decision, after the per-account daily limit; 409 for a repeat of a recent
        registration (:meth:`provision`). A registration that needs
        no billing (``required`` False: an authorization-code-only client, whose gate is the
        owner's consent) and brings no token gets the free tier, else the lowest tier."""
        existing = await self.find_duplicate(fp)
        if existing is not None:
            raise self._repeated(existing.client_id)
        if not required and not billing_token:
            policy = self._server.config.agents
            return BillingDecision(policy.free_tier or policy.tier_order[0], CONSENT_ACCOUNT)
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
        """Store the client, then spend the billing method (the client is removed again when
        that fails). A repeat of a registration (same fingerprint) within the dedup window is
        409 naming the existing client, never its credentials: the first holder keeps them.
        The store's unique fingerprint decides between concurrent repeats, on any instance."""
        client = self._new_client(req)
        _, pending, restricted = split_requested(self._server.config, client, req.scopes)
        client = replace(client, allowed_scopes=tuple(s for s in req.scopes if s not in pending))
        return await self._store(client, pending, restricted, req)

    def _repeated(self, client_id: str | None) -> InvalidClientMetadata:
        window = int(self._server.config.agents.dedup_window)
        return InvalidClientMetadata(
            f"An identical registration from this address created {client_id} less than "
            f"{window} s ago; its credentials went to that request only. Use them, or change "
            "the registration to create another client",
            status=409, extra={"client_id": client_id} if client_id else {})

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
        clients = self._server.stores.clients
        if req.fingerprint is not None:  # an older registration's window has passed
            await clients.release_fingerprint(
                req.fingerprint, self._server.clock.now() - self._server.config.agents.dedup_window)
        approval = ApprovalRequest("apr_" + secrets.token_hex(8), client.client_id, pending,
                                   self._server.clock.now()) if pending else None
        try:  # one transaction: a client with pending scopes always has the approval to act on
            await clients.create_client(client, stored, approval)
        except ConflictError:
            if req.fingerprint is None:
                raise
            existing = await self.find_duplicate(req.fingerprint)
            raise self._repeated(existing.client_id if existing else None) from None
        try:
            await self._billing.commit(req.billing)
        except BaseException:
            await clients.delete_client(client.client_id)
            raise
        approval_id = approval.request_id if approval is not None else None
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


def _public(client: Client) -> bool:
    """A public client (``none``, RFC 7591 §2) gets no secret."""
    return client.token_endpoint_auth_method == "none"
