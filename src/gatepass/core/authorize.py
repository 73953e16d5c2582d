"""The authorization endpoint (RFC 6749 §4.1.1-§4.1.2.1, RFC 7636 §4.3, RFC 8252 §7.3, RFC 8707
§2, RFC 9207 §2): validate a request, then issue a single-use code bound to the client, the
redirect URI and the PKCE challenge, valid for 60 seconds.

A bad ``client_id`` or ``redirect_uri`` is shown to the owner and never redirected to
(§4.1.2.1); every other error goes back to the client's redirect URI as ``RedirectError``.
Responses carry ``iss`` (RFC 9207). A request without ``scope`` gets :func:`default_scopes`,
shown on the consent page; ``invalid_scope`` is only for scopes that cannot be granted.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from gatepass.core.access_token import resolve_audience, resolve_scopes
from gatepass.core.cimd import CIMD_MARK
from gatepass.core.config import ServerConfig
from gatepass.core.policy import ceiling_violation
from gatepass.core.redirects import redirect_uri_matches
from gatepass.errors import (
    AccessDenied,
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
)
from gatepass.models import AuthorizationCode, Client
from gatepass.scopes import parse_scope

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = [
    "AUTHORIZE_PATH", "AuthorizationRequest", "Authorizer", "RedirectError", "default_scopes",
]

AUTHORIZE_PATH = "/oauth/authorize"
CODE_TTL = 60
MAX_STATE = 1024
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PROTOCOL = ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
             "code_challenge_method")


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class RedirectError(Exception):
    """An error the client receives at its redirect URI (``location``) (RFC 6749 §4.1.2.1)."""

    def __init__(self, cause: OAuthError, location: str) -> None:
        super().__init__(cause.description)
        self.cause = cause
        self.location = location


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated authorization request, waiting for the owner's decision."""

    client: Client
    redirect_uri: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    code_challenge: str
    state: str | None
    params: tuple[tuple[str, str], ...]
    defaulted: bool = False
    """The client asked for no scope: ``scopes`` is the default (:func:`default_scopes`)."""

    @property
    def client_domain(self) -> str:
        """The verified domain: the document's host for a URL client id, else the host the
        code is sent to."""
        url = self.client.client_id if self.client.metadata.get(CIMD_MARK) else self.redirect_uri
        return urlsplit(url).hostname or url


def _collect(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], tuple[str, ...], set[str]]:
    params: dict[str, str] = {}
    resources: list[str] = []
    repeated: set[str] = set()
    for name, value in pairs:
        if name == "resource":
            resources.append(value)
        elif name in params:
            repeated.add(name)
        else:
            params[name] = value
    return params, tuple(dict.fromkeys(resources)), repeated


def _add_query(uri: str, values: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in values.items() if v is not None})
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def default_scopes(client: Client, config: ServerConfig) -> tuple[str, ...]:
    """The scope of an authorization request that names none (RFC 6749 §3.3): the client's
    default scopes, else its registered ones, else the catalog, keeping only scopes that need
    no owner approval, are not internal and are within the client's tier and trust ceilings."""
    base = client.default_scopes or client.allowed_scopes or tuple(s.name for s in config.scopes)
    return tuple(name for name in base if (spec := config.scope(name)) is not None
                 and not spec.internal and not spec.requires_approval
                 and ceiling_violation(config, client, spec) is None)


class Authorizer:
    """Validates authorization requests and turns the owner's decision into a redirect."""

    def __init__(self, server: AuthorizationServer) -> None:
        self._server = server

    async def validate(self, pairs: Sequence[tuple[str, str]]) -> AuthorizationRequest:
        params, resources, repeated = _collect(pairs)
        client = await self._client(params.get("client_id"), repeated)
        redirect_uri = self._redirect_uri(client, params.get("redirect_uri"), repeated)
        state = params.get("state") or None
        try:
            if repeated:
                raise InvalidRequest(f"Parameters must not repeat (RFC 6749 §3.1): "
                                     f"{', '.join(sorted(repeated))}")
            if state is not None and len(state) > MAX_STATE:
                raise InvalidRequest(f"state is limited to {MAX_STATE} characters")
            self._check_flow(client, params)
            challenge = self._challenge(params)
            scopes = self._scopes(client, params.get("scope") or None)
            self._check_resources(client, resources)
        except OAuthError as exc:
            raise RedirectError(exc, self.error_location(redirect_uri, exc, state)) from exc
        defaulted = not parse_scope(params.get("scope"))
        if defaulted:  # the decision carries the scopes the owner was shown
            params["scope"] = " ".join(scopes)
        kept = tuple((k, params[k]) for k in _PROTOCOL if params.get(k))
        return AuthorizationRequest(client, redirect_uri, scopes, resources, challenge, state,
                                    kept + tuple(("resource", r) for r in resources), defaulted)

    async def _client(self, client_id: str | None, repeated: set[str]) -> Client:
        if not client_id or "client_id" in repeated:
            raise InvalidRequest("client_id is required, once")
        entry = await self._server.resolver.lookup(client_id)
        if entry is None:
            raise InvalidClient("Unknown client_id")
        if not entry.client.is_active:
            raise InvalidClient(f"This client is {entry.client.status}")
        return entry.client

    def _redirect_uri(self, client: Client, presented: str | None, repeated: set[str]) -> str:
        if not presented or "redirect_uri" in repeated:
            raise InvalidRequest("redirect_uri is required, once")
        registered = client.metadata.get("redirect_uris") or []
        if not any(isinstance(r, str) and redirect_uri_matches(r, presented) for r in registered):
            raise InvalidRequest("redirect_uri is not registered for this client")
        return presented

    def _check_flow(self, client: Client, params: Mapping[str, str]) -> None:
        response_type = params.get("response_type")
        if not response_type:
            raise InvalidRequest("response_type is required")
        if response_type != "code":
            raise UnsupportedResponseType("Only response_type=code is supported")
        if "authorization_code" not in client.grant_types:
            raise UnauthorizedClient("This client may not use the authorization code grant")

    def _challenge(self, params: Mapping[str, str]) -> str:
        challenge = params.get("code_challenge")
        if not challenge:
            raise InvalidRequest("code_challenge is required (PKCE, RFC 7636 §4.3)")
        if params.get("code_challenge_method") != "S256":
            raise InvalidRequest("code_challenge_method must be S256; plain is not accepted")
        if not _CHALLENGE.fullmatch(challenge):
            raise InvalidRequest("code_challenge must be 43 base64url characters (S256)")
        return challenge

    def _scopes(self, client: Client, requested: str | None) -> tuple[str, ...]:
        if requested is not None and parse_scope(requested):
            return resolve_scopes(client, requested, self._server.config, consented=True)
        scopes = default_scopes(client, self._server.config)
        if not scopes:
            raise InvalidScope("No scope requested, and none can be granted by default: "
                               "request one")
        return scopes

    def _check_resources(self, client: Client, resources: tuple[str, ...]) -> None:
        try:
            resolve_audience(client, resources, self._server.config)
        except ValueError as exc:  # urlsplit: e.g. an unbalanced "[" in the host
            raise InvalidTarget("resource must be an absolute URI") from exc

    def error_location(self, redirect_uri: str, exc: OAuthError, state: str | None) -> str:
        return _add_query(redirect_uri, {"error": exc.error, "error_description": exc.description,
                                         "state": state, "iss": self._server.config.issuer})

    async def approve(self, req: AuthorizationRequest, owner_id: str) -> str:
        """Store a fresh code (as a digest) for ``owner_id``; the redirect carrying it."""
        server = self._server
        code = secrets.token_urlsafe(32)
        now = server.clock.now()
        grant_id = "grt_" + secrets.token_hex(16)
        await server.stores.grants.add_code(AuthorizationCode(
            code_digest=server.hasher.digest(code), grant_id=grant_id,
            client_id=req.client.client_id, owner_id=owner_id, redirect_uri=req.redirect_uri,
            scopes=req.scopes, code_challenge=req.code_challenge, created_at=now,
            expires_at=now + CODE_TTL, resources=req.resources))
        server.audit.emit("authorization.approved", "success", client_id=req.client.client_id,
                          scopes=req.scopes, actor=owner_id, grant_id=grant_id)
        return _add_query(req.redirect_uri, {"code": code, "state": req.state,
                                             "iss": server.config.issuer})

    def deny(self, req: AuthorizationRequest, owner_id: str) -> str:
        self._server.audit.emit("authorization.denied", "failure", client_id=req.client.client_id,
                                scopes=req.scopes, actor=owner_id)
        return self.error_location(req.redirect_uri, AccessDenied("The owner denied access"),
                                   req.state)

