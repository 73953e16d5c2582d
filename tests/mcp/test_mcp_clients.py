"""The official MCP SDK clients connect to the example server with Gatepass tokens.

MCP authorization (2025-11-25) and the OAuth client credentials extension (SEP-1046): the
client meets a 401 naming ``resource_metadata``, reads the RFC 9728 document, discovers Gatepass
(RFC 8414), gets a token for this server's URL (RFC 8707 ``resource`` -> ``aud``), then lists
tools and calls one. Client credentials with a secret (``client_secret_basic`` and
``client_secret_post``) and with ``private_key_jwt`` (RFC 7523), and the authorization code
flow with PKCE and dynamic registration, an owner approving in the console.
"""

from __future__ import annotations

import base64
from typing import Literal

import pytest
from examples.mcp_server import BASE_SCOPE
from examples.mcp_server.client import MemoryTokenStorage, call
from gp_mcp_kit import Recorder, Stack, connect
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.shared.auth import OAuthClientMetadata

from gatepass.agent import generate_key, public_jwks

pytestmark = pytest.mark.slow


def _assert_discovered_and_bound(stack: Stack, rec: Recorder, storage: MemoryTokenStorage) -> None:
    """401 with resource_metadata -> RFC 9728 document -> RFC 8414 -> token for this server."""
    first = rec.seen[0]
    assert (first.path, first.status) == ("/mcp", 401)
    assert first.challenge is not None
    assert f'resource_metadata="{stack.mcp_url.replace("/mcp", "")}' in first.challenge
    assert [e.path for e in rec.seen[1:4]] == [
        "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server",
        "/oauth/token"]  # fmt: skip
    token_request = rec.form(rec.seen[3])
    assert token_request["grant_type"] == "client_credentials"
    assert token_request["resource"] == stack.mcp_url  # RFC 8707
    assert token_request["scope"] == BASE_SCOPE  # the 401 challenge's scope
    assert storage.tokens is not None
    claims = stack.claims(storage.tokens.access_token)
    assert claims["aud"] == stack.mcp_url and claims["iss"] == stack.issuer


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_client_credentials_with_a_secret(
    stack: Stack, method: Literal["client_secret_basic", "client_secret_post"]
) -> None:
    created = await stack.client()
    assert created.secret is not None
    storage, rec = MemoryTokenStorage(), Recorder()
    provider = ClientCredentialsOAuthProvider(
        stack.mcp_url, storage, created.client.client_id, created.secret,
        token_endpoint_auth_method=method, issuer=stack.issuer)
    async with connect(stack.mcp_url, provider, rec) as client:
        tools = await client.list_tools()
        result = await client.call_tool("list_projects", {"status": "active"})
    assert {t.name for t in tools.tools} == {
        "list_projects", "create_project", "get_analytics", "trigger_deployment"}
    assert not result.is_error
    assert result.structured_content is not None
    assert [p["name"] for p in result.structured_content["data"]] == ["apollo", "data-pipeline"]
    _assert_discovered_and_bound(stack, rec, storage)
    sent = rec.seen[3].request
    if method == "client_secret_basic":
        basic = base64.b64decode(sent.headers["authorization"].removeprefix("Basic "))
        assert basic.decode().startswith(created.client.client_id + ":")
        assert "client_secret" not in rec.form(rec.seen[3])
    else:
        assert "authorization" not in sent.headers
        assert rec.form(rec.seen[3])["client_secret"] == created.secret


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_client_credentials_registered_by_rfc7591(
    stack: Stack, method: Literal["client_secret_basic", "client_secret_post"]
) -> None:
    """Default settings: registered by RFC 7591 with a billing token as the initial access
    token, then the SDK's client credentials provider."""
    doc = await stack.register(token_endpoint_auth_method=method)
    storage, rec = MemoryTokenStorage(), Recorder()
    provider = ClientCredentialsOAuthProvider(
        stack.mcp_url, storage, doc["client_id"], doc["client_secret"],
        token_endpoint_auth_method=method, issuer=stack.issuer)
    async with connect(stack.mcp_url, provider, rec) as client:
        tools = await client.list_tools()
        result = await client.call_tool("list_projects", {})
    assert len(tools.tools) == 4 and not result.is_error
    _assert_discovered_and_bound(stack, rec, storage)


@pytest.mark.parametrize("registered_by", ["operator", "rfc7591"])
async def test_client_credentials_with_private_key_jwt(stack: Stack, registered_by: str) -> None:
    """A JWKS client made by the operator, or registered by RFC 7591 with
    ``token_endpoint_auth_signing_alg`` (as the conformance suite's client sends it)."""
    key = generate_key()
    if registered_by == "operator":
        created = await stack.client(jwks=public_jwks(key))
        assert created.secret is None
        assert created.client.token_endpoint_auth_method == "private_key_jwt"
        cid = created.client.client_id
    else:
        doc = await stack.register(token_endpoint_auth_method="private_key_jwt",
                                   jwks=public_jwks(key), token_endpoint_auth_signing_alg="ES256")
        assert "client_secret" not in doc and doc["token_endpoint_auth_signing_alg"] == "ES256"
        cid = doc["client_id"]
    signer = SignedJWTParameters(issuer=cid, subject=cid, signing_key=key.as_pem(private=True)
                                 .decode(), signing_algorithm="ES256", lifetime_seconds=60)
    storage, rec = MemoryTokenStorage(), Recorder()
    provider = PrivateKeyJWTOAuthProvider(stack.mcp_url, storage, cid,
                                          signer.create_assertion_provider(), issuer=stack.issuer)
    async with connect(stack.mcp_url, provider, rec) as client:
        tools = await client.list_tools()
        result = await client.call_tool("list_projects", {})
    assert len(tools.tools) == 4 and not result.is_error
    _assert_discovered_and_bound(stack, rec, storage)
    form = rec.form(rec.seen[3])
    assert form["client_assertion_type"].endswith(":jwt-bearer") and "client_secret" not in form


async def test_authorization_code_with_dynamic_registration(stack: Stack) -> None:
    """OAuthClientProvider: RFC 7591 registration, PKCE, ``resource``; the owner approves."""
    metadata = OAuthClientMetadata(
        client_name="MCP test client", redirect_uris=["http://127.0.0.1:9/callback"],
        grant_types=["authorization_code", "refresh_token"], response_types=["code"],
        token_endpoint_auth_method="none")  # fmt: skip
    storage, rec = MemoryTokenStorage(), Recorder()
    async with stack.owner_browser() as owner:
        provider = OAuthClientProvider(stack.mcp_url, metadata, storage,
                                       owner.redirect_handler, owner.callback_handler)
        async with connect(stack.mcp_url, provider, rec) as client:
            tools = await client.list_tools()
            result = await client.call_tool("list_projects", {})
    assert len(tools.tools) == 4 and not result.is_error
    (consent,) = owner.consents
    assert consent["resource"] == stack.mcp_url and consent["scope"] == BASE_SCOPE
    assert consent["code_challenge_method"] == "S256"
    assert [e.status for e in rec.at("/oauth/register")] == [201]
    assert storage.tokens is not None
    claims = stack.claims(storage.tokens.access_token)
    assert claims["aud"] == stack.mcp_url
    assert claims["client_id"] == consent["client_id"] != claims["sub"]  # the owner's token


async def test_the_example_client_steps_up_for_a_write(stack: Stack) -> None:
    created = await stack.client()
    assert created.secret is not None
    names, result = await call(stack.mcp_url, stack.issuer, created.client.client_id,
                               created.secret, "create_project", {"name": "from-the-example"})
    assert "create_project" in names
    assert result["name"] == "from-the-example" and result["status"] == "active"
