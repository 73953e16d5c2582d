"""Conversions between ``models`` records and SQL rows (JSON lists back to tuples)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from gatepass.models import (
    ApprovalRequest,
    AuditEvent,
    AuthorizationCode,
    BillingToken,
    Client,
    ClientSecret,
    Owner,
    RefreshToken,
    SigningKey,
)
from gatepass.storage.base import email_key

Row = RowMapping


def client_row(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "created_at": client.created_at,
        "status": client.status,
        "allowed_scopes": list(client.allowed_scopes),
        "default_scopes": list(client.default_scopes),
        "allowed_resources": list(client.allowed_resources),
        "grant_types": list(client.grant_types),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "jwks": dict(client.jwks) if client.jwks is not None else None,
        "jwks_uri": client.jwks_uri,
        "agent_type": client.agent_type,
        "owner": client.owner,
        "tier": client.tier,
        "trust_level": client.trust_level,
        "client_metadata": dict(client.metadata),
        "registration_token_digest": client.registration_token_digest,
        "registration_fingerprint": client.registration_fingerprint,
        "operator": client.operator,
    }


def to_client(row: Row) -> Client:
    return Client(
        client_id=row["client_id"],
        name=row["name"],
        created_at=row["created_at"],
        status=row["status"],
        allowed_scopes=tuple(row["allowed_scopes"]),
        default_scopes=tuple(row["default_scopes"]),
        allowed_resources=tuple(row["allowed_resources"]),
        grant_types=tuple(row["grant_types"]),
        token_endpoint_auth_method=row["token_endpoint_auth_method"],
        jwks=row["jwks"],
        jwks_uri=row["jwks_uri"],
        agent_type=row["agent_type"],
        owner=row["owner"],
        tier=row["tier"],
        trust_level=row["trust_level"],
        metadata=row["client_metadata"],
        registration_token_digest=row["registration_token_digest"],
        registration_fingerprint=row["registration_fingerprint"],
        operator=row["operator"],
    )


def secret_row(secret: ClientSecret) -> dict[str, Any]:
    return {
        "secret_id": secret.secret_id,
        "client_id": secret.client_id,
        "digest": secret.digest,
        "created_at": secret.created_at,
        "expires_at": secret.expires_at,
    }


def to_secret(row: Row) -> ClientSecret:
    return ClientSecret(
        secret_id=row["secret_id"],
        client_id=row["client_id"],
        digest=row["digest"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


def key_row(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state,
        "public_jwk": dict(key.public_jwk),
        "private_jwk_encrypted": key.private_jwk_encrypted,
        "created_at": key.created_at,
        "state_changed_at": key.state_changed_at,
    }


def to_key(row: Row) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        alg=row["alg"],
        state=row["state"],
        public_jwk=row["public_jwk"],
        private_jwk_encrypted=bytes(row["private_jwk_encrypted"]),
        created_at=row["created_at"],
        state_changed_at=row["state_changed_at"],
    )


def event_values(event: AuditEvent) -> tuple[Any, ...]:
    """An audit row's values in ``_AUDIT_INSERT``'s column order (a batch is one JSON array)."""
    details = event.details if type(event.details) is dict else dict(event.details)
    return (event.event_id, event.event, event.outcome, event.at, event.client_id, event.scopes,
            event.reason, event.actor, details)


def to_event(row: Row) -> AuditEvent:
    return AuditEvent(
        event=row["event"],
        outcome=row["outcome"],
        at=row["at"],
        client_id=row["client_id"],
        scopes=tuple(row["scopes"]),
        reason=row["reason"],
        actor=row["actor"],
        details=row["details"],
        event_id=row["event_id"],
    )


def approval_row(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "request_id": request.request_id,
        "client_id": request.client_id,
        "scopes": list(request.scopes),
        "created_at": request.created_at,
        "status": request.status,
        "granted": list(request.granted),
        "decided_at": request.decided_at,
        "decided_by": request.decided_by,
        "reason": request.reason,
    }


def to_approval(row: Row) -> ApprovalRequest:
    return ApprovalRequest(
        request_id=row["request_id"],
        client_id=row["client_id"],
        scopes=tuple(row["scopes"]),
        created_at=row["created_at"],
        status=row["status"],
        granted=tuple(row["granted"]),
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        reason=row["reason"],
    )


def billing_row(token: BillingToken) -> dict[str, Any]:
    return {
        "token_id": token.token_id,
        "digest": token.digest,
        "tier": token.tier,
        "account_id": token.account_id,
        "created_at": token.created_at,
        "max_uses": token.max_uses,
        "uses": token.uses,
        "expires_at": token.expires_at,
    }


def to_billing(row: Row) -> BillingToken:
    return BillingToken(
        token_id=row["token_id"],
        digest=row["digest"],
        tier=row["tier"],
        account_id=row["account_id"],
        created_at=row["created_at"],
        max_uses=row["max_uses"],
        uses=row["uses"],
        expires_at=row["expires_at"],
    )


def owner_row(owner: Owner) -> dict[str, Any]:
    return {
        "owner_id": owner.owner_id,
        "email": owner.email,
        "email_key": email_key(owner.email),
        "password_hash": owner.password_hash,
        "created_at": owner.created_at,
        "is_operator": owner.is_operator,
        "disabled": owner.disabled,
    }


def to_owner(row: Row) -> Owner:
    return Owner(
        owner_id=row["owner_id"],
        email=row["email"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        is_operator=bool(row["is_operator"]),
        disabled=bool(row["disabled"]),
    )


def code_row(code: AuthorizationCode) -> dict[str, Any]:
    return {
        "code_digest": code.code_digest,
        "grant_id": code.grant_id,
        "client_id": code.client_id,
        "owner_id": code.owner_id,
        "redirect_uri": code.redirect_uri,
        "scopes": list(code.scopes),
        "code_challenge": code.code_challenge,
        "created_at": code.created_at,
        "expires_at": code.expires_at,
        "resources": list(code.resources),
        "used_at": code.used_at,
    }


def to_code(row: Row) -> AuthorizationCode:
    return AuthorizationCode(
        code_digest=row["code_digest"],
        grant_id=row["grant_id"],
        client_id=row["client_id"],
        owner_id=row["owner_id"],
        redirect_uri=row["redirect_uri"],
        scopes=tuple(row["scopes"]),
        code_challenge=row["code_challenge"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        resources=tuple(row["resources"]),
        used_at=row["used_at"],
    )


def refresh_row(token: RefreshToken) -> dict[str, Any]:
    return {
        "token_digest": token.token_digest,
        "grant_id": token.grant_id,
        "client_id": token.client_id,
        "owner_id": token.owner_id,
        "scopes": list(token.scopes),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "resources": list(token.resources),
        "used_at": token.used_at,
        "revoked": token.revoked,
    }


def to_refresh(row: Row) -> RefreshToken:
    return RefreshToken(
        token_digest=row["token_digest"],
        grant_id=row["grant_id"],
        client_id=row["client_id"],
        owner_id=row["owner_id"],
        scopes=tuple(row["scopes"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        resources=tuple(row["resources"]),
        used_at=row["used_at"],
        revoked=bool(row["revoked"]),
    )
