"""The agent client against the real app: register, tokens, and reacting to the API's answers."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from gatepass.agent import (
    AgentClient,
    DiscoveryError,
    InsufficientScopeError,
    PaymentRequiredError,
    RateLimitedError,
    TermsRequiredError,
    TokenError,
)
from gatepass.agent._flow import run_async
from gatepass.agent._protocol import RegistrationRequest, registration_flow
from gatepass.clock import FrozenClock

from .conftest import API, ISSUER, TOKEN_PATH, StackFactory

REGISTER = "/api/v1/agents/register"


async def test_discovery_rfc8414_agent_extensions(stack: StackFactory) -> None:
    async with stack() as s:
        meta = await s.agent().adiscover()
    assert meta.issuer == ISSUER
    assert meta.token_endpoint == ISSUER + TOKEN_PATH
    assert meta.agent_registration_url == ISSUER + REGISTER
    assert meta.agent_tos_url and meta.agent_documentation
    assert "private_key_jwt" in meta.auth_methods
    assert "agent_standard" in meta.rate_limit_tiers


async def test_discovery_rfc9728_from_a_401(stack: StackFactory) -> None:
    """Given only the API's URL, the 401's resource_metadata leads to the issuer."""
    async with stack() as s:
        agent = s.agent(API + "/projects")
        meta = await agent.adiscover()
    assert meta.issuer == ISSUER
    assert agent.resource == API


async def test_issuer_mismatch_is_refused(stack: StackFactory) -> None:
    async with stack() as s:
        s.router.mount("http://127.0.0.1:8300", s.router.apps[ISSUER].app)
        with pytest.raises(DiscoveryError) as caught:
            await s.agent("http://127.0.0.1:8300").adiscover()
    assert caught.value.error == "issuer_mismatch"


async def test_plain_http_to_a_public_host_is_refused() -> None:
    with pytest.raises(DiscoveryError, match="https"):
        await AgentClient("http://as.example.com").adiscover()


async def test_terms_required_carries_url_and_version(stack: StackFactory) -> None:
    async with stack() as s:
        with pytest.raises(TermsRequiredError) as caught:
            await s.agent().aregister("agent", "read:projects")
    assert caught.value.tos_url == ISSUER + "/terms/agent-tos"
    assert caught.value.tos_version
    assert caught.value.status == 400


async def test_payment_required_carries_billing_options(stack: StackFactory) -> None:
    async with stack(free_tier=None) as s:
        with pytest.raises(PaymentRequiredError) as caught:
            await s.agent().aregister("agent", "read:projects", accept_tos=True)
    assert caught.value.status == 402
    assert caught.value.billing_options[0]["type"] == "prepaid"
    assert caught.value.billing_options[0]["endpoint"].startswith(ISSUER)


async def test_register_secret_then_token_is_cached(stack: StackFactory) -> None:
    async with stack() as s:
        agent = s.agent()
        result = await agent.aregister("agent", "read:projects agent:autonomous-deploy",
                                       accept_tos=True)
        first = await agent.atoken()
        again = await agent.atoken()
        assert s.router.count(TOKEN_PATH) == 1
    assert result.credentials.client_secret and result.credentials.auth_method.startswith(
        "client_secret")
    assert result.allowed_scopes == ("read:projects",)
    assert result.pending_scopes == ("agent:autonomous-deploy",)
    assert result.approval_request_id
    assert again is first and first.scopes == ("read:projects",)


async def test_private_key_jwt_no_secret_crosses_the_wire(stack: StackFactory) -> None:
    async with stack() as s:
        agent = await s.registered(use_keys=True)
        token = await agent.atoken()
        sent = [r for r in s.router.seen if r.url.path in (REGISTER, TOKEN_PATH)]
        registration, token_request = json.loads(sent[0].content), sent[-1].content.decode()
    creds = agent.credentials
    assert creds.auth_method == "private_key_jwt" and creds.client_secret is None
    assert creds.private_jwk and "d" in creds.private_jwk
    assert all("d" not in k for k in registration["jwks"]["keys"])
    assert "authorization" not in {k.lower() for k in sent[-1].headers}
    form = dict(p.split("=", 1) for p in token_request.split("&"))
    key = ECKey.import_key(creds.private_jwk)
    claims = jwt.decode(form["client_assertion"], key).claims
    assert claims["aud"] == ISSUER + TOKEN_PATH
    assert claims["iss"] == claims["sub"] == creds.client_id
    assert claims["jti"] and 0 < claims["exp"] - claims["iat"] <= 60
    assert token.value


async def test_rfc7591_fallback_registration(stack: StackFactory) -> None:
    async with stack() as s:
        agent = s.agent()
        meta = replace(await agent.adiscover(), agent_registration_url=None)
        request = RegistrationRequest("dcr-agent", ("read:projects",))
        result = await run_async(registration_flow(meta, request, None), s.http)
        assert s.router.count("/oauth/register") == 1
    assert result.credentials.client_secret and result.allowed_scopes == ("read:projects",)
    assert result.credentials.registration_access_token


async def test_token_renewed_before_expiry(stack: StackFactory) -> None:
    async with stack() as s:
        clock = FrozenClock(s.clock.now())
        agent = await s.registered(clock=clock)
        token = await agent.atoken()
        assert token.expires_at is not None
        clock.set(token.expires_at - 61)
        assert await agent.atoken() is token
        clock.set(token.expires_at - 59)
        renewed = await agent.atoken()
        assert renewed.value != token.value and s.router.count(TOKEN_PATH) == 2


async def test_call_learns_resource_then_renews_on_token_expired(stack: StackFactory) -> None:
    """401 (wrong audience, resource_metadata) teaches the resource; later token_expired is
    answered by exactly one renewal."""
    async with stack() as s:
        agent = await s.registered()
        async with s.api() as api:
            first = await api.get("/projects", auth=agent)
            assert first.status_code == 200, first.text
            assert s.router.count(TOKEN_PATH) == 2  # issuer audience, then the API's
            s.clock.advance(7200)  # the servers' time: the cached token has expired
            second = await api.get("/projects", auth=agent)
            assert second.status_code == 200, second.text
            assert s.router.count(TOKEN_PATH) == 3
            assert [r.status_code for r in second.history] == [401]


async def test_at_most_one_renewal_per_request(stack: StackFactory) -> None:
    async with stack() as s:
        agent = await s.registered()
        async with s.api() as api:
            await api.get("/projects", auth=agent)
            before = s.router.count(TOKEN_PATH)
            s.router.mount(API, _always_401)  # refuses every token
            response = await api.get("/projects", auth=agent)
    assert response.status_code == 401
    assert s.router.count(TOKEN_PATH) == before + 1


async def _always_401(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    body = b'{"error":"token_expired","error_description":"expired"}'
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def test_429_waits_retry_after_then_retries(stack: StackFactory) -> None:
    async with stack() as s:
        agent = await s.registered(resource=API)
        async with s.api() as api:
            assert (await api.get("/limited", auth=agent)).status_code == 200
            started = time.monotonic()
            response = await api.get("/limited", auth=agent)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [429]
    assert 0.5 <= time.monotonic() - started < 3


async def test_429_longer_than_the_cap_raises_without_waiting(stack: StackFactory) -> None:
    async with stack() as s:
        agent = await s.registered(resource=API, max_wait=0.5)
        async with s.api() as api:
            started = time.monotonic()
            with pytest.raises(RateLimitedError) as caught:
                await api.get("/busy", auth=agent)
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after == 120
    assert caught.value.upgrade_url == "https://example.com/pricing"


async def test_insufficient_scope_names_the_missing_scopes(stack: StackFactory) -> None:
    async with stack() as s:
        agent = await s.registered(resource=API)
        async with s.api() as api:
            with pytest.raises(InsufficientScopeError) as caught:
                await api.post("/deployments", auth=agent, json={})
    assert caught.value.missing == ("execute:deployments",)
    assert caught.value.required == ("execute:deployments",)
    assert "read:projects" in caught.value.granted
    assert "execute:deployments" in str(caught.value)


async def test_token_error_is_typed(stack: StackFactory) -> None:
    async with stack() as s:
        agent = await s.registered()
        with pytest.raises(TokenError) as caught:
            await agent.atoken(["gatepass:admin"])
    assert caught.value.error == "invalid_scope"


async def test_a_resource_trusting_another_issuer_is_refused(stack: StackFactory) -> None:
    """RFC 9728: the API's metadata names another authorization server; our token can't help
    there, so the client says so instead of sending credentials around."""
    foreign = "http://127.0.0.1:8400"

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["path"].startswith("/.well-known/oauth-protected-resource"):
            status, headers = 200, [(b"content-type", b"application/json")]
            body = json.dumps({"resource": foreign,
                               "authorization_servers": ["http://127.0.0.1:8500"]}).encode()
        else:
            status, body = 401, b'{"error":"invalid_token","error_description":"no"}'
            headers = [(b"www-authenticate", b'Bearer resource_metadata="' + foreign.encode()
                        + b'/.well-known/oauth-protected-resource"')]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async with stack() as s:
        s.router.mount(foreign, app)
        agent = await s.registered(origins=[API, foreign])  # told to use it: it still refuses
        with pytest.raises(DiscoveryError) as caught:
            await s.http.get(foreign + "/data", auth=agent)
    assert caught.value.error == "foreign_resource"


async def test_one_http_client_can_carry_the_agent_as_its_auth(stack: StackFactory) -> None:
    """The agent's own token requests never go through the client's auth (no recursion)."""
    async with stack() as s, httpx.AsyncClient(transport=s.router) as http:
        agent = AgentClient(ISSUER, async_http=http, origins=[API])
        http.auth = agent
        await agent.aregister("shared", "read:projects", accept_tos=True)
        response = await http.get(API + "/projects")
    assert response.status_code == 200, response.text
