"""Refresh tokens at the revocation (RFC 7009 §2.1-§2.2) and introspection (RFC 7662 §2.1-§2.2)
endpoints, and public clients (method ``none``) revoking their own tokens, in the core."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import pytest

from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError
from gatepass.models import AuthorizationCode, Client, Owner
from gatepass.storage.base import StorageError
from gatepass.storage.memory import open_memory_stores
from gp_doubles import FailingStore

from .conftest import Harness, HarnessFactory, assert_oauth_error, b64url, basic, unverified_parts

INACTIVE = {"active": False}
REDIRECT = "https://app.example.com/cb"
VERIFIER = "v" * 43
CHALLENGE = b64url(hashlib.sha256(VERIFIER.encode()).digest())
OWNER = "own-1"
REFRESH_TTL = 30 * 86_400
HINTS = [None, "refresh_token", "access_token", "unknown_hint"]


@dataclass(frozen=True)
class Caller:
    """A client as it calls the endpoints: with a secret (Basic), or public (client_id only)."""

    cid: str
    secret: str | None = None

    def request(self, **form: str) -> OAuthRequest:
        if self.secret is None:
            return OAuthRequest(form={"client_id": self.cid, **form})
        return OAuthRequest(form=form, authorization=basic(self.cid, self.secret))


async def confidential(h: Harness, scopes: str = "read:projects") -> Caller:
    cid, secret = await h.secret_client(
        scopes, grant_types=("client_credentials", "authorization_code", "refresh_token"))
    return Caller(cid, secret)


async def public(h: Harness) -> Caller:
    client = Client(client_id="public-" + secrets.token_hex(4), name="spa",
                    created_at=h.clock.now(), allowed_scopes=("read:projects",),
                    token_endpoint_auth_method="none",
                    grant_types=("authorization_code", "refresh_token"))
    await h.rt.stores.clients.create_client(client)
    return Caller(client.client_id)


async def code_grant(h: Harness, caller: Caller) -> dict[str, Any]:
    """The token response of an authorization code grant the owner approved for ``caller``."""
    if await h.rt.stores.owners.get_owner(OWNER) is None:
        await h.rt.stores.owners.create_owner(
            Owner(OWNER, "owner@example.com", "not-a-hash", h.clock.now()))
    code, now = secrets.token_urlsafe(16), h.clock.now()
    await h.rt.stores.grants.add_code(AuthorizationCode(
        code_digest=h.server.hasher.digest(code), grant_id="grt_" + secrets.token_hex(8),
        client_id=caller.cid, owner_id=OWNER, redirect_uri=REDIRECT, scopes=("read:projects",),
        code_challenge=CHALLENGE, created_at=now, expires_at=now + 60))
    return await h.server.token(caller.request(
        grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
        code_verifier=VERIFIER))


async def refresh(h: Harness, caller: Caller, token: str) -> dict[str, Any]:
    return await h.server.token(caller.request(grant_type="refresh_token", refresh_token=token))


async def revoke(h: Harness, caller: Caller, token: str, hint: str | None = None) -> None:
    form = {"token": token, **({"token_type_hint": hint} if hint else {})}
    await h.server.revoke(caller.request(**form))


async def introspect(h: Harness, caller: Caller, token: str,
                     hint: str | None = None) -> dict[str, Any]:
    form = {"token": token, **({"token_type_hint": hint} if hint else {})}
    return await h.server.introspect(caller.request(**form))


async def refused(call: Any) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        await call
    return info.value


def jti(access_token: str) -> str:
    return str(unverified_parts(access_token)[1]["jti"])


# --- RFC 7009 §2.1: revoking a refresh token ---------------------------------------------------


@pytest.mark.parametrize("hint", HINTS)
async def test_rfc7009_s2_1_revoking_a_refresh_token_revokes_its_grant(
    h: Harness, hint: str | None
) -> None:
    a = await confidential(h)
    first = await code_grant(h, a)
    second = await refresh(h, a, first["refresh_token"])
    await revoke(h, a, second["refresh_token"], hint)

    exc = await refused(refresh(h, a, second["refresh_token"]))
    assert_oauth_error(exc, "invalid_grant", 400, "This refresh token's grant was revoked")
    for access in (first["access_token"], second["access_token"]):
        assert await introspect(h, a, access) == INACTIVE  # §2.1 MAY: the grant's access tokens
        assert await h.rt.stores.revocations.is_revoked(jti(access))
    [event] = h.find("token.revoked")
    grant_id = event.details["grant_id"]
    assert event.client_id == a.cid and grant_id.startswith("grt_")
    assert event.details == {"token_type": "refresh_token", "grant_id": grant_id}
    [tokens] = h.find("grant.tokens_revoked")
    assert tokens.details == {"grant_id": grant_id, "count": 2} and tokens.actor == a.cid
    assert [e.details["grant_id"] for e in h.find("grant.revoked")] == [grant_id]


async def test_rfc7009_s2_1_revocation_touches_only_that_grant(h: Harness) -> None:
    a = await confidential(h)
    revoked, kept = await code_grant(h, a), await code_grant(h, a)
    await revoke(h, a, revoked["refresh_token"])
    assert (await introspect(h, a, kept["access_token"]))["active"] is True
    assert (await refresh(h, a, kept["refresh_token"]))["access_token"]


async def test_rfc7009_s2_1_a_spent_refresh_token_still_revokes_its_grant(h: Harness) -> None:
    """A rotated-away token still names its grant: revoking it ends the grant (and, unlike a
    replay at the token endpoint, is no reuse alarm)."""
    a = await confidential(h)
    first = await code_grant(h, a)
    second = await refresh(h, a, first["refresh_token"])
    await revoke(h, a, first["refresh_token"], "refresh_token")
    exc = await refused(refresh(h, a, second["refresh_token"]))
    assert_oauth_error(exc, "invalid_grant", 400, "This refresh token's grant was revoked")
    assert await introspect(h, a, second["access_token"]) == INACTIVE


@pytest.mark.parametrize("hint", HINTS)
async def test_rfc7009_s2_1_access_token_is_revoked_whatever_the_hint(
    h: Harness, hint: str | None
) -> None:
    a = await confidential(h)
    tokens = await code_grant(h, a)
    await revoke(h, a, tokens["access_token"], hint)
    assert await introspect(h, a, tokens["access_token"]) == INACTIVE
    [event] = h.find("token.revoked")
    assert event.details == {"token_type": "access_token", "jti": jti(tokens["access_token"])}
    assert (await refresh(h, a, tokens["refresh_token"]))["access_token"]  # the grant lives on


@pytest.mark.parametrize("hint", HINTS)
async def test_rfc7009_s2_1_another_clients_refresh_token_is_unauthorized_client(
    h: Harness, hint: str | None
) -> None:
    a, b = await confidential(h), await confidential(h)
    tokens = await code_grant(h, a)
    exc = await refused(revoke(h, b, tokens["refresh_token"], hint))
    assert_oauth_error(exc, "unauthorized_client", 400, "The token was not issued to this client")
    [event] = h.find("token.revoke_refused")
    assert event.client_id == b.cid and event.outcome == "failure"
    assert h.find("token.revoked") == [] and h.find("grant.revoked") == []
    assert (await introspect(h, a, tokens["access_token"]))["active"] is True
    assert (await refresh(h, a, tokens["refresh_token"]))["access_token"]


@pytest.mark.parametrize("hint", HINTS)
@pytest.mark.parametrize("token", ["gprt_unknown", "garbage", "a.b.c"])
async def test_rfc7009_s2_2_unknown_refresh_token_is_200_and_revokes_nothing(
    h: Harness, token: str, hint: str | None
) -> None:
    a = await confidential(h)
    tokens = await code_grant(h, a)
    await revoke(h, a, token, hint)
    assert h.find("token.revoked") == []
    assert (await refresh(h, a, tokens["refresh_token"]))["access_token"]


async def test_rfc7009_s2_2_an_expired_refresh_token_still_revokes_live_access_tokens(
    h: Harness,
) -> None:
    a = await confidential(h)
    first = await code_grant(h, a)
    h.clock.advance(REFRESH_TTL - 60)
    last = await refresh(h, a, first["refresh_token"])  # its access token outlives the family
    h.clock.advance(60)
    await revoke(h, a, last["refresh_token"])
    assert await introspect(h, a, last["access_token"]) == INACTIVE


@pytest.mark.parametrize("hint", [None, "refresh_token"])
async def test_rfc7009_s2_2_1_refresh_lookup_failure_is_raised_not_silently_ok(
    make_harness: HarnessFactory, clock: Any, hint: str | None
) -> None:
    base = open_memory_stores(clock)
    failing = FailingStore(base.grants, "find_refresh")
    async with make_harness(stores=dataclasses.replace(base, grants=failing)) as h:
        a = await confidential(h)
        tokens = await code_grant(h, a)
        failing.fail = True
        with pytest.raises(StorageError):
            await revoke(h, a, tokens["refresh_token"], hint)
        with pytest.raises(StorageError):  # never "inactive" on a failure
            await introspect(h, a, tokens["refresh_token"], hint)
        assert h.find("token.revoked") == []
        failing.fail = False
        assert (await introspect(h, a, tokens["refresh_token"]))["active"] is True


async def test_rfc7009_s2_1_the_hint_only_orders_the_lookups(
    make_harness: HarnessFactory, clock: Any
) -> None:
    """An access token never needs the grant store unless the hint says refresh_token first."""
    base = open_memory_stores(clock)
    failing = FailingStore(base.grants, "find_refresh")
    async with make_harness(stores=dataclasses.replace(base, grants=failing)) as h:
        a = await confidential(h)
        tokens = await code_grant(h, a)
        failing.fail = True
        assert (await introspect(h, a, tokens["access_token"], "access_token"))["active"] is True
        with pytest.raises(StorageError):
            await introspect(h, a, tokens["access_token"], "refresh_token")
        with pytest.raises(StorageError):
            await revoke(h, a, tokens["access_token"], "refresh_token")
        await revoke(h, a, tokens["access_token"])
        assert await h.rt.stores.revocations.is_revoked(jti(tokens["access_token"]))


# --- RFC 7009 §2.1: public clients revoke their own tokens with client_id alone ----------------


@pytest.mark.parametrize("hint", HINTS)
async def test_rfc7009_s2_1_public_client_revokes_its_own_refresh_token(
    h: Harness, hint: str | None
) -> None:
    p = await public(h)
    rs = Caller(*await h.secret_client("gatepass:introspect", operator=True))
    tokens = await code_grant(h, p)
    await revoke(h, p, tokens["refresh_token"], hint)
    exc = await refused(refresh(h, p, tokens["refresh_token"]))
    assert_oauth_error(exc, "invalid_grant", 400)
    assert await introspect(h, rs, tokens["access_token"]) == INACTIVE
    [event] = h.find("token.revoked")
    assert event.client_id == p.cid and event.details["token_type"] == "refresh_token"


@pytest.mark.parametrize("smuggled", [None, "refresh_token", "client_credentials"])
async def test_rfc7009_s2_1_public_client_revokes_its_own_access_token(
    h: Harness, smuggled: str | None
) -> None:
    """``grant_type`` means nothing at this endpoint, whatever its value."""
    p = await public(h)
    tokens = await code_grant(h, p)
    form = {"token": tokens["access_token"], **({"grant_type": smuggled} if smuggled else {})}
    await h.server.revoke(p.request(**form))
    assert await h.rt.stores.revocations.is_revoked(jti(tokens["access_token"]))
    [event] = h.find("token.revoked")
    assert event.client_id == p.cid and event.details["jti"] == jti(tokens["access_token"])


@pytest.mark.parametrize("hint", [None, "refresh_token"])
async def test_rfc7009_s2_1_public_client_cannot_revoke_another_clients_tokens(
    h: Harness, hint: str | None
) -> None:
    p, other_public, a = await public(h), await public(h), await confidential(h)
    for owner in (a, other_public):
        tokens = await code_grant(h, owner)
        for token in (tokens["access_token"], tokens["refresh_token"]):
            exc = await refused(revoke(h, p, token, hint))
            assert_oauth_error(exc, "unauthorized_client", 400,
                               "The token was not issued to this client")
        assert (await refresh(h, owner, tokens["refresh_token"]))["access_token"]
        assert not await h.rt.stores.revocations.is_revoked(jti(tokens["access_token"]))
    assert h.find("token.revoked") == []


async def test_rfc7009_s2_1_client_id_alone_identifies_only_public_clients(h: Harness) -> None:
    a = await confidential(h)
    tokens = await code_grant(h, a)
    for cid in (a.cid, "public-unknown"):  # a confidential client cannot pose as public
        exc = await refused(revoke(h, Caller(cid), tokens["refresh_token"]))
        assert_oauth_error(exc, "invalid_client", 401)
    assert (await refresh(h, a, tokens["refresh_token"]))["access_token"]
    assert len(h.find("revoke.refused")) == 2


async def test_rfc7009_s2_1_suspended_public_client_cannot_revoke(h: Harness) -> None:
    p = await public(h)
    tokens = await code_grant(h, p)
    client = await h.rt.stores.clients.get_client(p.cid)
    assert client is not None
    await h.rt.stores.clients.update_client(dataclasses.replace(client, status="suspended"))
    h.server.directory.invalidate(p.cid)
    exc = await refused(revoke(h, p, tokens["refresh_token"]))
    assert_oauth_error(exc, "invalid_client", 401)


# --- RFC 7662 §2.1: public clients still cannot introspect -------------------------------------


@pytest.mark.parametrize("hint", [None, "refresh_token"])
async def test_rfc7662_s2_1_public_client_cannot_introspect_its_refresh_token(
    h: Harness, hint: str | None
) -> None:
    p = await public(h)
    tokens = await code_grant(h, p)
    for token in (tokens["refresh_token"], tokens["access_token"]):
        exc = await refused(introspect(h, p, token, hint))
        assert_oauth_error(exc, "invalid_client", 401)
    assert len(h.find("introspect.refused")) == 2


# --- RFC 7662 §2.2: refresh tokens ------------------------------------------------------------


@pytest.mark.parametrize("hint", HINTS)
async def test_rfc7662_s2_2_active_refresh_token(h: Harness, hint: str | None) -> None:
    a = await confidential(h)
    now = h.clock.now()
    tokens = await code_grant(h, a)
    answer = await introspect(h, a, tokens["refresh_token"], hint)
    assert answer == {"active": True, "token_type": "refresh_token", "client_id": a.cid,
                      "scope": "read:projects", "sub": OWNER, "exp": int(now + REFRESH_TTL),
                      "iat": int(now)}
    assert (await refresh(h, a, tokens["refresh_token"]))["access_token"]  # not spent by it


async def test_rfc7662_s2_2_used_refresh_token_is_inactive(h: Harness) -> None:
    a = await confidential(h)
    first = await code_grant(h, a)
    second = await refresh(h, a, first["refresh_token"])
    assert await introspect(h, a, first["refresh_token"]) == INACTIVE
    assert (await introspect(h, a, second["refresh_token"]))["active"] is True
    assert (await refresh(h, a, second["refresh_token"]))["access_token"]  # no reuse alarm


async def test_rfc7662_s2_2_revoked_refresh_token_is_inactive(h: Harness) -> None:
    a = await confidential(h)
    tokens = await code_grant(h, a)
    await revoke(h, a, tokens["refresh_token"])
    assert await introspect(h, a, tokens["refresh_token"]) == INACTIVE
    assert await introspect(h, a, tokens["refresh_token"], "refresh_token") == INACTIVE


async def test_rfc7662_s2_2_expired_refresh_token_is_inactive(h: Harness) -> None:
    a = await confidential(h)
    tokens = await code_grant(h, a)
    h.clock.advance(REFRESH_TTL - 1)
    assert (await introspect(h, a, tokens["refresh_token"]))["active"] is True
    h.clock.advance(1)
    assert await introspect(h, a, tokens["refresh_token"]) == INACTIVE


async def test_rfc7662_s4_only_its_client_sees_a_refresh_token(h: Harness) -> None:
    """Resource servers never hold refresh tokens: ``gatepass:introspect`` does not show them."""
    a, b = await confidential(h), await confidential(h)
    rs = Caller(*await h.secret_client("gatepass:introspect", operator=True))
    tokens = await code_grant(h, a)
    assert await introspect(h, b, tokens["refresh_token"]) == INACTIVE
    assert await introspect(h, rs, tokens["refresh_token"], "refresh_token") == INACTIVE
    assert (await introspect(h, rs, tokens["access_token"]))["active"] is True
