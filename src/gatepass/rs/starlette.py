"""Starlette adapters (RFC 6750 §2.1, §3; RFC 9728 §3): auth backend, scope decorator, routes.

``GatepassBackend`` plugs ``TokenVerifier`` into ``starlette.middleware.authentication.
AuthenticationMiddleware``: ``request.auth.scopes`` holds the granted plus implied scopes and
``request.user`` wraps the ``Principal``. Pass ``on_error=backend.on_error`` so refusals get the
Gatepass JSON body and challenge. A request without ``Authorization`` is anonymous here; protect
endpoints with ``requires_scopes`` (403/401 in the Gatepass format) or Starlette's ``requires``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from gatepass.errors import InvalidRequest, InvalidToken, OAuthError
from gatepass.rs._responses import check_scopes, refusal
from gatepass.rs.asgi import CONFIG_KEY, PRINCIPAL_KEY, PrincipalUser
from gatepass.rs.config import ResourceServerConfig
from gatepass.rs.metadata import ProtectedResourceMetadata, metadata_paths
from gatepass.rs.verifier import TokenVerifier
from gatepass.scopes import expand_implied

__all__ = [
    "GatepassAuthError",
    "GatepassBackend",
    "GatepassUser",
    "error_response",
    "metadata_routes",
    "requires_scopes",
]

Endpoint = Callable[[Request], Awaitable[Response]]


class GatepassUser(PrincipalUser, BaseUser):
    """A Starlette ``BaseUser`` wrapping the verified ``Principal`` (``user.principal``)."""


class GatepassAuthError(AuthenticationError):
    """Carries the ``OAuthError`` out of the backend to ``GatepassBackend.on_error``."""

    def __init__(self, error: OAuthError) -> None:
        super().__init__(error.description)
        self.error = error


def error_response(
    err: OAuthError, config: ResourceServerConfig, scopes: Sequence[str] = ()
) -> Response:
    """A Starlette ``Response`` for a refusal (JSON body, challenge, ``no-store``)."""
    rendered = refusal(err, config, scopes)
    return Response(rendered.body, status_code=rendered.status, headers=rendered.headers)


class GatepassBackend(AuthenticationBackend):
    """Authenticates a connection from its ``Authorization: Bearer`` header only."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier
        self.config = verifier.config

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        conn.scope[CONFIG_KEY] = self.config
        values = conn.headers.getlist("authorization")
        try:
            if "access_token" in conn.query_params:
                raise InvalidRequest("Access tokens are accepted only in the Authorization header")
            if not values:
                return None
            principal = await self.verifier.authenticate(values)
        except OAuthError as err:
            raise GatepassAuthError(err) from None
        conn.scope[PRINCIPAL_KEY] = principal
        granted = expand_implied(principal.scopes, self.config.scope_implications)
        return AuthCredentials(sorted(granted)), GatepassUser(principal)

    def on_error(self, conn: HTTPConnection, exc: AuthenticationError) -> Response:
        """``AuthenticationMiddleware(on_error=...)``: render the Gatepass refusal."""
        err = exc.error if isinstance(exc, GatepassAuthError) else InvalidToken(str(exc))
        return error_response(err, self.config, self.config.scopes_supported)


def requires_scopes(*scopes: str) -> Callable[[Endpoint], Endpoint]:
    """Decorate a Starlette endpoint so it needs all ``scopes`` (implications honoured).

    Needs ``BearerAuthMiddleware`` or ``AuthenticationMiddleware`` with ``GatepassBackend``.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            config = request.scope.get(CONFIG_KEY)
            if config is None:
                raise RuntimeError("requires_scopes needs the Gatepass middleware or backend")
            try:
                check_scopes(request.scope.get(PRINCIPAL_KEY), scopes, config)
            except OAuthError as err:
                return error_response(err, config, scopes)
            return await endpoint(request)

        guarded.gatepass_scopes = scopes  # type: ignore[attr-defined]
        return guarded

    return decorate


def metadata_routes(
    config: ResourceServerConfig, *, scopes_from: object | None = None, **options: Any
) -> list[Route]:
    """Starlette routes serving the RFC 9728 document at every ``metadata_paths`` location."""
    app = ProtectedResourceMetadata(config, scopes_from=scopes_from, **options)
    return [Route(path, app, methods=["GET", "HEAD"]) for path in metadata_paths(config.resource)]
