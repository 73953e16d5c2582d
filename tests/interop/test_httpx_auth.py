"""httpx-auth's ``OAuth2ClientCredentials`` gets a token from our token endpoint and sends it.

The protected endpoint is a tiny local echo (an httpx ``MockTransport``) that returns the
``Authorization`` header it received; the token requests go over the network to the real server.
"""

from __future__ import annotations

from typing import Any

import httpx
import httpx_auth
import jwt
import pytest

from .conftest import GatepassServer, decode_access_token

pytestmark = pytest.mark.slow


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"authorization": request.headers.get("authorization")})


def test_rfc6749_4_4_httpx_auth_client_credentials(
    gatepass_server: GatepassServer, secret_client: dict[str, Any], jwks_client: jwt.PyJWKClient
) -> None:
    httpx_auth.OAuth2.token_cache.clear()
    token_requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> None:
        token_requests.append(request)

    with httpx.Client(event_hooks={"request": [record]}) as token_http, \
            httpx.Client(transport=httpx.MockTransport(_echo)) as api:
        auth = httpx_auth.OAuth2ClientCredentials(
            gatepass_server.token_endpoint,
            client_id=secret_client["client_id"],
            client_secret=secret_client["client_secret"],
            scope=["read:projects", "write:projects"],
            client=token_http,
        )
        first = api.get("https://api.example.test/projects", auth=auth)
        second = api.get("https://api.example.test/projects", auth=auth)
    httpx_auth.OAuth2.token_cache.clear()

    assert [str(r.url) for r in token_requests] == [gatepass_server.token_endpoint]  # cached
    assert token_requests[0].headers["authorization"].startswith("Basic ")
    header = first.json()["authorization"]
    assert header == second.json()["authorization"]
    scheme, _, token = header.partition(" ")
    assert scheme == "Bearer"
    claims = decode_access_token(token, gatepass_server, jwks_client)
    assert claims["client_id"] == secret_client["client_id"]
    assert claims["scope"] == "read:projects write:projects"
