"""Refresh tokens at ``/oauth/revoke`` (RFC 7009 §2.1-§2.2) and ``/oauth/introspect`` (RFC 7662
§2.1-§2.2) over HTTP; public clients revoke their own tokens with ``client_id`` alone, and still
cannot introspect. From both sides."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import APP_REDIRECT, SCOPE, Browser

INACTIVE = {"active": False}


async def _public(ac: Browser, **meta: Any) -> tuple[str, dict[str, Any]]:
    """A registered public client and the tokens of one approved grant."""
    cid = str((await ac.register(**meta))["client_id"])
    code, verifier = await ac.code(cid)
    resp = await ac.exchange(cid, code, verifier)
    assert resp.status_code == 200, resp.text
    return cid, resp.json()


async def _confidential(ac: Browser) -> tuple[tuple[str, str], dict[str, Any]]:
    """A registered ``client_secret_basic`` client and the tokens of one approved grant."""
    doc = await ac.register(token_endpoint_auth_method="client_secret_basic",
                            redirect_uris=[APP_REDIRECT])
    auth = (str(doc["client_id"]), str(doc["client_secret"]))
    code, verifier = await ac.code(auth[0], APP_REDIRECT)
    resp = await ac.exchange(auth[0], code, verifier, APP_REDIRECT, auth=auth)
    assert resp.status_code == 200, resp.text
    return auth, resp.json()


async def _resource_server(ac: Browser) -> tuple[str, str]:
    created = await ac.rt.admin.create_client("rs", "gatepass:introspect", operator=True)
    assert created.secret is not None
    return created.client.client_id, created.secret


async def _revoke(ac: Browser, token: str, *, client_id: str | None = None,
                  auth: tuple[str, str] | None = None, **form: str) -> httpx.Response:
    data = {"token": token, **({"client_id": client_id} if client_id else {}), **form}
    return await ac.http.post("/oauth/revoke", data=data, auth=auth)


async def _introspect(ac: Browser, token: str, *, client_id: str | None = None,
                      auth: tuple[str, str] | None = None, **form: str) -> httpx.Response:
    data = {"token": token, **({"client_id": client_id} if client_id else {}), **form}
    return await ac.http.post("/oauth/introspect", data=data, auth=auth)


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
async def test_rfc7009_2_1_public_client_revokes_its_refresh_token_with_client_id_only(
    ac: Browser, hint: str | None
) -> None:
    cid, tokens = await _public(ac)
    rs = await _resource_server(ac)
    resp = await _revoke(ac, tokens["refresh_token"], client_id=cid,
                         **({"token_type_hint": hint} if hint else {}))
    assert resp.status_code == 200 and resp.json() == {}
    assert resp.headers["cache-control"] == "no-store"
    again = await ac.refresh(cid, tokens["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (await _introspect(ac, tokens["access_token"], auth=rs)).json() == INACTIVE
    assert (await _revoke(ac, tokens["refresh_token"], client_id=cid)).status_code == 200


async def test_rfc7009_2_1_public_client_revokes_its_access_token(ac: Browser) -> None:
    cid, tokens = await _public(ac)
    rs = await _resource_server(ac)
    resp = await _revoke(ac, tokens["access_token"], client_id=cid)
    assert resp.status_code == 200
    assert (await _introspect(ac, tokens["access_token"], auth=rs)).json() == INACTIVE
    assert (await ac.refresh(cid, tokens["refresh_token"])).status_code == 200


async def test_rfc7009_2_1_public_client_cannot_revoke_another_clients_tokens(
    ac: Browser,
) -> None:
    victim, tokens = await _public(ac)
    thief = str((await ac.register(client_name="thief"))["client_id"])
    for token in (tokens["refresh_token"], tokens["access_token"]):
        resp = await _revoke(ac, token, client_id=thief, token_type_hint="refresh_token")
        assert resp.status_code == 400
        assert resp.json()["error"] == "unauthorized_client"
    assert (await ac.refresh(victim, tokens["refresh_token"])).status_code == 200


async def test_rfc7009_2_1_another_confidential_client_gets_unauthorized_client(
    ac: Browser,
) -> None:
    owner_auth, tokens = await _confidential(ac)
    other_auth, _ = await _confidential(ac)
    resp = await _revoke(ac, tokens["refresh_token"], auth=other_auth)
    assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"
    active = await _introspect(ac, tokens["refresh_token"], auth=owner_auth)
    assert active.json()["active"] is True


async def test_rfc7009_2_1_client_id_alone_is_refused_for_unknown_and_confidential_clients(
    ac: Browser,
) -> None:
    (cid, _), tokens = await _confidential(ac)
    for claimed in (cid, "client_unknown"):
        resp = await _revoke(ac, tokens["refresh_token"], client_id=claimed)
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    assert (await _revoke(ac, tokens["refresh_token"])).status_code == 401  # no client at all


async def test_rfc7009_2_2_unknown_refresh_token_is_200(ac: Browser) -> None:
    cid, tokens = await _public(ac)
    for hint in ("refresh_token", "access_token"):
        resp = await _revoke(ac, "gprt_unknown", client_id=cid, token_type_hint=hint)
        assert resp.status_code == 200 and resp.json() == {}
    assert (await ac.refresh(cid, tokens["refresh_token"])).status_code == 200


@pytest.mark.parametrize("hint", [None, "refresh_token"])
async def test_rfc7662_2_1_public_client_cannot_introspect(ac: Browser, hint: str | None) -> None:
    cid, tokens = await _public(ac)
    for token in (tokens["refresh_token"], tokens["access_token"]):
        resp = await _introspect(ac, token, client_id=cid,
                                 **({"token_type_hint": hint} if hint else {}))
        assert resp.status_code == 401
        assert resp.json()["error"] == "invalid_client" and "active" not in resp.json()


async def test_rfc7662_2_2_refresh_token_active_then_used_then_revoked(ac: Browser) -> None:
    auth, first = await _confidential(ac)
    now = ac.clock.now()
    answer = await _introspect(ac, first["refresh_token"], auth=auth)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert ac.owner is not None
    assert answer.json() == {"active": True, "token_type": "refresh_token",
                             "client_id": auth[0], "scope": SCOPE, "sub": ac.owner.owner_id,
                             "exp": int(now + 30 * 86_400), "iat": int(now)}
    second = await ac.http.post("/oauth/token", auth=auth, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    latest = second.json()
    assert (await _introspect(ac, first["refresh_token"], auth=auth)).json() == INACTIVE  # used
    assert (await _introspect(ac, latest["refresh_token"], auth=auth)).json()["active"] is True
    revoked = await _revoke(ac, latest["refresh_token"], auth=auth, token_type_hint="access_token")
    assert revoked.status_code == 200
    for token in (latest["refresh_token"], latest["access_token"], first["access_token"]):
        assert (await _introspect(ac, token, auth=auth)).json() == INACTIVE


async def test_rfc7662_2_2_expired_refresh_token_is_inactive(ac: Browser) -> None:
    auth, tokens = await _confidential(ac)
    ac.clock.advance(30 * 86_400)
    resp = await _introspect(ac, tokens["refresh_token"], auth=auth,
                             token_type_hint="refresh_token")
    assert resp.json() == INACTIVE
