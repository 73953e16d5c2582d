"""Registering clients for the browser flow (RFC 7591 §2, §2.1; RFC 8252 §7.3; OAuth 2.1 §2.1)
and advertising it (RFC 8414 §2, RFC 9207 §3, CIMD §5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatepass.clock import FrozenClock
from gatepass.runtime import open_runtime

from .conftest import ISSUER, NATIVE_REDIRECT, Browser, settings_for

REGISTER = "/oauth/register"


async def test_rfc7591_2_public_client_for_mcp_gets_no_secret(ac: Browser) -> None:
    doc = await ac.register(redirect_uris=[NATIVE_REDIRECT, "http://localhost:3000/callback",
                                           "http://[::1]/cb", "https://app.example.com/cb"],
                            application_type="native")
    assert "client_secret" not in doc
    assert doc["token_endpoint_auth_method"] == "none"
    assert doc["grant_types"] == ["authorization_code", "refresh_token"]
    assert doc["response_types"] == ["code"]
    assert doc["redirect_uris"][0] == NATIVE_REDIRECT
    client = await ac.rt.stores.clients.get_client(doc["client_id"])
    assert client is not None
    assert await ac.rt.stores.clients.list_secrets(client.client_id) == []


async def test_rfc7591_2_mcp_sdk_shaped_body_registers(ac: Browser) -> None:
    """What ``mcp``'s ``OAuthClientMetadata`` sends by default (no auth method: confidential)."""
    body = {"redirect_uris": ["http://localhost:3030/callback"], "response_types": ["code"],
            "grant_types": ["authorization_code", "refresh_token"], "application_type": "native",
            "client_name": "MCP client", "scope": "read:projects"}
    resp = await ac.http.post(REGISTER, json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["token_endpoint_auth_method"] == "client_secret_basic"
    assert resp.json()["client_secret"]


@pytest.mark.parametrize(("meta", "needle"), [
    ({"redirect_uris": ["http://app.example.com/cb"]}, "https"),
    ({"redirect_uris": ["com.example.app:/cb"]}, "redirect_uri"),
    ({"redirect_uris": ["https://10.1.2.3/cb"]}, "not a public address"),
    ({"redirect_uris": ["https://user:pw@app.example.com/cb"]}, "redirect_uri"),
    ({"redirect_uris": ["http://127.0.0.1:99999/cb"]}, "redirect_uri"),
    ({"redirect_uris": []}, "needs redirect_uris"),
    ({"grant_types": ["refresh_token"]}, "needs authorization_code"),
    ({"grant_types": ["authorization_code", "client_credentials"]}, "none"),
    ({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"],
      "response_types": []}, "none"),
    ({"response_types": ["token"]}, "response_types"),
    ({"response_types": ["code", "token"]}, "response_types"),
    ({"grant_types": ["authorization_code"], "response_types": []}, "response_types"),
    ({"application_type": "desktop"}, "application_type"),
])
async def test_rfc7591_2_1_inconsistent_metadata_is_refused(
    ac: Browser, meta: dict[str, Any], needle: str
) -> None:
    body = {"client_name": "x", "redirect_uris": [NATIVE_REDIRECT], "scope": "read:projects",
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none", **meta}
    resp = await ac.http.post(REGISTER, json=body)
    assert resp.status_code == 400, resp.text
    # RFC 7591 §3.2.2: a bad redirect URI has its own code; the rest is invalid_client_metadata
    bad_uri = any(u != NATIVE_REDIRECT for u in meta.get("redirect_uris", [NATIVE_REDIRECT]))
    assert resp.json()["error"] == ("invalid_redirect_uri" if bad_uri
                                    else "invalid_client_metadata")
    assert needle in resp.json()["error_description"]


async def test_rfc8414_2_metadata_advertises_the_code_flow(ac: Browser) -> None:
    meta = (await ac.http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["authorization_endpoint"] == ISSUER + "/oauth/authorize"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["client_id_metadata_document_supported"] is True
    assert meta["grant_types_supported"] == ["client_credentials", "authorization_code",
                                             "refresh_token"]
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]  # RFC 7662 §2.1
    assert "none" in meta["revocation_endpoint_auth_methods_supported"]  # RFC 7009 §2.1
    oidc = (await ac.http.get("/.well-known/openid-configuration")).json()
    assert oidc == meta


async def test_rfc8414_2_without_cimd_fetcher_it_is_not_advertised(tmp_path: Path) -> None:
    """A process that never enabled CIMD (the CLI) neither advertises nor resolves URL ids."""
    rt = await open_runtime(settings_for(tmp_path), clock=FrozenClock())
    try:
        assert "client_id_metadata_document_supported" not in rt.server.metadata()
        assert await rt.server.resolver.lookup("https://app.example.com/client.json") is None
    finally:
        await rt.close()
