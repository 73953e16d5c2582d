"""Refresh tokens (RFC 6749 §6; RFC 9700 §4.14.2 and OAuth 2.1 §4.3.1 rotation and reuse
detection; RFC 8707 §2.2), from both sides."""

from __future__ import annotations

from typing import Any

from .conftest import API, SCOPE, Browser


async def _tokens(ac: Browser, **extra: str) -> tuple[str, dict[str, Any]]:
    cid = str((await ac.register())["client_id"])
    code, verifier = await ac.code(cid, **extra)
    resp = await ac.exchange(cid, code, verifier, **extra)
    assert resp.status_code == 200, resp.text
    return cid, resp.json()


async def test_rfc9700_4_14_2_refresh_rotates_on_every_use(ac: Browser) -> None:
    cid, first = await _tokens(ac, resource=API)
    second = await ac.refresh(cid, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    claims = ac.claims(body["access_token"])
    assert ac.owner is not None
    assert (claims["sub"], claims["client_id"], claims["aud"]) == (ac.owner.owner_id, cid, API)
    third = await ac.refresh(cid, body["refresh_token"])
    assert third.status_code == 200


async def test_rfc9700_4_14_2_reuse_of_a_spent_refresh_token_revokes_the_family(
    ac: Browser
) -> None:
    cid, first = await _tokens(ac)
    second = (await ac.refresh(cid, first["refresh_token"])).json()
    reuse = await ac.refresh(cid, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "already used" in reuse.json()["error_description"]
    newest = await ac.refresh(cid, second["refresh_token"])  # the legitimate holder is cut off
    assert newest.json()["error"] == "invalid_grant"
    for token in (first["access_token"], second["access_token"]):
        assert await ac.rt.stores.revocations.is_revoked(ac.claims(token)["jti"])
    await ac.rt.server.audit.flush()
    (revoked,) = await ac.rt.stores.audit.find(cid, "grant.tokens_revoked")
    assert revoked.details["count"] == 2


async def test_rfc6749_6_scope_may_narrow_and_the_family_keeps_its_scope(ac: Browser) -> None:
    cid, first = await _tokens(ac)
    narrow = (await ac.refresh(cid, first["refresh_token"], scope="read:projects")).json()
    assert narrow["scope"] == "read:projects"
    assert ac.claims(narrow["access_token"])["scope"] == "read:projects"
    full = (await ac.refresh(cid, narrow["refresh_token"])).json()
    assert full["scope"] == SCOPE


async def test_rfc6749_6_scope_may_not_widen(ac: Browser) -> None:
    cid = str((await ac.register(scope="read:projects write:projects read:analytics"))["client_id"])
    code, verifier = await ac.code(cid, scope="read:projects")
    first = (await ac.exchange(cid, code, verifier)).json()
    wide = await ac.refresh(cid, first["refresh_token"], scope="read:projects read:analytics")
    assert wide.status_code == 400
    assert wide.json()["error"] == "invalid_scope"
    assert "read:analytics" in wide.json()["error_description"]


async def test_rfc8707_2_2_refresh_may_not_add_a_resource(ac: Browser) -> None:
    cid, first = await _tokens(ac)
    resp = await ac.refresh(cid, first["refresh_token"], resource=API)
    assert resp.json()["error"] == "invalid_target"


async def test_rfc6749_6_refresh_token_is_bound_to_its_client(ac: Browser) -> None:
    cid, first = await _tokens(ac)
    thief = str((await ac.register(client_name="thief"))["client_id"])
    stolen = await ac.refresh(thief, first["refresh_token"])
    assert stolen.json()["error"] == "invalid_grant"
    assert (await ac.refresh(cid, first["refresh_token"])).json()["error"] == "invalid_grant"
    assert await ac.rt.stores.revocations.is_revoked(ac.claims(first["access_token"])["jti"])


async def test_rfc6749_6_expired_unknown_and_missing_refresh_tokens(ac: Browser) -> None:
    cid, first = await _tokens(ac)
    assert (await ac.refresh(cid, "gprt_unknown")).json()["error"] == "invalid_grant"
    missing = await ac.http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                        "client_id": cid})
    assert missing.json()["error"] == "invalid_request"
    ac.clock.advance(30 * 86_400)
    expired = await ac.refresh(cid, first["refresh_token"])
    assert expired.json()["error"] == "invalid_grant"
    assert "expired" in expired.json()["error_description"]


async def test_rfc6749_6_family_expiry_is_absolute(ac: Browser) -> None:
    cid, first = await _tokens(ac)
    ac.clock.advance(29 * 86_400)
    late = (await ac.refresh(cid, first["refresh_token"])).json()
    ac.clock.advance(86_400)
    assert (await ac.refresh(cid, late["refresh_token"])).json()["error"] == "invalid_grant"


async def test_rfc6749_6_client_that_lost_the_grant_type_cannot_refresh(ac: Browser) -> None:
    cid, first = await _tokens(ac)
    client = await ac.rt.stores.clients.get_client(cid)
    assert client is not None
    from dataclasses import replace

    await ac.rt.stores.clients.update_client(replace(client, grant_types=("authorization_code",)))
    ac.rt.server.directory.invalidate(cid)
    resp = await ac.refresh(cid, first["refresh_token"])
    assert resp.json()["error"] == "unauthorized_client"
