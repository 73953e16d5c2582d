"""Dynamic client registration (RFC 7591 §3) and management (RFC 7592 §2) as Starlette routes.

``POST /oauth/register`` answers 201 with the client information response (§3.2.1); when an
initial access token is configured it must be sent as a bearer token (§3); when none is, a
bearer token sent in its place is the billing token. The client
configuration endpoint ``/oauth/register/{client_id}`` takes the registration access token:
GET reads (§2.1), PUT replaces the metadata (§2.2), DELETE removes the client (§2.3, 204). An
unknown client or a bad token is 401 (§2.1), never 404, so client ids cannot be probed.
Also serves the agent terms of service page that discovery's ``agent_tos_url`` points at.
"""

from __future__ import annotations

import hmac
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gatepass.errors import InvalidClientMetadata, InvalidToken
from gatepass.http.gates import source_address
from gatepass.http.jsonbody import read_json
from gatepass.http.oauth import guarded
from gatepass.http.responses import json_response
from gatepass.ratelimit import Policy
from gatepass.runtime import Runtime

__all__ = ["registration_routes", "terms_routes"]

_CHALLENGE = 'Bearer realm="gatepass"'


def _initial_token(runtime: Runtime, authorization: str | None) -> str | None:
    """RFC 7591 §3: an initial access token, when configured, gates registration. Otherwise a
    bearer token presented here is the registration's billing token (``btok_…``), returned."""
    expected = runtime.settings.agents.initial_access_token
    scheme, _, token = (authorization or "").partition(" ")
    bearer = scheme.lower() == "bearer"
    if expected is None:
        return (token.strip() or None) if bearer else None
    good = bearer and hmac.compare_digest(
        token.strip().encode(), expected.get_secret_value().encode())
    if not good:
        raise InvalidToken("A valid initial access token is required to register (RFC 7591 §3)",
                           headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})
    return None


def registration_routes(runtime: Runtime, source_policy: Policy) -> list[Route]:
    """The registration endpoint and the client configuration endpoint."""
    reg = runtime.registration
    limit = runtime.settings.max_body_bytes
    path = runtime.server.config.registration_path

    async def register(request: Request) -> Response:
        presented = _initial_token(runtime, request.headers.get("authorization"))
        body = await read_json(request, limit, InvalidClientMetadata)
        doc = await reg.register(body, source_address(request, source_policy), presented)
        return json_response(doc, 201, {"Location": doc["registration_client_uri"]})

    async def configure(request: Request) -> Response:
        client = await reg.authorize(request.path_params["client_id"],
                                     request.headers.get("authorization"))
        if request.method == "GET":
            return json_response(reg.document(client))
        if request.method == "PUT":
            return json_response(await reg.update(client, await read_json(request, limit,
                                                                  InvalidClientMetadata)))
        await reg.delete(client)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    return [
        Route(path, guarded(register), methods=["POST"]),
        Route(path + "/{client_id}", guarded(configure), methods=["GET", "PUT", "DELETE"]),
    ]


def terms_routes(runtime: Runtime) -> list[Route]:
    """A short agent terms-of-service page at the configured relative ``tos_url``."""
    policy = runtime.server.config.agents
    if "://" in policy.tos_url:
        return []
    page = (f"<!doctype html><title>Agent terms of service</title><h1>Agent terms of service"
            f"</h1><p>Version {escape(policy.tos_version)}.</p><ul><li>Keep your credentials "
            "secret; rotate them if they leak.</li><li>Respect the rate limits of your tier.</li>"
            "<li>Act only within the scopes you were granted and your owner approved.</li>"
            "<li>The operator may suspend an agent that abuses the service.</li></ul>"
            "<p>Accept these terms with <code>tos_accepted: true</code> when you register.</p>")

    async def terms(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "public, max-age=3600"})

    return [Route(policy.tos_url, terms, methods=["GET"])]
