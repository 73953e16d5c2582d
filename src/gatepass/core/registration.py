"""Dynamic client registration (RFC 7591 §3) and its management protocol (RFC 7592 §2).

Same client model, trust and approval rules as agent self-registration. Every field is
validated on create and re-validated on update; ``client_id`` is always server-chosen.
Metadata the server does not understand is ignored and named in ``ignored_metadata`` (RFC 7591
§2); contradictory metadata is ``invalid_client_metadata`` and nothing is stored. Billing
applies only to clients that can obtain tokens with no human present (client credentials, an
assertion grant): for an authorization-code-only client the owner's consent is the gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gatepass.core.attestation import AttestationVerifier
from gatepass.core.billing import BillingGate
from gatepass.core.config import ServerConfig
from gatepass.core.policy import requested_scopes, split_requested
from gatepass.core.provisioning import Provisioner, ProvisionRequest, fingerprint
from gatepass.core.redirects import redirect_uri_problem
from gatepass.core.revocation import revoke_outstanding
from gatepass.errors import (
    AccessDenied,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidToken,
)
from gatepass.models import Client

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = [
    "STANDARD_METADATA",
    "DynamicRegistration",
    "billing_token",
    "ignored_metadata",
    "needs_billing",
    "validate_metadata",
]

SUPPORTED_GRANTS = ("client_credentials", "authorization_code", "refresh_token")
SUPPORTED_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
UNATTENDED_GRANTS = frozenset({"client_credentials",
                               "urn:ietf:params:oauth:grant-type:jwt-bearer",
                               "urn:ietf:params:oauth:grant-type:token-exchange"})
"""Grants that obtain tokens with no human present: their registrations pass the billing gate."""
SIGNING_ALG = "token_endpoint_auth_signing_alg"
MAX_IGNORED = 64
_STRINGS = ("client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri", "software_id",
            "software_version", "agent_type")
STANDARD_METADATA = frozenset({"redirect_uris", "token_endpoint_auth_method", "grant_types",
                               "response_types", "application_type", SIGNING_ALG})
"""RFC 7591 §2 names both registration endpoints validate the same way."""
_ALLOWED = frozenset({*_STRINGS, *STANDARD_METADATA,
                      "scope", "contacts", "jwks", "jwks_uri",
                      "software_statement", "billing_token", "client_id", "client_secret",
                      "registration_access_token", "registration_client_uri",
                      "client_id_issued_at", "client_secret_expires_at"})


def ignored_metadata(body: Mapping[str, Any], understood: frozenset[str]) -> list[str]:
    """RFC 7591 §2: names the server does not understand (ignored, reported; at most 64)."""
    return sorted(k for k in body if k not in understood)[:MAX_IGNORED]


def needs_billing(grant_types: Sequence[str]) -> bool:
    """Whether a client with these grants can obtain tokens with no human present."""
    return any(g in UNATTENDED_GRANTS for g in grant_types)


def billing_token(body: Mapping[str, Any], presented: str | None) -> Any:
    """The billing token of a registration: ``billing_token`` in the body (as sent: the gate
    refuses a malformed one with 402), or the one presented as the RFC 7591 initial access
    token; both must agree when both are given."""
    in_body = body.get("billing_token")
    if in_body and presented and in_body != presented:
        raise InvalidClientMetadata("billing_token differs from the bearer token presented")
    return in_body or presented or None


async def validate_metadata(body: Mapping[str, Any], config: ServerConfig,
                            provisioner: Provisioner, *, keyed_default: bool) -> dict[str, Any]:
    """The RFC 7591 §2 metadata both endpoints understand, checked for contradictions:
    grant and response types, the authentication method and its keys, its signing algorithm,
    redirect URIs. ``keyed_default``: without a method, registered keys mean private_key_jwt."""
    keyed = body.get("jwks") is not None or body.get("jwks_uri") is not None
    method = body.get("token_endpoint_auth_method",
                      "private_key_jwt" if keyed and keyed_default else "client_secret_basic")
    if method not in SUPPORTED_METHODS:
        raise InvalidClientMetadata(f"Unsupported token_endpoint_auth_method {method!r}")
    grants = body.get("grant_types", ["client_credentials"])
    if not isinstance(grants, list) or not grants or any(g not in SUPPORTED_GRANTS
                                                         for g in grants):
        raise InvalidClientMetadata(f"grant_types must be within {list(SUPPORTED_GRANTS)}")
    _check_code_flow(body, method, grants)
    await provisioner.check_keys(body.get("jwks"), body.get("jwks_uri"))
    if (method == "private_key_jwt") != keyed:
        raise InvalidClientMetadata("private_key_jwt needs jwks or jwks_uri, and only it does")
    extra: dict[str, Any] = {}
    alg = body.get(SIGNING_ALG)
    if alg is not None:
        allowed = [a for a in config.assertion_algorithms if a != "none"]
        if method != "private_key_jwt":
            raise InvalidClientMetadata(f"{SIGNING_ALG} applies to private_key_jwt only")
        if alg not in allowed:
            raise InvalidClientMetadata(f"{SIGNING_ALG} must be one of {allowed}")
        extra[SIGNING_ALG] = alg
    uris = body.get("redirect_uris", [])
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise InvalidClientMetadata("redirect_uris must be a list of strings")
    for uri in uris:
        _check_redirect(uri, development=config.agents.development)
    extra.update({k: body[k] for k in ("redirect_uris", "response_types", "application_type")
                  if k in body})
    return {"token_endpoint_auth_method": method, "grant_types": tuple(dict.fromkeys(grants)),
            "extra": extra}


class DynamicRegistration:
    """RFC 7591 registration plus RFC 7592 read, update and delete."""

    def __init__(self, server: AuthorizationServer, provisioner: Provisioner, billing: BillingGate,
                 attestations: AttestationVerifier) -> None:
        self._server = server
        self._provisioner = provisioner
        self._billing = billing
        self._attestations = attestations

    async def register(self, body: Any, remote_addr: str | None,
                       presented_token: str | None = None) -> dict[str, Any]:
        """A new client (RFC 7591 §3.2.1). ``presented_token``: a bearer token sent as the
        initial access token when none is configured, taken as the billing token."""
        meta = await self._validate(body)
        if "client_id" in body or "client_secret" in body:
            raise InvalidClientMetadata("client_id and client_secret are chosen by the server")
        token = billing_token(body, presented_token)
        statement = body.get("software_statement")
        attestation = await self._attestations.verify(statement) if statement else None
        fp = fingerprint(remote_addr, {**body, "billing_token": token})
        billing = await self._provisioner.check_billing(
            fp, token, required=needs_billing(meta["grant_types"]))
        result = await self._provisioner.provision(ProvisionRequest(
            name=meta["client_name"], scopes=meta["scopes"], billing=billing,
            agent_type=meta.get("agent_type"), jwks=meta.get("jwks"),
            jwks_uri=meta.get("jwks_uri"), attestation=attestation,
            fingerprint=fp, source="dynamic_registration",
            auth_method=meta["token_endpoint_auth_method"], metadata=meta["extra"],
            grant_types=meta["grant_types"],
        ))
        doc = self.document(result.client)
        doc["registration_access_token"] = result.registration_token
        if result.secret is not None:
            doc["client_secret"] = result.secret
        if result.pending:
            doc["pending_scopes"] = list(result.pending)
        if meta["ignored"]:
            doc["ignored_metadata"] = meta["ignored"]
        return doc

    async def authorize(self, client_id: str, authorization: str | None) -> Client:
        """The client a registration access token (RFC 7592 §3) may manage."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("A registration access token is required",
                               headers={"WWW-Authenticate": 'Bearer realm="gatepass"'})
        client = await self._server.stores.clients.find_by_registration_token(
            self._server.hasher.digest(token.strip()))
        if client is None or client.client_id != client_id:
            raise InvalidToken("Invalid registration access token", headers={
                "WWW-Authenticate": 'Bearer realm="gatepass", error="invalid_token"'})
        return client

    async def update(self, client: Client, body: Any) -> dict[str, Any]:
        """RFC 7592 §2.2: replace the metadata, re-validating every field."""
        _check_may_change(client)
        meta = await self._validate(body)
        if body.get("client_id") != client.client_id:
            raise InvalidRequest("client_id in the body must match the client being updated")
        granted, pending, _ = split_requested(self._server.config, client, meta["scopes"])
        keep = tuple(s for s in meta["scopes"] if s not in pending and (
            s in client.allowed_scopes or s in granted))
        updated = replace(client, name=meta["client_name"], allowed_scopes=keep,
                          jwks=meta.get("jwks"), jwks_uri=meta.get("jwks_uri"),
                          metadata={**client.metadata, **meta["extra"]})
        await self._server.stores.clients.update_client(updated)
        await self._server.directory.changed(client.client_id)
        self._server.audit.emit("client.updated", "success", client_id=client.client_id,
                                scopes=keep, actor="registration_access_token")
        doc = self.document(updated)
        if pending:
            doc["pending_scopes"] = list(pending)
        if meta["ignored"]:
            doc["ignored_metadata"] = meta["ignored"]
        return doc

    async def delete(self, client: Client) -> None:
        """RFC 7592 §2.3: the client, its credentials and its outstanding tokens are gone at
        once; pending approval requests are denied."""
        _check_may_change(client)
        await self._server.stores.clients.delete_client(client.client_id)
        await self._server.directory.changed(client.client_id)
        await revoke_outstanding(self._server, client.client_id, actor="registration_access_token")
        approvals = self._server.stores.approvals
        for request in await approvals.list_approvals("pending", client.client_id):
            await approvals.decide_approval(request.request_id, "denied", (), "system",
                                            "client deleted", self._server.clock.now())
        self._server.audit.emit("client.deleted", "success", client_id=client.client_id,
                                actor="registration_access_token")

    def document(self, client: Client) -> dict[str, Any]:
        """The client information response (RFC 7591 §3.2.1), without credentials."""
        doc = {k: v for k, v in client.metadata.items() if k in _ALLOWED}
        doc.update({
            "client_id": client.client_id, "client_id_issued_at": int(client.created_at),
            "client_name": client.name, "client_secret_expires_at": 0,
            "grant_types": list(client.grant_types), "scope": " ".join(client.allowed_scopes),
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "registration_client_uri": f"{self._server.config.issuer}"
                                       f"{self._server.config.registration_path}/{client.client_id}",
        })
        if client.jwks is not None:
            doc["jwks"] = dict(client.jwks)
        if client.jwks_uri is not None:
            doc["jwks_uri"] = client.jwks_uri
        return doc

    async def _validate(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object")
        for name in _STRINGS:
            if name in body and (not isinstance(body[name], str) or len(body[name]) > 500
                                 or not body[name].isprintable()):
                raise InvalidClientMetadata(
                    f"{name} must be a string of at most 500 printable characters")
        meta = await validate_metadata(body, self._server.config, self._provisioner,
                                       keyed_default=False)
        extra = {k: body[k] for k in ("client_uri", "logo_uri", "tos_uri", "policy_uri",
                                      "software_id", "software_version", "contacts")
                 if k in body}
        return {**meta, "client_name": body.get("client_name") or "unnamed client",
                "scopes": self._scopes(body, meta["grant_types"]),
                "agent_type": body.get("agent_type"), "jwks": body.get("jwks"),
                "jwks_uri": body.get("jwks_uri"), "extra": {**extra, **meta["extra"]},
                "ignored": ignored_metadata(body, _ALLOWED)}

    def _scopes(self, body: Mapping[str, Any], grants: Sequence[str]) -> tuple[str, ...]:
        """The registered scopes; without ``scope``, a consent-gated client (no unattended grant)
        may ask owners for the catalog's scopes that are neither internal nor behind an approval
        (RFC 7591 §2: a default set), as a metadata-document client may."""
        config = self._server.config
        if "scope" in body or needs_billing(grants):
            return requested_scopes(config.scope, body.get("scope", ""))
        return tuple(s.name for s in config.scopes if not s.internal and not s.requires_approval)


def _check_may_change(client: Client) -> None:
    """RFC 7592 §2.2, §2.3: 403 when the client may not change or delete its registration. An
    operator's stop (suspended, disabled) leaves it only reading it."""
    if client.status in ("suspended", "disabled"):
        raise AccessDenied(f"This client is {client.status}: it can read its registration but "
                           "not change or delete it (RFC 7592 §2.2, §2.3)")


def _check_redirect(uri: str, *, development: bool) -> None:
    """https, or http on loopback for native apps; no DNS (``core.redirects``)."""
    problem = redirect_uri_problem(uri, development=development)
    if problem is not None:
        raise InvalidRedirectUri(problem)


def _check_code_flow(body: Mapping[str, Any], method: str, grants: list[str]) -> None:
    """RFC 7591 §2.1: grant_types, response_types and redirect_uris agree; ``none`` (public
    client) only for the authorization code flow (OAuth 2.1 §2.1)."""
    code = "authorization_code" in grants
    if "refresh_token" in grants and not code:
        raise InvalidClientMetadata("grant_types refresh_token needs authorization_code here")
    if code and not body.get("redirect_uris"):
        raise InvalidClientMetadata("grant_types authorization_code needs redirect_uris")
    if method == "none" and (not code or "client_credentials" in grants):
        raise InvalidClientMetadata("token_endpoint_auth_method none is for public clients of "
                                    "the authorization_code grant, without client_credentials")
    response_types = body.get("response_types", ["code"] if code else [])
    if not isinstance(response_types, list) or set(response_types) != ({"code"} if code else set()):
        raise InvalidClientMetadata('response_types must be ["code"] with the authorization_code '
                                    "grant, and empty without it")
    application_type = body.get("application_type", "web")
    if application_type not in ("web", "native"):
        raise InvalidClientMetadata('application_type must be "web" or "native"')
