"""Exchanging the code (RFC 6749 §4.1.3-§4.1.4, §4.1.2 replay; RFC 7636 §4.5-§4.6; RFC 8707
§2.2; RFC 9068 §2.2 ``sub``/``client_id``), from both sides."""

from __future__ import annotations

from dataclasses import replace

import pytest

from .conftest import API, ISSUER, SCOPE, Browser, pkce


async def _issued(ac: Browser, cid: str) -> list[dict[str, object]]:
    await ac.rt.server.audit.flush()
    return [dict(e.details) for e in await ac.rt.stores.audit.find(cid, "token.issued")]


async def test_rfc9068_2_2_token_names_owner_as_sub_and_agent_as_client_id(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid, resource=API)
    resp = await ac.exchange(cid, code, verifier, resource=API)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == SCOPE
    assert body["refresh_token"].startswith("gprt_")
    claims = ac.claims(body["access_token"])
    assert ac.owner is not None
    assert claims["sub"] == ac.owner.owner_id
    assert claims["client_id"] == cid
    assert claims["aud"] == API  # RFC 8707
    assert claims["iss"] == ISSUER
    assert claims["scope"] == SCOPE
    (event,) = await _issued(ac, cid)
    assert str(event["grant_id"]).startswith("grt_")
    assert event["grant_type"] == "authorization_code"


async def test_rfc8707_2_without_resource_the_default_audience(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid)
    resp = await ac.exchange(cid, code, verifier)
    assert ac.claims(resp.json()["access_token"])["aud"] == ISSUER


async def test_rfc8707_2_2_token_request_may_not_add_a_resource(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid)
    resp = await ac.exchange(cid, code, verifier, resource=API)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_target"


@pytest.mark.parametrize("verifier", [None, "", "x" * 42, "wrong-" + "v" * 60, "v" * 129])
async def test_rfc7636_4_6_missing_or_wrong_verifier_is_invalid_grant(
    ac: Browser, verifier: str | None
) -> None:
    cid = (await ac.register())["client_id"]
    code, _ = await ac.code(cid)
    resp = await ac.exchange(cid, code, verifier)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"
    assert "code_verifier" in resp.json()["error_description"]


async def test_rfc7636_4_6_verifier_of_another_request_is_invalid_grant(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    code, _ = await ac.code(cid)
    other, _ = pkce()
    assert (await ac.exchange(cid, code, other)).json()["error"] == "invalid_grant"


async def test_rfc6749_4_1_3_redirect_uri_must_equal_the_authorization_requests(
    ac: Browser
) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid, "http://127.0.0.1:5000/callback")
    resp = await ac.exchange(cid, code, verifier, "http://127.0.0.1:5001/callback")
    assert resp.json()["error"] == "invalid_grant"
    assert "redirect_uri" in resp.json()["error_description"]


async def test_rfc6749_4_1_3_code_of_another_client_is_invalid_grant(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    other = (await ac.register(client_name="other"))["client_id"]
    code, verifier = await ac.code(cid)
    resp = await ac.exchange(other, code, verifier)
    assert resp.json()["error"] == "invalid_grant"
    assert "another client" in resp.json()["error_description"]


async def test_rfc6749_4_1_2_code_expires_after_60_seconds(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid)
    ac.clock.advance(60)
    resp = await ac.exchange(cid, code, verifier)
    assert resp.json()["error"] == "invalid_grant"
    assert "expired" in resp.json()["error_description"]


async def test_rfc6749_4_1_2_code_just_within_its_lifetime_works(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid)
    ac.clock.advance(59)
    assert (await ac.exchange(cid, code, verifier)).status_code == 200


async def test_rfc6749_4_1_3_unknown_code_and_missing_parameters(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    verifier, _ = pkce()
    unknown = await ac.exchange(cid, "not-a-code", verifier)
    assert unknown.json()["error"] == "invalid_grant"
    missing = await ac.http.post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": cid, "code_verifier": verifier})
    assert missing.json()["error"] == "invalid_request"


async def test_rfc6749_4_1_2_replayed_code_is_refused_and_revokes_what_it_issued(
    ac: Browser
) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid)
    first = (await ac.exchange(cid, code, verifier)).json()
    refreshed = (await ac.refresh(cid, first["refresh_token"])).json()
    replay = await ac.exchange(cid, code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert "already used" in replay.json()["error_description"]
    revocations = ac.rt.stores.revocations
    for token in (first["access_token"], refreshed["access_token"]):
        assert await revocations.is_revoked(ac.claims(token)["jti"])
    again = await ac.refresh(cid, refreshed["refresh_token"])
    assert again.json()["error"] == "invalid_grant"
    introspected = await _introspect(ac, first["access_token"])
    assert introspected == {"active": False}


async def _introspect(ac: Browser, token: str) -> dict[str, object]:
    created = await ac.rt.admin.create_client("rs", "read:projects")
    assert created.secret is not None
    resp = await ac.http.post("/oauth/introspect", data={"token": token},
                              auth=(created.client.client_id, created.secret))
    body: dict[str, object] = resp.json()
    return body


async def test_rfc6749_4_1_2_replay_by_another_client_also_revokes(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    thief = (await ac.register(client_name="thief"))["client_id"]
    code, verifier = await ac.code(cid)
    first = (await ac.exchange(cid, code, verifier)).json()
    assert (await ac.exchange(thief, code, verifier)).json()["error"] == "invalid_grant"
    assert await ac.rt.stores.revocations.is_revoked(ac.claims(first["access_token"])["jti"])


async def test_rfc6749_2_3_confidential_client_must_authenticate(ac: Browser) -> None:
    doc = await ac.register(token_endpoint_auth_method="client_secret_basic")
    cid, secret = doc["client_id"], doc["client_secret"]
    code, verifier = await ac.code(cid)
    anonymous = await ac.exchange(cid, code, verifier)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    code, verifier = await ac.code(cid)
    ok = await ac.exchange(cid, code, verifier, auth=(cid, secret))
    assert ok.status_code == 200, ok.text
    assert ac.claims(ok.json()["access_token"])["client_id"] == cid


async def test_oauth21_2_4_public_client_cannot_use_client_credentials(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    for form in ({"grant_type": "client_credentials", "client_id": cid},
                 {"client_id": cid, "token": "x"}):
        resp = await ac.http.post("/oauth/token", data=form)
        assert resp.status_code == 401
        assert resp.json()["error"] == "invalid_client"
    introspect = await ac.http.post("/oauth/introspect", data={"client_id": cid, "token": "x"})
    assert introspect.status_code == 401


async def test_rfc6749_4_1_3_unknown_public_client_is_invalid_client(ac: Browser) -> None:
    verifier, _ = pkce()
    resp = await ac.exchange("agent_unknown", "code", verifier)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


async def test_rfc6749_4_1_3_disabled_owner_gets_no_token(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid)
    assert ac.owner is not None
    await ac.rt.stores.owners.update_owner(replace(ac.owner, disabled=True))
    resp = await ac.exchange(cid, code, verifier)
    assert resp.json()["error"] == "invalid_grant"
    assert "owner" in resp.json()["error_description"]


async def test_rfc6749_4_1_3_suspended_client_gets_no_token(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    code, verifier = await ac.code(cid)
    await ac.rt.admin.suspend(cid, actor="test")
    resp = await ac.exchange(cid, code, verifier)
    assert resp.status_code == 401


async def test_rfc6749_4_1_client_without_refresh_grant_gets_no_refresh_token(
    ac: Browser
) -> None:
    cid = (await ac.register(grant_types=["authorization_code"]))["client_id"]
    code, verifier = await ac.code(cid)
    body = (await ac.exchange(cid, code, verifier)).json()
    assert "refresh_token" not in body
    assert ac.claims(body["access_token"])["sub"] != cid
