"""Agent self-registration (``POST /api/v1/agents/register``): terms, billing, tiers, trust.

The guide's request and response shapes: ``tos_required`` (400) and ``billing_required`` (402)
say what to do next; a 201 carries the credentials once, the granted, pending and restricted
scopes, the token endpoint and the tier's rate limits. The RFC 7591 names are understood
alongside the agent's own; unknown fields are ignored and listed in ``ignored_metadata``
(RFC 7591 §2). Contradictions are ``invalid_client_metadata``. Bad input stores nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatepass.core.attestation import AttestationVerifier
from gatepass.core.billing import BillingGate
from gatepass.core.policy import requested_scopes, split_requested
from gatepass.core.provisioning import (
    RAT_PREFIX,
    Provisioned,
    Provisioner,
    ProvisionRequest,
    fingerprint,
)
from gatepass.core.registration import (
    STANDARD_METADATA,
    billing_token,
    ignored_metadata,
    needs_billing,
    validate_metadata,
)
from gatepass.core.revocation import claims_revoked
from gatepass.errors import (
    InvalidClientMetadata,
    InvalidRequest,
    InvalidToken,
    TosRequired,
)
from gatepass.models import Client

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = ["AGENT_TYPES", "AgentRegistrar", "requested_scopes"]

AGENT_TYPES = ("autonomous", "supervised", "tool")
MAX_NAME = 200
_FIELDS = frozenset({"agent_name", "agent_type", "requested_scopes", "tos_accepted",
                     "billing_token", "owner", "jwks", "jwks_uri", "software_statement",
                     "client_uri", "contacts", "description", "client_name", "scope",
                     "client_id", "client_secret",
                     *STANDARD_METADATA})


class AgentRegistrar:
    """Validates an agent's registration and provisions its client."""

    def __init__(self, server: AuthorizationServer, provisioner: Provisioner, billing: BillingGate,
                 attestations: AttestationVerifier) -> None:
        self._server = server
        self._provisioner = provisioner
        self._billing = billing
        self._attestations = attestations

    async def register(self, body: Any, remote_addr: str | None) -> dict[str, Any]:
        req = await self._validate(body, remote_addr)
        result = await self._provisioner.provision(req)
        answer = self.response(result)
        ignored = ignored_metadata(body, _FIELDS)
        if ignored:
            answer["ignored_metadata"] = ignored
        return answer

    async def _validate(self, body: Any, remote_addr: str | None) -> ProvisionRequest:
        """The agent's own fields, and the RFC 7591 names alongside them: ``client_name`` is the
        ``agent_name`` when that is absent, ``scope`` the ``requested_scopes``; the rest are
        validated as on ``/oauth/register``. Unknown fields are ignored (RFC 7591 §2)."""
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object")
        if "client_id" in body or "client_secret" in body:
            raise InvalidClientMetadata("client_id and client_secret are chosen by the server")
        policy = self._server.config.agents
        if body.get("tos_accepted") is not True:
            raise TosRequired("Agent must accept the Terms of Service (tos_accepted: true)",
                              extra={"tos_url": self._url(policy.tos_url),
                                     "tos_version": policy.tos_version})
        name = body["agent_name"] if "agent_name" in body else body.get("client_name")
        if (not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME
                or not name.isprintable()):
            raise InvalidClientMetadata(
                f"agent_name must be a string of 1-{MAX_NAME} printable characters")
        agent_type = body.get("agent_type", "autonomous")
        if agent_type not in AGENT_TYPES:
            raise InvalidClientMetadata(f"agent_type must be one of {', '.join(AGENT_TYPES)}")
        scopes = self._scopes(body)
        meta = await validate_metadata(body, self._server.config, self._provisioner,
                                       keyed_default=True)
        statement = body.get("software_statement")
        attestation = await self._attestations.verify(statement) if statement else None
        fp = fingerprint(remote_addr, body)
        billing = await self._provisioner.check_billing(
            fp, billing_token(body, None), required=needs_billing(meta["grant_types"]))
        owner = body.get("owner")
        extra = {"owner_hint": owner} if isinstance(owner, str) else {}
        return ProvisionRequest(
            name=name.strip(), scopes=scopes, billing=billing, agent_type=agent_type,
            jwks=body.get("jwks"), jwks_uri=body.get("jwks_uri"), attestation=attestation,
            fingerprint=fp, metadata={**extra, **meta["extra"]},
            grant_types=meta["grant_types"], auth_method=meta["token_endpoint_auth_method"],
        )

    def _scopes(self, body: dict[str, Any]) -> tuple[str, ...]:
        catalog = self._server.config.scope
        scopes = requested_scopes(catalog, body.get("requested_scopes", []))
        if "scope" in body:
            named = requested_scopes(catalog, body["scope"])
            if "requested_scopes" in body and set(named) != set(scopes):
                raise InvalidClientMetadata("scope and requested_scopes name different scopes")
            scopes = named
        return scopes

    def _url(self, path: str) -> str:
        return path if "://" in path else self._server.config.issuer + path

    def response(self, result: Provisioned) -> dict[str, Any]:
        """The 201 body (the secret and registration access token appear only here)."""
        client = result.client
        policy = self._server.config.agents
        body: dict[str, Any] = {
            "client_id": client.client_id,
            "client_id_issued_at": int(client.created_at),
            "client_secret_expires_at": 0,
            "agent_name": client.name,
            "agent_type": client.agent_type,
            "tier": client.tier,
            "trust_level": client.trust_level,
            "allowed_scopes": [s for s in client.allowed_scopes if s not in result.restricted],
            "pending_scopes": list(result.pending),
            "restricted_scopes": [{"scope": s, "reason": r} for s, r in result.restricted.items()],
            "token_endpoint": self._server.config.token_endpoint,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "grant_types": list(client.grant_types),
            "documentation": self._url(policy.documentation_url),
            "rate_limits": dict(policy.rate_limits.get(client.tier or "", {})),
            "registration_access_token": result.registration_token,
            "registration_client_uri": self._server.config.issuer + "/api/v1/agents/me",
        }
        if result.approval_id:
            body["approval_request_id"] = result.approval_id
        if result.secret is not None:
            body["client_secret"] = result.secret
            body["warning"] = "Store the client_secret securely. It cannot be retrieved again."
        return body

    async def identify(self, authorization: str | None) -> Client:
        """The agent behind a bearer access token (ours, unexpired, unrevoked) or a
        registration access token; ``InvalidToken`` otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("Send Authorization: Bearer <access token or registration token>",
                               headers={"WWW-Authenticate": 'Bearer realm="gatepass"'})
        server = self._server
        client_id = None
        if token.startswith(RAT_PREFIX):
            found = await server.stores.clients.find_by_registration_token(
                server.hasher.digest(token))
            client_id = found.client_id if found else None
        else:
            claims = server.keyring.verify(token)
            if (claims and claims.get("exp", 0) > server.clock.now()
                    and not await claims_revoked(server.stores.revocations, claims)):
                client_id = claims.get("client_id")
        client = await server.stores.clients.get_client(client_id) if client_id else None
        if client is None:
            raise InvalidToken("Invalid or expired token", headers={
                "WWW-Authenticate": 'Bearer realm="gatepass", error="invalid_token"'})
        return client

    async def status(self, client: Client) -> dict[str, Any]:
        """What the agent may do now, what waits for its owner, and what its trust level gates."""
        _, _, restricted = split_requested(self._server.config, client, client.allowed_scopes)
        approvals = await self._server.stores.approvals.list_approvals(client_id=client.client_id)
        secrets_ = await self._server.stores.clients.list_secrets(client.client_id)
        policy = self._server.config.agents
        return {
            "client_id": client.client_id, "agent_name": client.name,
            "agent_type": client.agent_type, "status": client.status, "tier": client.tier,
            "trust_level": client.trust_level,
            "trust_level_name": policy.trust_levels[min(client.trust_level, policy.max_trust)],
            "allowed_scopes": [s for s in client.allowed_scopes if s not in restricted],
            "restricted_scopes": [{"scope": s, "reason": r} for s, r in restricted.items()],
            "pending_scopes": [s for a in approvals if a.status == "pending" for s in a.scopes],
            "approvals": [{"request_id": a.request_id, "scopes": list(a.scopes),
                           "status": a.status, "granted": list(a.granted), "reason": a.reason}
                          for a in approvals],
            "secrets": [{"secret_id": s.secret_id, "created_at": s.created_at,
                         "expires_at": s.expires_at} for s in secrets_],
            "token_endpoint": self._server.config.token_endpoint,
            "rate_limits": dict(policy.rate_limits.get(client.tier or "", {})),
        }
