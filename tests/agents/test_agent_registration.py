"""``POST /api/v1/agents/register``: the guide's Step 3 shapes, every refusal, nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    AGENT_IP,
    ISSUER,
    REGISTER,
    TOKEN_ENDPOINT,
    Harness,
    agent_settings,
    bearer,
    client_assertion,
    es256_key,
    running,
)


async def test_guide_step3_success_shape(h: Harness) -> None:
    response = await h.register()
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["client_id"].startswith("agent_")
    assert body["client_secret"].startswith("gps_")
    assert body["client_secret_expires_at"] == 0
    assert body["allowed_scopes"] == ["read:projects", "read:analytics"]
    assert body["pending_scopes"] == []
    assert body["token_endpoint"] == TOKEN_ENDPOINT
    assert body["documentation"] == ISSUER + "/llms.txt"
    assert body["rate_limits"]["requests_per_minute"] == 300
    assert body["registration_access_token"].startswith("gpr_")
    assert body["registration_client_uri"] == ISSUER + "/api/v1/agents/me"
    assert "cannot be retrieved again" in body["warning"]
    assert body["tier"] == "agent_standard"
    assert await h.clients() == [body["client_id"]]


async def test_secret_is_shown_only_once(h: Harness) -> None:
    reg = await h.registered()
    me = await h.http.get("/api/v1/agents/me", headers=bearer(reg["registration_access_token"]))
    assert me.status_code == 200
    assert reg["client_secret"] not in me.text
    assert [s["secret_id"] for s in me.json()["secrets"]]


async def test_requested_scopes_as_space_separated_string(h: Harness) -> None:
    reg = await h.registered(requested_scopes="read:projects write:projects")
    assert reg["allowed_scopes"] == ["read:projects", "write:projects"]


@pytest.mark.parametrize("tos", [None, False, "yes", 1])
async def test_guide_tos_required_400(h: Harness, tos: Any) -> None:
    response = await h.register(tos_accepted=tos)
    assert response.status_code == 400
    assert response.json() == {
        "error": "tos_required",
        "error_description": "Agent must accept the Terms of Service (tos_accepted: true)",
        "tos_url": ISSUER + "/terms/agent-tos",
        "tos_version": "2026-02-01",
    }
    assert await h.clients() == []


async def test_tos_url_resolves(h: Harness) -> None:
    response = await h.http.get("/terms/agent-tos")
    assert response.status_code == 200
    assert "2026-02-01" in response.text
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("token", [None, "", "btok_forged", 42])
async def test_guide_billing_required_402(h: Harness, token: Any) -> None:
    body = await h.body()
    body["billing_token"] = token
    if token is None:
        del body["billing_token"]
    response = await h.http.post(REGISTER, json=body)
    assert response.status_code == 402
    assert response.json() == {
        "error": "billing_required",
        "error_description": "Valid billing method required for agent registration",
        "billing_options": [{"type": "prepaid", "endpoint": ISSUER + "/api/v1/billing/prepaid"}],
    }
    assert await h.clients() == []


async def test_billing_options_endpoint_explains_prepaid(h: Harness) -> None:
    response = await h.http.get("/api/v1/billing/prepaid")
    assert response.status_code == 200
    data = response.json()
    assert data["type"] == "prepaid"
    assert "gatepass billing issue" in data["how_to_obtain"]
    assert data["usage"] == {"endpoint": ISSUER + REGISTER, "field": "billing_token"}


async def test_single_use_billing_token_reused_is_402(h: Harness) -> None:
    token = await h.billing_token()
    assert (await h.register(billing_token=token, agent_name="first")).status_code == 201
    again = await h.register(billing_token=token, agent_name="second")
    assert again.status_code == 402
    assert len(await h.clients()) == 1


async def test_reusable_billing_token_and_expired_token(h: Harness) -> None:
    reusable = await h.billing_token(max_uses=None)
    for name in ("a", "b", "c"):
        assert (await h.register(billing_token=reusable, agent_name=name)).status_code == 201
    expired = await h.billing_token(ttl=-1)
    assert (await h.register(billing_token=expired, agent_name="d")).status_code == 402
    records = await h.runtime.stores.billing.list_billing_tokens()
    assert sorted(r.uses for r in records) == [0, 3]


async def test_billing_tier_sets_tier_and_scope_ceiling(h: Harness) -> None:
    """agent:batch-operations needs agent_standard; a free-tier agent sees why not."""
    premium = await h.registered(billing_token=await h.billing_token("agent_premium"),
                                 requested_scopes=["agent:batch-operations"])
    assert premium["tier"] == "agent_premium"
    assert premium["allowed_scopes"] == ["agent:batch-operations"]
    free = await h.registered(billing_token=await h.billing_token("agent_free"),
                              requested_scopes=["read:projects", "agent:batch-operations"])
    assert free["allowed_scopes"] == ["read:projects"]
    assert free["restricted_scopes"] == [{
        "scope": "agent:batch-operations",
        "reason": "requires the agent_standard tier (this client: agent_free)"}]


async def test_free_tier_registers_without_billing(tmp_path: Path) -> None:
    settings = agent_settings(tmp_path, agents={"free_tier": "agent_free"})
    async with running(settings) as h:
        reg = await h.registered(billing_token=None)
        assert reg["tier"] == "agent_free"
        paid = await h.registered(agent_name="paid", billing_token=await h.billing_token())
        assert paid["tier"] == "agent_standard"
        bad = await h.register(agent_name="bad", billing_token="btok_forged")
        assert bad.status_code == 402


@pytest.mark.parametrize(("fields", "error", "needle"), [
    ({"agent_type": "robot"}, "invalid_client_metadata", "agent_type must be one of"),
    ({"agent_name": ""}, "invalid_client_metadata", "agent_name"),
    ({"agent_name": "x" * 201}, "invalid_client_metadata", "agent_name"),
    ({"agent_name": 7}, "invalid_client_metadata", "agent_name"),
    ({"agent_name": "a\x00b"}, "invalid_client_metadata", "printable"),  # NUL: never a 503
    ({"agent_name": "line\nbreak"}, "invalid_client_metadata", "printable"),
    ({"requested_scopes": ["read:projects", "delete:everything", "nuke:all"]},
     "invalid_scope", "Unknown scope: delete:everything nuke:all"),
    ({"requested_scopes": ["gatepass:admin"]}, "invalid_scope", "gatepass:admin"),
    ({"requested_scopes": {"read:projects": True}}, "invalid_request", "requested_scopes"),
    ({"requested_scopes": ["bad scope\u00e9"]}, "invalid_scope", "Malformed"),
    ({"client_id": "agent_mine"}, "invalid_client_metadata", "client_id"),
    ({"client_secret": "mine"}, "invalid_client_metadata", "client_secret"),
    ({"jwks": {"keys": []}}, "invalid_client_metadata", "jwks"),
    ({"jwks": {"keys": [{"kty": "EC", "d": "secret"}]}}, "invalid_client_metadata", "jwks"),
    ({"jwks": {"keys": [{"kty": "EC"}]}, "jwks_uri": "https://example.com/jwks"},
     "invalid_client_metadata", "not both"),
    ({"jwks_uri": "http://example.com/jwks"}, "invalid_client_metadata", "https"),
    ({"jwks_uri": "https://127.0.0.1/jwks"}, "invalid_client_metadata", "non-public"),
    ({"jwks_uri": "https://10.1.2.3/jwks"}, "invalid_client_metadata", "non-public"),
    ({"jwks_uri": "https://[::1]/jwks"}, "invalid_client_metadata", "non-public"),
    ({"jwks_uri": "https://169.254.169.254/latest"}, "invalid_client_metadata", "non-public"),
    ({"jwks_uri": "https://localhost/jwks"}, "invalid_client_metadata", "non-public"),
    ({"software_statement": "not-a-jwt"}, "invalid_software_statement", "trusted issuer"),
])
async def test_bad_input_is_refused_and_nothing_stored(
    h: Harness, fields: dict[str, Any], error: str, needle: str
) -> None:
    token = await h.billing_token()
    response = await h.register(billing_token=token, **fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert needle in response.json()["error_description"]
    assert await h.clients() == []
    [record] = await h.runtime.stores.billing.list_billing_tokens()
    assert record.uses == 0  # the billing token was not spent


async def test_unknown_scope_names_every_offender(h: Harness) -> None:
    response = await h.register(requested_scopes=["read:projects", "x:y", "z:w"])
    assert response.json()["unknown_scopes"] == ["x:y", "z:w"]


@pytest.mark.parametrize(("content", "ctype", "status", "error"), [
    (b"{not json", "application/json", 400, "invalid_request"),
    (b"", "application/json", 400, "invalid_request"),
    (b"[1, 2]", "application/json", 400, "invalid_request"),
    (b'"string"', "application/json", 400, "invalid_request"),
    (b"agent_name=x", "application/x-www-form-urlencoded", 415, "invalid_request"),
    (b"{}" + b" " * 20_000, "application/json", 413, "invalid_request"),
])
async def test_malformed_bodies(h: Harness, content: bytes, ctype: str, status: int,
                                error: str) -> None:
    response = await h.http.post(REGISTER, content=content, headers={"content-type": ctype})
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert await h.clients() == []


async def test_oversized_body_without_content_length(h: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 1000

    response = await h.http.post(REGISTER, content=chunks(),
                                 headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


async def test_api_errors_are_oauth_json(h: Harness) -> None:
    missing = await h.http.get("/api/v1/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = await h.http.get(REGISTER)
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "invalid_request"


async def test_key_based_agent_gets_no_secret_and_uses_private_key_jwt(h: Harness) -> None:
    key = es256_key()
    reg = await h.registered(jwks={"keys": [key.as_dict(private=False)]})
    assert "client_secret" not in reg
    assert "warning" not in reg
    assert reg["token_endpoint_auth_method"] == "private_key_jwt"
    [stored] = [c for c in await h.runtime.stores.clients.list_clients()]
    assert await h.runtime.stores.clients.list_secrets(stored.client_id) == []
    assertion = client_assertion(reg["client_id"], key, h.runtime.server.clock.now())
    response = await h.http.post("/oauth/token", data={
        "grant_type": "client_credentials", "scope": "read:projects",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})
    assert response.status_code == 200, response.text


async def test_dedup_identical_registration_is_409_naming_the_client(h: Harness) -> None:
    body = await h.body()
    first = await h.client().post(REGISTER, json=body)
    second = await h.client().post(REGISTER, json=body)
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json()["error"] == "invalid_client_metadata"
    assert second.json()["client_id"] == first.json()["client_id"]
    assert "client_secret" not in second.json()
    assert "registration_access_token" not in second.json()
    assert len(await h.clients()) == 1
    ok = await h.token(first.json()["client_id"], first.json()["client_secret"])
    assert ok.status_code == 200  # the first holder's secret keeps working
    other_ip = await h.client("198.51.100.9").post(REGISTER, json=body)
    assert other_ip.status_code == 402  # a new client would spend the single-use token again


async def test_owner_hint_is_recorded(h: Harness) -> None:
    reg = await h.registered(owner="alice@example.com")
    client = await h.runtime.admin.get_client(reg["client_id"])
    assert client.metadata["owner_hint"] == "alice@example.com"
    assert client.metadata["registered_via"] == "agent_registration"
    assert client.agent_type == "autonomous"


async def test_per_account_daily_limit_429(tmp_path: Path) -> None:
    settings = agent_settings(tmp_path, agents={"registrations_per_account_per_day": 2})
    async with running(settings) as h:
        token = await h.billing_token(max_uses=None, account_id="acct_busy")
        for name in ("a", "b"):
            assert (await h.register(billing_token=token, agent_name=name)).status_code == 201
        refused = await h.register(billing_token=token, agent_name="c")
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limit_exceeded"
        assert 0 < refused.json()["retry_after"] <= 86_400
        assert refused.headers["retry-after"] == str(refused.json()["retry_after"])
        other = await h.billing_token(max_uses=None, account_id="acct_other")
        assert (await h.register(billing_token=other, agent_name="d")).status_code == 201
        assert len(await h.clients()) == 3


async def test_registration_is_audited(h: Harness) -> None:
    reg = await h.registered()
    [event] = await h.events(reg["client_id"])
    assert event["event"] == "client.registered"
    assert event["actor"] == "agent_registration"
    assert event["tier"] == "agent_standard"


async def test_client_address_recorded_from_socket(h: Harness) -> None:
    """The dedup fingerprint uses the socket address; X-Forwarded-For from a stranger is
    ignored, so forging it does not make two registrations look different."""
    body = await h.body()
    first = await h.http.post(REGISTER, json=body, headers={"X-Forwarded-For": "1.1.1.1"})
    second = await h.http.post(REGISTER, json=body, headers={"X-Forwarded-For": "2.2.2.2"})
    assert second.status_code == 409
    assert first.json()["client_id"] == second.json()["client_id"]
    assert AGENT_IP  # both came from the same socket address
