"""RFC 9728 metadata of the mounted demo API, its audience (RFC 8707); foreign tokens refused."""

from __future__ import annotations

import time
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import ECKey

from gatepass.demo import ROUTE_SCOPES

from .conftest import ISSUER, WELL_KNOWN, ServeFactory, bearer, dev_settings

OTHER_API = "https://api.example.com"


async def test_rfc9728_3_metadata_from_configuration_and_routes(serve: ServeFactory) -> None:
    async with serve() as gp:
        challenge = (await gp.http.get("/api/projects")).headers["www-authenticate"]
        url = challenge.split('resource_metadata="')[1].split('"')[0]
        response = await gp.http.get(url)
    assert url == ISSUER + WELL_KNOWN
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["resource"] == ISSUER  # RFC 9728 §3.3: the identifier the URL was built from
    assert doc["authorization_servers"] == [ISSUER]
    assert doc["bearer_methods_supported"] == ["header"]
    assert set(doc["scopes_supported"]) == set(ROUTE_SCOPES.values())
    assert doc["resource_documentation"] == ISSUER + "/api/docs"
    assert "x-ratelimit-limit" not in response.headers  # public, not counted


async def test_rfc9728_3_1_path_inserted_form_for_an_audience_with_a_path(
    serve: ServeFactory,
) -> None:
    async with serve(default_audience=ISSUER + "/api") as gp:
        inserted = await gp.http.get(WELL_KNOWN + "/api")
        token = await gp.token("read:projects")  # no `resource`: aud = the default audience
        ok = await gp.http.get("/api/projects", headers=bearer(token))
        challenge = (await gp.http.get("/api/projects")).headers["www-authenticate"]
    assert inserted.status_code == 200 and inserted.json()["resource"] == ISSUER + "/api"
    assert ok.status_code == 200, ok.text
    assert f'resource_metadata="{ISSUER}{WELL_KNOWN}/api"' in challenge


async def test_rfc8707_token_for_another_resource_is_refused(serve: ServeFactory) -> None:
    async with serve(resources=[OTHER_API]) as gp:
        elsewhere = await gp.token("read:projects", resource=OTHER_API)
        here = await gp.token("read:projects", resource=ISSUER)
        refused = await gp.http.get("/api/projects", headers=bearer(elsewhere))
        accepted = await gp.http.get("/api/projects", headers=bearer(here))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    assert "aud" in refused.json()["error_description"]
    assert accepted.status_code == 200


async def test_tokens_of_a_foreign_issuer_are_refused(serve: ServeFactory,
                                                      tmp_path: Path) -> None:
    async with serve(data_dir=tmp_path / "other") as other:
        foreign_same_url = await other.token("read:projects")  # another server's keys
    async with serve() as gp:
        now = int(time.time())
        claims = {"iss": "https://evil.example", "sub": "c", "client_id": "c", "aud": ISSUER,
                  "iat": now, "exp": now + 600, "jti": "j1", "scope": "read:projects"}
        wrong_iss = gp.runtime.server.keyring.sign(claims)  # our key, someone else's iss
        kid = gp.runtime.server.keyring.kid
        rogue = ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)
        forged = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid},
                            {**claims, "iss": ISSUER}, rogue, algorithms=["ES256"])
        for token in (foreign_same_url, wrong_iss, forged):
            response = await gp.http.get("/api/projects", headers=bearer(token))
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "invalid_token"
            assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_demo_api_off(serve: ServeFactory) -> None:
    async with serve(demo_api=False) as gp:
        assert (await gp.http.get("/api/projects")).status_code == 404
        assert (await gp.http.get(WELL_KNOWN)).status_code == 404
        assert (await gp.http.get("/api/v1/billing/prepaid")).status_code == 200


def test_setting_defaults_to_on(tmp_path: Path) -> None:
    assert dev_settings(tmp_path).demo_api is True
