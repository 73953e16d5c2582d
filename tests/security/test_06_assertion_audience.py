"""Issue 13, item 6: a ``private_key_jwt`` assertion is addressed to this server alone.

``aud=["https://other.example", "$AS"]`` and ``aud="$AS/oauth/introspect"`` were accepted. Now
``aud`` is the issuer or the token endpoint URL (the rfc7523bis direction), a string or an
array of only those; other endpoints' URLs and foreign values are refused at every endpoint
that authenticates clients.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from authcode.conftest import ISSUER, Browser
from gatepass.core.client_auth.private_key_jwt import ASSERTION_TYPE

TOKEN = ISSUER + "/oauth/token"


async def _key_client(ac: Browser) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256", "use": "sig"},
                             private=True)
    created = await ac.rt.admin.create_client(
        "keyed", "read:projects", jwks={"keys": [key.as_dict(private=False)]})
    assert created.client.uses_private_key_jwt
    return created.client.client_id, key


def _assertion(cid: str, key: ECKey, aud: Any, now: float) -> dict[str, str]:
    claims = {"iss": cid, "sub": cid, "aud": aud, "iat": int(now), "exp": int(now) + 60,
              "jti": secrets.token_urlsafe(12)}
    return {"client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)}


def _refused(resp: httpx.Response) -> None:
    assert resp.status_code == 401, resp.text
    body = resp.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"] == (
        "client_assertion aud must be the issuer or the token endpoint")
    assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("aud", [["https://other.example", ISSUER],
                                 [ISSUER, "https://other.example"],
                                 ISSUER + "/oauth/introspect", ISSUER + "/oauth/revoke",
                                 [TOKEN, ISSUER + "/oauth/introspect"]])
async def test_foreign_or_other_endpoint_audiences_are_refused_at_the_token_endpoint(
        ac: Browser, aud: Any) -> None:
    cid, key = await _key_client(ac)
    now = ac.clock.now()
    resp = await ac.http.post("/oauth/token", data={
        "grant_type": "client_credentials", **_assertion(cid, key, aud, now)})
    _refused(resp)


async def test_the_introspection_and_revocation_urls_are_refused_where_they_are_called(
        ac: Browser) -> None:
    """Authlib without a fixed ``token_endpoint`` names the endpoint it calls: refused now."""
    cid, key = await _key_client(ac)
    now = ac.clock.now()
    issued = await ac.http.post("/oauth/token", data={
        "grant_type": "client_credentials", **_assertion(cid, key, TOKEN, now)})
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    for path in ("/oauth/introspect", "/oauth/revoke"):
        _refused(await ac.http.post(path, data={
            "token": token, **_assertion(cid, key, ISSUER + path, now)}))
    introspected = await ac.http.post("/oauth/introspect", data={
        "token": token, **_assertion(cid, key, TOKEN, now)})
    assert introspected.status_code == 200 and introspected.json()["active"] is True
    revoked = await ac.http.post("/oauth/revoke", data={
        "token": token, **_assertion(cid, key, ISSUER, now)})
    assert revoked.status_code == 200, revoked.text
    after = await ac.http.post("/oauth/introspect", data={
        "token": token, **_assertion(cid, key, ISSUER, now)})
    assert after.json() == {"active": False}


@pytest.mark.parametrize("aud", [ISSUER, TOKEN, [ISSUER], [ISSUER, TOKEN]])
async def test_the_issuer_or_the_token_endpoint_is_accepted(ac: Browser, aud: Any) -> None:
    cid, key = await _key_client(ac)
    resp = await ac.http.post("/oauth/token", data={
        "grant_type": "client_credentials", **_assertion(cid, key, aud, ac.clock.now())})
    assert resp.status_code == 200, resp.text
    assert resp.json()["token_type"] == "Bearer"
