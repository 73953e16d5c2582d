"""Registration (agent endpoint or RFC 7591 §3) and token requests (RFC 6749 §4.4) as flows.

Client authentication is ``client_secret_basic`` (RFC 6749 §2.3.1: id and secret are
form-urlencoded before Base64) or ``private_key_jwt`` (RFC 7523 §2.2 with a fresh assertion).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from gatepass.agent._flow import Flow, error_body, json_object, raise_for_known, raise_unexpected
from gatepass.agent.credentials import ASSERTION_TYPE, Credentials, client_assertion
from gatepass.agent.discovery import ServerMetadata
from gatepass.agent.errors import RegistrationError, ServerError, TokenError

__all__ = ["AccessToken", "Registration", "RegistrationRequest", "registration_flow",
           "token_flow"]


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A cached access token; ``repr()`` never shows the value."""

    value: str = field(repr=False)
    issued_at: float
    expires_at: float | None
    scopes: tuple[str, ...] = ()
    resource: str | None = None

    def renew_at(self, renew_before: float) -> float:
        """When to renew: ``renew_before`` seconds before expiry (at most half the lifetime)."""
        if self.expires_at is None:
            return math.inf
        lifetime = self.expires_at - self.issued_at
        return self.issued_at + max(lifetime - renew_before, lifetime / 2)


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    """What the agent asks for. ``accept_tos`` must be an explicit decision."""

    name: str
    scopes: tuple[str, ...]
    accept_tos: bool = False
    billing_token: str | None = field(default=None, repr=False)
    agent_type: str = "autonomous"
    owner: str | None = None
    jwks: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """The registration outcome: credentials plus what was granted, pending and restricted."""

    credentials: Credentials
    allowed_scopes: tuple[str, ...]
    pending_scopes: tuple[str, ...] = ()
    restricted_scopes: tuple[tuple[str, str], ...] = ()
    approval_request_id: str | None = None
    documentation: str | None = None
    rate_limits: Mapping[str, Any] = field(default_factory=dict)


def _body(meta: ServerMetadata, req: RegistrationRequest) -> tuple[str, dict[str, Any]]:
    extra = {k: v for k, v in (("billing_token", req.billing_token), ("jwks", req.jwks))
             if v is not None}
    if meta.agent_registration_url:
        body = {"agent_name": req.name, "agent_type": req.agent_type,
                "requested_scopes": list(req.scopes), "tos_accepted": req.accept_tos, **extra}
        if req.owner:
            body["owner"] = req.owner
        return meta.agent_registration_url, body
    if meta.registration_endpoint:
        method = "private_key_jwt" if req.jwks is not None else "client_secret_basic"
        return meta.registration_endpoint, {
            "client_name": req.name, "scope": " ".join(req.scopes), "agent_type": req.agent_type,
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": method, **extra}
    raise RegistrationError(f"{meta.issuer} offers no self-service registration",
                            error="registration_unsupported")


def _strs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _opt(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    return value if isinstance(value, str) else None


def registration_flow(meta: ServerMetadata, req: RegistrationRequest,
                      private_jwk: Mapping[str, Any] | None) -> Flow[Registration]:
    """Register; the typed errors say what the server wants (terms, billing, patience)."""
    url, body = _body(meta, req)
    response = yield httpx.Request("POST", url, json=body, headers={"Accept": "application/json"})
    if response.status_code not in (200, 201):
        raise_for_known(response)
        raise_unexpected(response, "The registration endpoint")
        err = error_body(response)
        raise RegistrationError(str(err.get("error_description", "registration refused")),
                                error=str(err.get("error", "invalid_request")),
                                status=response.status_code, body=err)
    doc = json_object(response)
    if doc is None or not isinstance(doc.get("client_id"), str):
        raise ServerError("The registration response has no client_id", error="server_error")
    secret = _opt(doc, "client_secret")
    method = _opt(doc, "token_endpoint_auth_method") or (
        "private_key_jwt" if secret is None and private_jwk else "client_secret_basic")
    allowed = _strs(doc.get("allowed_scopes", doc.get("scope", "")))
    pending = _strs(doc.get("pending_scopes"))
    creds = Credentials(
        issuer=meta.issuer, token_endpoint=meta.token_endpoint, client_id=doc["client_id"],
        auth_method=method, client_secret=secret,
        private_jwk=dict(private_jwk) if private_jwk and method == "private_key_jwt" else None,
        registration_access_token=_opt(doc, "registration_access_token"),
        registration_client_uri=_opt(doc, "registration_client_uri"),
        scopes=allowed, pending_scopes=pending, agent_name=req.name)
    restricted = tuple((str(r.get("scope")), str(r.get("reason")))
                       for r in doc.get("restricted_scopes") or () if isinstance(r, dict))
    limits = doc.get("rate_limits")
    return Registration(creds, allowed, pending, restricted, _opt(doc, "approval_request_id"),
                        _opt(doc, "documentation"), limits if isinstance(limits, dict) else {})


def _client_auth(creds: Credentials, now: float) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) authenticating the client at the token endpoint."""
    if creds.uses_key:
        if creds.private_jwk is None:
            raise TokenError("private_key_jwt credentials without a private key",
                             error="invalid_credentials")
        assertion = client_assertion(creds.private_jwk, creds.client_id, creds.token_endpoint, now)
        return {}, {"client_id": creds.client_id, "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion}
    if creds.client_secret is None:
        raise TokenError("The credentials hold no client secret", error="invalid_credentials")
    pair = f"{quote(creds.client_id, safe='')}:{quote(creds.client_secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {}


def token_flow(creds: Credentials, scopes: tuple[str, ...], resource: str | None,
               now: float) -> Flow[AccessToken]:
    """A client-credentials grant; ``TokenError`` / ``RateLimitedError`` on refusal."""
    headers, form = _client_auth(creds, now)
    form["grant_type"] = "client_credentials"
    if scopes:
        form["scope"] = " ".join(scopes)
    if resource:
        form["resource"] = resource
    response = yield httpx.Request("POST", creds.token_endpoint, data=form,
                                   headers={**headers, "Accept": "application/json"})
    if response.status_code != 200:
        raise_for_known(response)
        raise_unexpected(response, "The token endpoint")
        err = error_body(response)
        raise TokenError(str(err.get("error_description", "token request refused")),
                         error=str(err.get("error", "invalid_request")),
                         status=response.status_code, body=err)
    doc = json_object(response) or {}
    value, kind = doc.get("access_token"), str(doc.get("token_type", ""))
    if not isinstance(value, str) or kind.lower() != "bearer":
        raise ServerError("The token response has no bearer access_token", error="server_error")
    ttl = doc.get("expires_in")
    valid = isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl > 0
    expires = now + float(ttl) if valid and ttl is not None else None
    granted = _strs(doc["scope"]) if "scope" in doc else scopes
    return AccessToken(value, now, expires, granted, resource)
