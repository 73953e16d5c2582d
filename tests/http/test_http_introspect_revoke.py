"""POST /oauth/introspect (RFC 7662) and POST /oauth/revoke (RFC 7009) over HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

from gp_http_kit import ISSUER, Served, basic, unverified_claims

from gatepass.storage.memory import open_memory_stores
from gp_doubles import FailingStore

INACTIVE = {"active": False}


async def introspect(s: Served, auth: tuple[str, str] | None, token: str) -> Any:
    return await s.post("/oauth/introspect", {"token": token}, auth=auth)


async def revoke(s: Served, auth: tuple[str, str] | None, token: str, **form: str) -> Any:
    return await s.post("/oauth/revoke", {"token": token, **form}, auth=auth)


# --- RFC 7662 --------------------------------------------------------------------------------


async def test_rfc7662_s2_2_active_token_full_claims_no_store(served: Served) -> None:
    cid, secret = await served.secret_client()
    token = await served.access_token(cid, secret, scope="read:projects")
    resp = await introspect(served, (cid, secret), token)
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    claims = unverified_claims(token)
    assert resp.json() == {"active": True, "token_type": "Bearer", **claims}
    assert claims["iss"] == ISSUER and claims["scope"] == "read:projects"


async def test_rfc7662_s2_1_unauthenticated_caller_is_401(served: Served) -> None:
    cid, secret = await served.secret_client()
    token = await served.access_token(cid, secret)
    for auth in (None, (cid, "gps_wrong"), ("client_unknown", secret)):
        resp = await introspect(served, auth, token)
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == 'Basic realm="gatepass"'
        assert resp.json()["error"] == "invalid_client"
        assert "active" not in resp.json()


async def test_rfc7662_s2_2_inactive_answers_say_only_active_false(served: Served) -> None:
    a, secret_a = await served.secret_client()
    b, secret_b = await served.secret_client()
    token = await served.access_token(a, secret_a)
    revoked = await served.access_token(a, secret_a)
    assert (await revoke(served, (a, secret_a), revoked)).status_code == 200
    cases = [
        ((b, secret_b), token),          # another client's token
        ((a, secret_a), revoked),        # revoked
        ((a, secret_a), "garbage"),      # garbage
        ((a, secret_a), token + "x"),    # broken signature
    ]
    for auth, tok in cases:
        resp = await introspect(served, auth, tok)
        assert resp.status_code == 200 and resp.json() == INACTIVE, tok
        assert resp.headers["cache-control"] == "no-store"
    served.clock.advance(3600)
    assert (await introspect(served, (a, secret_a), token)).json() == INACTIVE  # expired


async def test_rfc7662_s4_introspect_scope_caller_sees_other_clients_tokens(
    served: Served,
) -> None:
    a, secret_a = await served.secret_client()
    rs, secret_rs = await served.secret_client("gatepass:introspect", operator=True)
    token = await served.access_token(a, secret_a)
    resp = await introspect(served, (rs, secret_rs), token)
    assert resp.json()["active"] is True and resp.json()["client_id"] == a


async def test_rfc7662_s2_1_missing_token_is_invalid_request(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.post("/oauth/introspect", {"token_type_hint": "access_token"},
                             auth=(cid, secret))
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_request", "error_description": "token is required"}


# --- RFC 7009 --------------------------------------------------------------------------------


async def test_rfc7009_s2_2_revocation_answers_200_and_token_goes_inactive(served: Served) -> None:
    cid, secret = await served.secret_client()
    token = await served.access_token(cid, secret)
    resp = await revoke(served, (cid, secret), token, token_type_hint="access_token")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert resp.json() == {}
    assert (await introspect(served, (cid, secret), token)).json() == INACTIVE
    rs_id, rs_secret = await served.secret_client("gatepass:introspect")
    feed = await served.client.get("/oauth/revocations",
                                   headers={"Authorization": basic(rs_id, rs_secret)})
    assert {"jti": unverified_claims(token)["jti"],
            "exp": unverified_claims(token)["exp"]} in feed.json()["revoked"]


async def test_rfc7009_s2_2_unknown_token_is_200(served: Served) -> None:
    cid, secret = await served.secret_client()
    for tok in ("unknown", "a.b.c"):
        resp = await revoke(served, (cid, secret), tok)
        assert resp.status_code == 200 and resp.json() == {}


async def test_rfc7009_s2_1_other_client_gets_unauthorized_client(served: Served) -> None:
    a, secret_a = await served.secret_client()
    b, secret_b = await served.secret_client()
    token = await served.access_token(a, secret_a)
    resp = await revoke(served, (b, secret_b), token)
    assert resp.status_code == 400
    assert resp.json() == {"error": "unauthorized_client",
                           "error_description": "The token was not issued to this client"}
    assert resp.headers["cache-control"] == "no-store"
    assert (await introspect(served, (a, secret_a), token)).json()["active"] is True


async def test_rfc7009_s2_1_revocation_requires_client_authentication(served: Served) -> None:
    cid, secret = await served.secret_client()
    token = await served.access_token(cid, secret)
    resp = await revoke(served, None, token)
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    assert resp.headers["www-authenticate"] == 'Basic realm="gatepass"'
    assert (await introspect(served, (cid, secret), token)).json()["active"] is True


async def test_rfc7009_s2_2_1_storage_failure_is_503_temporarily_unavailable(
    serve: Any, clock: Any
) -> None:
    base = open_memory_stores(clock)
    down = FailingStore(base.revocations, "revoke")
    async with serve(stores=dataclasses.replace(base, revocations=down)) as s:
        cid, secret = await s.secret_client()
        token = await s.access_token(cid, secret)
        down.fail = True
        resp = await revoke(s, (cid, secret), token)
        assert resp.status_code == 503
        assert resp.json() == {"error": "temporarily_unavailable",
                               "error_description": "Storage is unavailable; retry later"}
        assert resp.headers["retry-after"] == "5"
        assert resp.headers["cache-control"] == "no-store"
        down.fail = False
        assert (await introspect(s, (cid, secret), token)).json()["active"] is True
        assert (await revoke(s, (cid, secret), token)).status_code == 200
        assert (await introspect(s, (cid, secret), token)).json() == INACTIVE
