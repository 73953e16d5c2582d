"""Issue 12 item 2: RFC 7591 clients connect at default settings (billing required, no free tier).

Billing gates only registrations that can obtain tokens with no human present; a billing token
presented as the initial access token counts; ``token_endpoint_auth_signing_alg`` is validated,
stored and enforced at the token endpoint.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from .conftest import TOKEN_ENDPOINT, Harness, bearer, client_assertion, es256_key

REGISTER = "/oauth/register"
CODE_CLIENT = {"client_name": "mcp-client", "redirect_uris": ["https://app.example.org/cb"],
               "grant_types": ["authorization_code", "refresh_token"],
               "response_types": ["code"], "token_endpoint_auth_method": "none"}


async def test_authorization_code_only_client_needs_no_billing(h: Harness) -> None:
    ok = await h.http.post(REGISTER, json=CODE_CLIENT)
    assert ok.status_code == 201, ok.text
    doc = ok.json()
    assert "client_secret" not in doc and doc["grant_types"] == [
        "authorization_code", "refresh_token"]
    client = await h.runtime.stores.clients.get_client(doc["client_id"])
    assert client is not None and client.tier == "agent_free"  # the lowest tier
    assert client.metadata["billing_account"] == "consent"


async def test_client_credentials_still_needs_billing(h: Harness) -> None:
    for body in ({"client_name": "cc"},
                 {**CODE_CLIENT, "grant_types": ["authorization_code", "client_credentials"],
                  "token_endpoint_auth_method": "client_secret_basic"}):
        refused = await h.http.post(REGISTER, json=body)
        assert refused.status_code == 402, refused.text
        assert refused.json()["error"] == "billing_required"
        assert refused.json()["error_description"]
    assert await h.clients() == []


async def test_billing_token_as_initial_access_token(h: Harness) -> None:
    token = await h.billing_token()
    ok = await h.http.post(REGISTER, json={"client_name": "cc", "scope": "read:projects"},
                           headers=bearer(token))
    assert ok.status_code == 201, ok.text
    client = await h.runtime.stores.clients.get_client(ok.json()["client_id"])
    assert client is not None and client.tier == "agent_standard"
    assert (await h.token(client.client_id, ok.json()["client_secret"])).status_code == 200
    # single use: the same token again, by header, is refused
    again = await h.http.post(REGISTER, json={"client_name": "other"}, headers=bearer(token))
    assert again.status_code == 402 and again.json()["error"] == "billing_required"
    bogus = await h.http.post(REGISTER, json={"client_name": "cc"}, headers=bearer("btok_nope"))
    assert bogus.status_code == 402


async def test_billing_token_in_body_and_header_must_agree(h: Harness) -> None:
    first, second = await h.billing_token(), await h.billing_token()
    refused = await h.http.post(REGISTER, json={"client_name": "cc", "billing_token": first},
                                headers=bearer(second))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert await h.clients() == []
    same = await h.http.post(REGISTER, json={"client_name": "cc", "billing_token": first},
                             headers=bearer(first))
    assert same.status_code == 201


async def _pkjwt_client(h: Harness, key_dict: dict[str, Any], alg: str | None) -> Any:
    body: dict[str, Any] = {"client_name": "signer", "scope": "read:projects",
                            "token_endpoint_auth_method": "private_key_jwt",
                            "jwks": {"keys": [key_dict]}}
    if alg is not None:
        body["token_endpoint_auth_signing_alg"] = alg
    return await h.http.post(REGISTER, json=body, headers=bearer(await h.billing_token()))




async def test_signing_alg_is_validated_and_stored(h: Harness) -> None:
    key = es256_key()
    for alg, needle in (("none", "must be one of"), ("HS256", "must be one of"),
                        (5, "must be one of")):
        refused = await _pkjwt_client(h, key.as_dict(private=False), alg)  # type: ignore[arg-type]
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_client_metadata"
        assert needle in refused.json()["error_description"]
    secret_client = await h.http.post(REGISTER, json={
        "client_name": "s", "token_endpoint_auth_signing_alg": "ES256"},
        headers=bearer(await h.billing_token()))
    assert secret_client.status_code == 400
    assert "private_key_jwt only" in secret_client.json()["error_description"]
    assert await h.clients() == []
    ok = await _pkjwt_client(h, key.as_dict(private=False), "ES256")
    assert ok.status_code == 201, ok.text
    assert ok.json()["token_endpoint_auth_signing_alg"] == "ES256"
    assertion = client_assertion(ok.json()["client_id"], key, time.time())
    token = await h.http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert token.status_code == 200, token.text


async def test_signing_alg_restricts_assertions(h: Harness) -> None:
    """A client pinned to PS256 cannot authenticate with RS256 from the same RSA key."""
    key = RSAKey.generate_key(2048, parameters={"kid": "rsa"}, private=True)
    ok = await _pkjwt_client(h, key.as_dict(private=False), "PS256")
    assert ok.status_code == 201, ok.text
    cid = ok.json()["client_id"]

    def assertion(alg: str) -> str:
        now = int(time.time())
        claims = {"iss": cid, "sub": cid, "aud": TOKEN_ENDPOINT, "iat": now, "exp": now + 60,
                  "jti": secrets.token_urlsafe(12)}
        return jwt.encode({"alg": alg, "kid": "rsa"}, claims, key, algorithms=[alg])

    form = {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    refused = await h.http.post("/oauth/token", data={**form, "client_assertion": assertion(
        "RS256")})
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    accepted = await h.http.post("/oauth/token", data={**form, "client_assertion": assertion(
        "PS256")})
    assert accepted.status_code == 200, accepted.text


async def test_discovery_advertises_only_enforced_signing_algs(h: Harness) -> None:
    meta = (await h.http.get("/.well-known/oauth-authorization-server")).json()
    algs = meta["token_endpoint_auth_signing_alg_values_supported"]
    assert "none" not in algs and "HS256" not in algs
    assert set(algs) == set(h.runtime.server.config.assertion_algorithms) - {"none"}
