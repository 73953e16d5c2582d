"""Agent-aware rate limiting on the mounted demo API: the tier comes from the token."""

from __future__ import annotations

import socket

import pytest

from .conftest import ISSUER, Gatepass, ServeFactory, bearer

UPGRADE_URL = ISSUER + "/api/v1/billing/prepaid"


async def _exhaust(gp: Gatepass, token: str, most: int = 400) -> int:
    """Requests sent until the first 429 (the minute budget guarantees one within ``most``)."""
    for sent in range(1, most + 1):
        response = await gp.http.get("/api/projects", headers=bearer(token))
        if response.status_code == 429:
            return sent
        assert response.status_code == 200, response.text
    raise AssertionError("never limited")


@pytest.mark.parametrize(("fields", "tier", "burst"), [
    ({}, "agent_standard", "50"),  # an agent without a tier claim: the default agent tier
    ({"tier": "agent_premium"}, "agent_premium", "200"),
    ({"agent_type": None}, "human", "10"),
])
async def test_tier_from_the_token(gp: Gatepass, fields: dict[str, str | None], tier: str,
                                   burst: str) -> None:
    token = await gp.token("read:projects", creds=await gp.client("read:projects", **fields))
    response = await gp.http.get("/api/projects", headers=bearer(token))
    assert response.headers["x-ratelimit-tier"] == tier
    assert response.headers["ratelimit-policy"].startswith(f'"burst";q={burst};w=1')
    assert response.headers["x-ratelimit-remaining"] == str(int(burst) - 1)


async def test_refusals_after_auth_carry_the_headers_too(gp: Gatepass) -> None:
    headers = bearer(await gp.token("read:analytics"))
    for method, path in (("GET", "/api/projects"), ("GET", "/api/analytics?days=0"),
                         ("GET", "/api/missing")):
        response = await gp.http.request(method, path, headers=headers)
        assert response.status_code in (403, 404, 422)
        assert response.headers["x-ratelimit-tier"] == "agent_standard"
        assert "ratelimit" in response.headers


async def test_429_body_has_retry_after_and_upgrade_url(gp: Gatepass) -> None:
    token = await gp.token("read:projects")
    sent = await _exhaust(gp, token)
    assert 50 < sent <= 301
    response = await gp.http.get("/api/projects", headers=bearer(token))
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "rate_limit_exceeded" and body["error_description"]
    assert body["upgrade_url"] == UPGRADE_URL
    assert isinstance(body["retry_after"], int) and body["retry_after"] >= 1
    assert response.headers["retry-after"] == str(body["retry_after"])
    assert response.headers["x-ratelimit-remaining"] == "0"
    other = await gp.token("read:projects")  # budgets are per client
    assert (await gp.http.get("/api/projects", headers=bearer(other))).status_code == 200


async def test_refused_tokens_are_not_counted(gp: Gatepass) -> None:
    response = await gp.http.get("/api/projects", headers=bearer("not-a-jwt"))
    assert response.status_code == 401 and "x-ratelimit-limit" not in response.headers


async def test_redis_down_fails_open_visibly(serve: ServeFactory) -> None:
    """The API's rate limits fail open when Redis is down (by design): the answer carries no
    rate-limit headers, and ``/metrics`` counts each such request."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"  # nothing listens there
    async with serve(redis_url=down) as gp:
        token = await gp.token("read:projects")
        answers = [await gp.http.get("/api/projects", headers=bearer(token)) for _ in range(3)]
        metrics = (await gp.http.get("/metrics")).text
    assert [a.status_code for a in answers] == [200] * 3
    assert all("ratelimit-policy" not in a.headers for a in answers)
    assert 'gatepass_rate_limit_fail_open_total{endpoint_class="api"} 3.0' in metrics
