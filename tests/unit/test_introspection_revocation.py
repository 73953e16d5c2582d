"""RFC 7662 introspection and RFC 7009 revocation in the core."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from joserfc import jwt

from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError
from gatepass.keys import generate_key
from gatepass.storage.base import StorageError
from gatepass.storage.memory import open_memory_stores
from gp_doubles import FailingStore

from .conftest import ISSUER, Harness, HarnessFactory, assert_oauth_error, basic, unverified_parts

INACTIVE = {"active": False}


async def introspect(h: Harness, cid: str, secret: str, token: str | None,
                     **form: str) -> dict[str, Any]:
    fields = dict(form) if token is None else {"token": token, **form}
    return await h.server.introspect(OAuthRequest(form=fields, authorization=basic(cid, secret)))


async def revoke(h: Harness, cid: str, secret: str, token: str | None, **form: str) -> None:
    fields = dict(form) if token is None else {"token": token, **form}
    await h.server.revoke(OAuthRequest(form=fields, authorization=basic(cid, secret)))


# --- RFC 7662 --------------------------------------------------------------------------------


async def test_rfc7662_s2_2_own_active_token_returns_full_claim_set(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret, scope="read:projects")
    now = int(h.clock.now())
    answer = await introspect(h, cid, secret, token)
    jti = unverified_parts(token)[1]["jti"]
    assert answer == {"active": True, "token_type": "Bearer", "iss": ISSUER, "sub": cid,
                      "aud": ISSUER, "exp": now + 3600, "iat": now, "jti": jti,
                      "client_id": cid, "scope": "read:projects"}


async def test_rfc7662_s2_2_agent_claims_are_included(h: Harness) -> None:
    cid, secret = await h.secret_client(agent_type="tool", owner="o-1")
    answer = await introspect(h, cid, secret, await h.token_for(cid, secret))
    assert answer["agent_type"] == "tool" and answer["owner"] == "o-1"


async def test_rfc7662_s2_1_introspection_requires_client_authentication(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    with pytest.raises(OAuthError) as info:
        await h.server.introspect(OAuthRequest(form={"token": token}))
    assert_oauth_error(info.value, "invalid_client", 401)
    with pytest.raises(OAuthError) as info:
        await introspect(h, cid, secret + "x", token)
    assert_oauth_error(info.value, "invalid_client", 401, "Client authentication failed")


async def test_rfc7662_s2_1_token_parameter_is_required(h: Harness) -> None:
    cid, secret = await h.secret_client()
    with pytest.raises(OAuthError) as info:
        await introspect(h, cid, secret, None)
    assert_oauth_error(info.value, "invalid_request", 400, "token is required")


async def test_rfc7662_s2_2_expired_token_is_inactive(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    h.clock.advance(3599)
    assert (await introspect(h, cid, secret, token))["active"] is True
    h.clock.advance(1)
    assert await introspect(h, cid, secret, token) == INACTIVE


async def test_rfc7662_s2_2_revoked_token_is_inactive(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    await revoke(h, cid, secret, token)
    assert await introspect(h, cid, secret, token) == INACTIVE


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 5000,
                                     "é.ü.ß"])
async def test_rfc7662_s2_2_garbage_token_is_inactive(h: Harness, garbage: str) -> None:
    cid, secret = await h.secret_client()
    assert await introspect(h, cid, secret, garbage) == INACTIVE


async def test_rfc7662_s2_2_token_signed_by_unknown_key_is_inactive(h: Harness) -> None:
    cid, secret = await h.secret_client()
    real = unverified_parts(await h.token_for(cid, secret))
    stranger = generate_key("ES256", kid=real[0]["kid"])
    forged = jwt.encode(real[0], real[1], stranger, algorithms=["ES256"])
    assert await introspect(h, cid, secret, forged) == INACTIVE


async def test_rfc9068_s4_our_key_without_at_jwt_typ_is_inactive(h: Harness) -> None:
    """A JWT we signed that is not an access token (typ other than at+jwt) is never active."""
    cid, secret = await h.secret_client()
    header, claims = unverified_parts(await h.token_for(cid, secret))
    [key] = await h.rt.stores.keys.list_keys()
    from joserfc.jwk import ECKey

    private = ECKey.import_key(h.server.sealer.unseal(key.private_jwk_encrypted))
    other = jwt.encode({**header, "typ": "JWT"}, claims, private, algorithms=["ES256"])
    assert await introspect(h, cid, secret, other) == INACTIVE
    same = jwt.encode(header, claims, private, algorithms=["ES256"])
    assert (await introspect(h, cid, secret, same))["active"] is True


async def test_rfc7662_s4_another_clients_token_is_inactive(h: Harness) -> None:
    a, secret_a = await h.secret_client()
    b, secret_b = await h.secret_client()
    token = await h.token_for(a, secret_a)
    assert await introspect(h, b, secret_b, token) == INACTIVE


async def test_rfc7662_s4_introspect_scope_sees_any_token(h: Harness) -> None:
    a, secret_a = await h.secret_client()
    rs, secret_rs = await h.secret_client("gatepass:introspect", operator=True)
    token = await h.token_for(a, secret_a)
    answer = await introspect(h, rs, secret_rs, token)
    assert answer["active"] is True and answer["client_id"] == a
    await revoke(h, a, secret_a, token)
    assert await introspect(h, rs, secret_rs, token) == INACTIVE


async def test_rfc7662_s2_1_token_type_hint_only_orders_the_lookups(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    for hint in ("access_token", "refresh_token", "whatever"):
        answer = await introspect(h, cid, secret, token, token_type_hint=hint)
        assert answer["active"] is True


# --- RFC 7009 --------------------------------------------------------------------------------


async def test_rfc7009_s2_1_client_revokes_its_own_token(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    jti = unverified_parts(token)[1]["jti"]
    await revoke(h, cid, secret, token)
    assert await h.rt.stores.revocations.is_revoked(jti)
    [event] = h.find("token.revoked")
    assert event.client_id == cid and event.details["jti"] == jti
    await revoke(h, cid, secret, token)  # idempotent


async def test_rfc7009_s2_1_other_client_may_not_revoke(h: Harness) -> None:
    a, secret_a = await h.secret_client()
    b, secret_b = await h.secret_client()
    token = await h.token_for(a, secret_a)
    with pytest.raises(OAuthError) as info:
        await revoke(h, b, secret_b, token)
    assert_oauth_error(info.value, "unauthorized_client", 400,
                       "The token was not issued to this client")
    assert (await introspect(h, a, secret_a, token))["active"] is True
    [event] = h.find("token.revoke_refused")
    assert event.client_id == b and event.outcome == "failure"


async def test_rfc7009_s2_1_introspect_scope_does_not_grant_revocation(h: Harness) -> None:
    a, secret_a = await h.secret_client()
    rs, secret_rs = await h.secret_client("gatepass:introspect", operator=True)
    token = await h.token_for(a, secret_a)
    with pytest.raises(OAuthError) as info:
        await revoke(h, rs, secret_rs, token)
    assert_oauth_error(info.value, "unauthorized_client", 400)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
async def test_rfc7009_s2_2_unknown_token_is_not_an_error(h: Harness, token: str) -> None:
    cid, secret = await h.secret_client()
    await revoke(h, cid, secret, token)
    assert h.find("token.revoked") == []


async def test_rfc7009_s2_2_expired_token_needs_no_revocation(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    h.clock.advance(3600)
    await revoke(h, cid, secret, token)
    assert await h.rt.stores.revocations.revoked_since(0) == []


async def test_rfc7009_s2_1_revocation_requires_client_authentication(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    with pytest.raises(OAuthError) as info:
        await h.server.revoke(OAuthRequest(form={"token": token}))
    assert_oauth_error(info.value, "invalid_client", 401)
    with pytest.raises(OAuthError) as info:
        await revoke(h, cid, "gps_wrong", token)
    assert_oauth_error(info.value, "invalid_client", 401)
    assert (await introspect(h, cid, secret, token))["active"] is True


async def test_rfc7009_s2_1_token_parameter_is_required(h: Harness) -> None:
    cid, secret = await h.secret_client()
    with pytest.raises(OAuthError) as info:
        await revoke(h, cid, secret, None, token_type_hint="access_token")
    assert_oauth_error(info.value, "invalid_request", 400, "token is required")


async def test_rfc7009_s2_1_revocation_entry_expires_with_the_token(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    exp = unverified_parts(token)[1]["exp"]
    await revoke(h, cid, secret, token)
    assert await h.rt.stores.revocations.revoked_since(0) == [
        (unverified_parts(token)[1]["jti"], exp)]


async def test_rfc7009_s2_2_1_storage_failure_is_raised_not_silently_ok(
    make_harness: HarnessFactory, clock: Any
) -> None:
    base = open_memory_stores(clock)
    failing = FailingStore(base.revocations, "revoke", "is_revoked", "token_revoked")
    async with make_harness(stores=dataclasses.replace(base, revocations=failing)) as h:
        cid, secret = await h.secret_client()
        token = await h.token_for(cid, secret)
        failing.fail = True
        with pytest.raises(StorageError):
            await revoke(h, cid, secret, token)
        with pytest.raises(StorageError):  # introspection never says active on a failure
            await introspect(h, cid, secret, token)
        assert h.find("token.revoked") == []
        failing.fail = False
        assert (await introspect(h, cid, secret, token))["active"] is True


# --- public clients (method none) stay out of introspection (RFC 7662 §2.1) ---------------


async def _public_client_token(h: Harness) -> tuple[str, str]:
    from gatepass.models import Client

    client = Client(client_id="public-app", name="spa", created_at=h.clock.now(),
                    allowed_scopes=("read:projects",), token_endpoint_auth_method="none",
                    grant_types=("authorization_code", "refresh_token"))
    await h.rt.stores.clients.create_client(client)
    issued = h.server.issuer.issue(client, ("read:projects",), [ISSUER])
    return client.client_id, issued.access_token


@pytest.mark.parametrize("grant_type", [None, "refresh_token", "authorization_code"])
async def test_rfc7662_s2_1_public_client_cannot_introspect_without_credentials(
    h: Harness, grant_type: str | None
) -> None:
    cid, token = await _public_client_token(h)
    form = {"token": token, "client_id": cid}
    if grant_type:
        form["grant_type"] = grant_type  # a token-endpoint parameter smuggled in
    with pytest.raises(OAuthError) as info:
        await h.server.introspect(OAuthRequest(form=form))
    assert_oauth_error(info.value, "invalid_client", 401)
