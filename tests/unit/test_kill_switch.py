"""The kill switch by cutoff (issue 16): suspension and "revoke every token" record a per-client
``revoked_before``; introspection refuses that client's tokens with an earlier ``iat`` and keeps
the later ones, whatever the audit trail holds."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gatepass.clock import FrozenClock
from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError
from gatepass.storage.memory import open_memory_stores
from gp_doubles import FailingStore

from .conftest import Harness, HarnessFactory, basic


async def _active(h: Harness, rs: tuple[str, str], token: str) -> bool:
    answer = await h.server.introspect(OAuthRequest(form={"token": token},
                                                    authorization=basic(*rs)))
    return bool(answer["active"])


async def test_revoking_every_token_refuses_the_earlier_ones_and_keeps_later_ones(
        h: Harness) -> None:
    rs = await h.secret_client("gatepass:introspect")
    cid, secret = await h.secret_client()
    h.clock.set(1_800_000_000.3)
    early = await h.token_for(cid, secret)  # iat = 1_800_000_000
    h.clock.set(1_800_000_000.5)
    await h.admin.revoke_tokens(cid, actor="test")
    same_second = await h.token_for(cid, secret)  # iat = 1_800_000_000 too
    h.clock.set(1_800_000_001.0)
    later = await h.token_for(cid, secret)
    assert not await _active(h, rs, early)
    assert not await _active(h, rs, same_second)  # documented: the rest of the second is cut
    assert await _active(h, rs, later)
    other, other_secret = await h.secret_client()
    assert await _active(h, rs, await h.token_for(other, other_secret))  # another client: kept
    assert h.find("client.tokens_revoked")[0].details["revoked_before"] == 1_800_000_000.5


async def test_suspension_refuses_tokens_it_never_saw_in_the_audit_trail(
        make_harness: HarnessFactory, clock: FrozenClock) -> None:
    base = open_memory_stores(clock)
    audit = FailingStore(base.audit, "record", "find")
    async with make_harness(stores=dataclasses.replace(base, audit=audit)) as h:
        rs = await h.secret_client("gatepass:introspect")
        cid, secret = await h.secret_client()
        token = await h.token_for(cid, secret)
        audit.fail = True  # the audit trail is gone: no jti can be found
        clock.advance(0.5)
        assert await h.admin.suspend(cid, actor="test") == 0
        assert not await _active(h, rs, token)
        with pytest.raises(OAuthError) as refused:
            await h.token_for(cid, secret)
        assert refused.value.error in ("invalid_client", "unauthorized_client")
        audit.fail = False


async def test_a_token_without_iat_of_a_cut_off_client_is_refused(h: Harness) -> None:
    from gatepass.core.revocation import claims_revoked

    revocations = h.rt.stores.revocations
    await revocations.revoke_client("c1", h.clock.now(), h.clock.now() + 3600)
    claims: dict[str, Any] = {"jti": "j", "client_id": "c1"}
    assert await claims_revoked(revocations, claims)
    assert await claims_revoked(revocations, {**claims, "iat": True})  # not a number
    assert not await claims_revoked(revocations, {**claims, "iat": h.clock.now()})
    assert not await claims_revoked(revocations, {**claims, "client_id": 7, "iat": 0})
