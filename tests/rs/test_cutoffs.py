"""Client cutoffs in ``gatepass.rs`` (the kill switch): a token of a client whose tokens were all
revoked at ``revoked_before`` is refused when its ``iat`` is earlier, cached or not; the cutoff
arrives as a wire entry, over Redis pub/sub, or in the revocation feed."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatepass.clock import FrozenClock
from gatepass.errors import TokenRevoked
from gatepass.rs import (
    ClientCutoffs,
    FeedRevocationChecker,
    MemoryRevocationList,
    RedisRevocationListener,
    ResourceServerConfig,
    TokenVerifier,
)

from .conftest import ISSUER, NOW, Minter, base_claims


def _cutoff(client_id: str, before: float, exp: float) -> dict[str, Any]:
    return {"client_id": client_id, "revoked_before": before, "exp": exp}


def test_a_cutoff_entry_denies_earlier_tokens_of_its_client_only() -> None:
    clock = FrozenClock(NOW)
    cuts = MemoryRevocationList(clock=clock, grace=60)
    assert isinstance(cuts, ClientCutoffs)
    assert cuts.add(_cutoff("c1", NOW, NOW + 300))
    assert cuts.cuts_off("c1", NOW - 1) and cuts.cuts_off("c1", None)
    assert not cuts.cuts_off("c1", NOW) and not cuts.cuts_off("c2", NOW - 1)
    assert cuts.add(_cutoff("c1", NOW - 100, NOW + 200))  # an earlier one does not win
    assert cuts.cuts_off("c1", NOW - 1)
    assert cuts.add(_cutoff("c1", NOW + 10, NOW + 310))
    assert cuts.cuts_off("c1", NOW + 5)
    clock.advance(310 + 60)  # past the tokens' exp plus grace: gone
    assert not cuts.cuts_off("c1", NOW - 1)
    cuts.prune()
    assert cuts._cutoffs == {}


@pytest.mark.parametrize("entry", [
    {"client_id": "", "revoked_before": NOW, "exp": NOW},
    {"client_id": 1, "revoked_before": NOW, "exp": NOW},
    {"client_id": "c", "exp": NOW},
    {"client_id": "c", "revoked_before": "x", "exp": NOW},
    {"client_id": "c", "revoked_before": True, "exp": NOW},
    {"client_id": "c", "revoked_before": NOW, "exp": float("inf")},
    {"client_id": "c", "revoked_before": NOW},
])
def test_malformed_cutoff_entries_are_ignored(entry: Any) -> None:
    cuts = MemoryRevocationList(clock=FrozenClock(NOW))
    assert cuts.add(entry) is False
    assert not cuts.cuts_off("c", NOW - 1)


async def test_a_cached_token_is_refused_once_its_client_is_cut_off(
    config: ResourceServerConfig, clock: FrozenClock, issuer_http: httpx.AsyncClient, mint: Minter
) -> None:
    denied = MemoryRevocationList(clock=clock)
    verifier = TokenVerifier(config, clock=clock, http_client=issuer_http, revocation=denied)
    old, new = mint(), mint(base_claims(iat=int(NOW) + 1, jti="jti-2"))
    assert await verifier.verify(old) and await verifier.verify(new)
    assert verifier.known(f"Bearer {old}".encode()) is not None  # cached
    denied.add(_cutoff("agent-123", NOW + 0.5, NOW + 300))
    with pytest.raises(TokenRevoked):  # the synchronous header path
        verifier.known(f"Bearer {old}".encode())
    with pytest.raises(TokenRevoked):  # and the full one
        await verifier.verify(old)
    assert (await verifier.verify(new)).token_id == "jti-2"  # issued after the cutoff
    assert verifier.known(f"Bearer {new}".encode()) is not None


@pytest.mark.redis
async def test_the_redis_listener_applies_the_servers_cutoff_message(redis_url: str) -> None:
    from redis.asyncio import Redis

    from gatepass.storage.redis import publish_cutoff

    channel = f"test:{secrets.token_hex(4)}"
    listener = RedisRevocationListener(redis_url, channel=channel)
    redis_client = Redis.from_url(redis_url)
    await listener.start()
    try:
        now = time.time()
        await publish_cutoff(redis_client, "c1", now, now + 60, channel=channel)
        for _ in range(500):
            if listener.cuts_off("c1", now - 1):
                break
            await asyncio.sleep(0.002)
        assert listener.cuts_off("c1", now - 1)
        assert not listener.cuts_off("c1", now + 1)
    finally:
        await listener.stop()
        await redis_client.aclose()


async def test_the_feed_checker_reads_cutoffs_from_the_clients_array() -> None:
    """The feed's wire shape (``/oauth/revocations`` of the AS; the cluster test polls the real
    one)."""
    body = {"revoked": [{"jti": "a", "exp": NOW + 60}],
            "clients": [_cutoff("c1", NOW, NOW + 60), {"client_id": "bad"}],
            "next_cursor": "c", "has_more": False}

    async def revocations(request: Request) -> Response:
        return JSONResponse(body, headers={"ETag": '"1"'})

    app = Starlette(routes=[Route("/oauth/revocations", revocations)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        checker = FeedRevocationChecker(ISSUER, http_client=http, clock=FrozenClock(NOW))
        assert await checker.poll() is True
    assert checker.denies("a")
    assert checker.cuts_off("c1", NOW - 1) and not checker.cuts_off("c1", NOW)
