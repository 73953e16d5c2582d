"""How the example MCP server protects itself, seen from both sides.

RFC 9728 §3 metadata and §5.1 challenges; RFC 6750 §3.1 (401 without an error code for a request
without credentials, 403 ``insufficient_scope`` listing every scope the tool needs); RFC 8707 /
MCP "Token Audience Binding" (a token for another audience is refused); MCP "Scope Challenge
Handling" (clients step up on 403); SDK sessions bound to the principal that opened them.
"""

from __future__ import annotations

import json

import httpx2
import pytest
from examples.mcp_server import (
    BASE_SCOPE,
    CLIENT_CREDENTIALS_EXTENSION,
    SCOPES_META_KEY,
    TOOL_SCOPES,
)
from examples.mcp_server.client import MemoryTokenStorage
from examples.mcp_server.guard import INSUFFICIENT_SCOPE_CODE
from examples.mcp_server.tools import add_tools
from gp_mcp_kit import (
    ALL_SCOPES,
    TIMEOUT,
    BearerAuth,
    Recorder,
    Stack,
    chain,
    connect,
)
from mcp.client.auth import OAuthTokenError
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from gatepass.clock import SystemClock
from gatepass.demo import DemoData
from mcp import Client

pytestmark = pytest.mark.slow
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "raw", "version": "0"}}}  # fmt: skip
ACCEPT = {"accept": "application/json, text/event-stream"}


def _params(challenge: str | None) -> dict[str, str]:
    assert challenge is not None and challenge.startswith("Bearer ")
    parts = [p.strip().split("=", 1) for p in challenge.removeprefix("Bearer ").split('",')]
    return {k: v.strip('"') for k, v in parts}


def _metadata_url(stack: Stack) -> str:
    return stack.mcp_url.removesuffix("/mcp") + "/.well-known/oauth-protected-resource/mcp"


def _provider(stack: Stack, client_id: str, secret: str | None) -> ClientCredentialsOAuthProvider:
    assert secret is not None
    return ClientCredentialsOAuthProvider(stack.mcp_url, MemoryTokenStorage(), client_id, secret,
                                          issuer=stack.issuer)


async def test_rfc9728_3_metadata_names_gatepass_and_every_tool_scope(stack: Stack) -> None:
    origin = stack.mcp_url.removesuffix("/mcp")
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        inserted = await http.get(_metadata_url(stack))
        root = await http.get(origin + "/.well-known/oauth-protected-resource")
        server = (await http.get(stack.issuer + "/.well-known/oauth-authorization-server")).json()
    assert inserted.status_code == root.status_code == 200
    doc = inserted.json()
    assert doc == root.json()
    assert doc["resource"] == stack.mcp_url
    assert doc["authorization_servers"] == [stack.issuer]
    assert doc["bearer_methods_supported"] == ["header"]
    assert doc["scopes_supported"] == [
        "read:projects", "write:projects", "read:analytics", "execute:deployments"]
    # What the client credentials extension asks of the authorization server's metadata.
    assert {"client_secret_basic", "private_key_jwt"} <= set(
        server["token_endpoint_auth_methods_supported"])
    assert server["token_endpoint_auth_signing_alg_values_supported"]


async def test_rfc6750_3_1_no_token_401_names_metadata_and_base_scope(stack: Stack) -> None:
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        resp = await http.post(stack.mcp_url, json=INITIALIZE, headers=ACCEPT)
    assert resp.status_code == 401
    params = _params(resp.headers["www-authenticate"])
    assert "error" not in params  # no credentials: no error code (RFC 6750 §3.1)
    assert params["scope"] == BASE_SCOPE
    assert params["resource_metadata"] == _metadata_url(stack)
    assert resp.json()["error"] == "missing_token"


async def test_rfc8707_token_for_another_audience_is_refused(stack: Stack) -> None:
    created = await stack.client(resources=[])
    other = await stack.token(created, ALL_SCOPES, None)  # aud: the issuer, not this server
    assert stack.claims(other)["aud"] == stack.issuer
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        resp = await http.post(stack.mcp_url, json=INITIALIZE, headers={
            **ACCEPT, "authorization": f"Bearer {other}"})
    assert resp.status_code == 401
    params = _params(resp.headers["www-authenticate"])
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == _metadata_url(stack)
    assert "(aud)" in resp.json()["error_description"]
    with pytest.raises(BaseException) as caught:  # the SDK raises an exception group
        async with connect(stack.mcp_url, BearerAuth(other)) as client:
            await client.list_tools()
    assert any(isinstance(e, MCPError) for e in chain(caught.value))


async def test_rfc8707_client_not_allowed_this_resource_gets_no_token(stack: Stack) -> None:
    created = await stack.client(resources=["https://elsewhere.example.com/mcp"])
    provider = _provider(stack, created.client.client_id, created.secret)
    with pytest.raises(BaseException) as caught:  # the SDK raises an exception group
        async with connect(stack.mcp_url, provider) as client:
            await client.list_tools()
    refused = [e for e in chain(caught.value) if isinstance(e, OAuthTokenError)]
    assert refused and "invalid_target" in str(refused[0])


async def test_403_step_up_to_every_scope_the_tool_needs(stack: Stack) -> None:
    created = await stack.client()
    rec = Recorder()
    async with connect(stack.mcp_url, _provider(stack, created.client.client_id, created.secret),
                       rec) as client:
        made = await client.call_tool("create_project", {"name": "made-by-mcp"})
        queued = await client.call_tool("trigger_deployment", {
            "project_id": (made.structured_content or {})["id"], "environment": "production"})
    assert not made.is_error and not queued.is_error
    assert (queued.structured_content or {})["status"] == "queued"
    refused = [e for e in rec.at("/mcp") if e.status == 403]
    assert [_params(e.challenge)["scope"] for e in refused] == [
        "write:projects", "read:projects execute:deployments"]
    assert all(_params(e.challenge)["error"] == "insufficient_scope" for e in refused)
    assert all(_params(e.challenge)["resource_metadata"] == _metadata_url(stack) for e in refused)
    asked = [rec.form(e)["scope"] for e in rec.at("/oauth/token")]
    assert asked == [BASE_SCOPE, "read:projects write:projects",
                     "read:projects write:projects execute:deployments"]


async def test_403_without_step_up_is_a_clear_error_naming_the_scopes(stack: Stack) -> None:
    created = await stack.client()
    token = await stack.token(created, "read:projects", stack.mcp_url)
    rec = Recorder()
    async with connect(stack.mcp_url, BearerAuth(token), rec) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("trigger_deployment", {"project_id": "proj_000000000000"})
        still = await client.call_tool("list_projects", {})  # the session goes on
    err = caught.value.error
    assert err.code == INSUFFICIENT_SCOPE_CODE
    assert "trigger_deployment" in err.message and "execute:deployments" in err.message
    assert err.data["required_scopes"] == ["read:projects", "execute:deployments"]
    assert err.data["granted_scopes"] == ["read:projects"]
    (refused,) = [e for e in rec.at("/mcp") if e.status == 403]
    assert _params(refused.challenge)["scope"] == "read:projects execute:deployments"
    assert not still.is_error


async def test_step_up_beyond_the_clients_scopes_fails_naming_the_scope(stack: Stack) -> None:
    created = await stack.client("read:projects")
    provider = _provider(stack, created.client.client_id, created.secret)
    with pytest.raises(BaseException) as caught:  # the SDK raises an exception group
        async with connect(stack.mcp_url, provider) as client:
            assert not (await client.call_tool("list_projects", {})).is_error
            await client.call_tool("trigger_deployment", {"project_id": "proj_000000000000"})
    refused = [str(e) for e in chain(caught.value) if isinstance(e, OAuthTokenError)]
    assert refused and "invalid_scope" in refused[0] and "execute:deployments" in refused[0]


async def test_scope_implications_and_tenants(stack: Stack) -> None:
    """``write:projects`` implies ``read:projects``; each client sees its own projects."""
    writer, reader = await stack.client(), await stack.client()
    write_token = await stack.token(writer, "write:projects", stack.mcp_url)
    read_token = await stack.token(reader, "read:projects", stack.mcp_url)
    async with connect(stack.mcp_url, BearerAuth(write_token)) as client:
        assert not (await client.call_tool("create_project", {"name": "mine"})).is_error
        mine = await client.call_tool("list_projects", {})
    async with connect(stack.mcp_url, BearerAuth(read_token)) as client:
        theirs = await client.call_tool("list_projects", {})
    assert "mine" in [p["name"] for p in (mine.structured_content or {})["data"]]
    assert "mine" not in [p["name"] for p in (theirs.structured_content or {})["data"]]


async def test_capabilities_advertise_client_credentials_and_tools_declare_scopes(
    stack: Stack,
) -> None:
    created = await stack.client()
    token = await stack.token(created, BASE_SCOPE, stack.mcp_url)
    async with connect(stack.mcp_url, BearerAuth(token)) as client:
        capabilities = client.session.server_capabilities
        tools = (await client.list_tools()).tools
    assert capabilities is not None and capabilities.extensions is not None
    assert CLIENT_CREDENTIALS_EXTENSION in capabilities.extensions
    for tool in tools:
        assert tool.meta is not None
        assert tool.meta[SCOPES_META_KEY] == list(TOOL_SCOPES[tool.name])
        assert tool.description is not None and " ".join(TOOL_SCOPES[tool.name]) in tool.description


async def test_sessions_are_bound_to_the_principal_that_opened_them(stack: Stack) -> None:
    alice, bob = await stack.client(), await stack.client()
    tokens = [await stack.token(c, BASE_SCOPE, stack.mcp_url) for c in (alice, bob)]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        opened = await http.post(stack.mcp_url, json=INITIALIZE, headers={
            **ACCEPT, "authorization": f"Bearer {tokens[0]}"})
        session = {**ACCEPT, "mcp-session-id": opened.headers["mcp-session-id"],
                   "mcp-protocol-version": "2025-11-25"}
        stolen = await http.post(stack.mcp_url, json=listing, headers={
            **session, "authorization": f"Bearer {tokens[1]}"})
        own = await http.post(stack.mcp_url, json=listing, headers={
            **session, "authorization": f"Bearer {tokens[0]}"})
    assert opened.status_code == 200
    assert stolen.status_code == 404
    assert own.status_code == 200


async def test_oversized_body_is_refused_before_the_sdk(stack: Stack) -> None:
    created = await stack.client()
    token = await stack.token(created, ALL_SCOPES, stack.mcp_url)
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "create_project", "arguments": {"name": "x", "description": "x" * 1_100_000}}}
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        resp = await http.post(stack.mcp_url, content=json.dumps(call), headers={
            **ACCEPT, "content-type": "application/json", "authorization": f"Bearer {token}"})
    assert resp.status_code == 413


async def test_tools_refuse_a_call_without_a_verified_caller() -> None:
    """Defence in depth: a tool reached without the HTTP layer answers a tool error."""
    server: MCPServer = MCPServer("bare", log_level="WARNING")
    add_tools(server, DemoData(SystemClock()))
    async with Client(server) as client:
        result = await client.call_tool("get_analytics", {})
    assert result.is_error
    assert "read:analytics" in result.content[0].text  # type: ignore[union-attr]
