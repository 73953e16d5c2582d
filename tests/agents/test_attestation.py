"""Software statements (RFC 7591 §2.3, §3.2.2) from a trusted agent framework set trust."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from .conftest import ISSUER, Harness, agent_settings, es256_key, running

FRAMEWORK = "https://framework.example"


@pytest.fixture(scope="module")
def framework_key() -> ECKey:
    return es256_key("framework-1")


@pytest.fixture
async def hx(tmp_path: Path, framework_key: ECKey) -> AsyncIterator[Harness]:
    issuers = [{"issuer": FRAMEWORK, "jwks": {"keys": [framework_key.as_dict(private=False)]},
                "trust_level": 1, "name": "Example agent framework"}]
    settings = agent_settings(tmp_path, agents={"attestation_issuers": issuers,
                                                "free_tier": "agent_free"})
    async with running(settings) as h:
        yield h


def statement(key: ECKey, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": FRAMEWORK, "sub": "agent-instance-7", "aud": ISSUER,
                              "iat": now, "exp": now + 300, "software_id": "analyst"}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


async def test_rfc7591_s2_3_valid_statement_raises_trust_and_is_recorded(
        hx: Harness, framework_key: ECKey) -> None:
    reg = await hx.registered(software_statement=statement(framework_key),
                              requested_scopes=["read:projects", "read:billing"])
    assert reg["trust_level"] == 1
    assert reg["allowed_scopes"] == ["read:projects", "read:billing"]  # min_trust 1 met
    client = await hx.runtime.admin.get_client(reg["client_id"])
    assert client.metadata["attestation"] == {"issuer": FRAMEWORK, "sub": "agent-instance-7"}
    token = await hx.token(reg["client_id"], reg["client_secret"], "read:billing")
    assert token.status_code == 200


async def test_rfc7591_s2_3_statement_at_dynamic_registration(
        hx: Harness, framework_key: ECKey) -> None:
    response = await hx.http.post("/oauth/register", json={
        "client_name": "framework-client", "scope": "read:projects",
        "software_statement": statement(framework_key)})
    assert response.status_code == 201
    client = await hx.runtime.admin.get_client(response.json()["client_id"])
    assert client.trust_level == 1


@pytest.mark.parametrize(("make", "needle"), [
    (lambda k: statement(k, exp=int(time.time()) - 3600), "expired"),
    (lambda k: statement(k, exp=None), "expired or has no exp"),
    (lambda k: statement(k, aud="https://someone-else.example"), "aud"),
    (lambda k: statement(k, iss="https://untrusted.example"), "trusted issuer"),
    (lambda k: statement(es256_key("framework-1")), "rejected"),  # forged: another key
    (lambda k: statement(k)[:-8] + "AAAAAAAA", "rejected"),  # tampered signature
    (lambda k: "eyJhbGciOiJub25lIn0." + statement(k).split(".")[1] + ".", "rejected"),
    (lambda k: "not-a-jwt", "trusted issuer"),
    (lambda k: 12345, "compact JWT"),
])
async def test_rfc7591_s3_2_2_invalid_software_statement(
        hx: Harness, framework_key: ECKey, make: Any, needle: str) -> None:
    response = await hx.register(software_statement=make(framework_key))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_software_statement"
    assert needle in response.json()["error_description"]
    assert await hx.clients() == []
