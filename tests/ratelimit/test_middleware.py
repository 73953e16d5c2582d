"""The ASGI middleware through httpx: headers on every response, 429s, keys, tiers, fail modes."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gatepass.ratelimit import Limiter, Policy, RateLimitMiddleware, Tier, by_path_prefix, tier_map

from .conftest import CLASSIFY, ROUTES, SMALL_TIERS, MakeHarness, drain, free_port

RL_HEADERS = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "ratelimit"}
UPGRADE = "https://gatepass.example/pricing#agent-tiers"


async def test_success_carries_every_header(harness: MakeHarness) -> None:
    client = harness().client()
    before = time.time()
    r = await client.get("/api/items")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-ratelimit-tier"] == "human"
    assert r.headers["ratelimit-policy"] == '"burst";q=3;w=10, "minute";q=5;w=60'
    # burst (2 left of 3) is more restrictive than the minute (4 left of 5)
    assert (r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-remaining"]) == ("3", "2")
    reset = int(r.headers["x-ratelimit-reset"])
    assert math.floor(before) <= reset <= math.ceil(time.time()) + 10
    name, r_left, t = r.headers["ratelimit"].split(";")
    assert (name, r_left) == ('"burst"', "r=2")
    assert 0 <= int(t.removeprefix("t=")) <= 10


async def test_refusal_body_and_headers_are_exact(harness: MakeHarness) -> None:
    tiers = tier_map(Tier("human", per_minute=2), Tier("agent_standard", per_minute=9))
    policy = Policy(tiers=tiers, strategy="moving-window", upgrade_url=UPGRADE)
    client = harness(policy=policy).client()
    assert await drain(lambda: client.get("/api/items"), 2) == [200, 200]
    r = await client.get("/api/items")
    assert r.status_code == 429
    assert r.json() == {
        "error": "rate_limit_exceeded",
        "error_description": "Rate limit of 2/min exceeded",
        "retry_after": 60,
        "upgrade_url": UPGRADE,
    }
    assert {k: v for k, v in r.headers.items() if k != "x-ratelimit-reset"} == {
        "content-type": "application/json",
        "content-length": str(len(r.content)),
        "cache-control": "no-store",
        "retry-after": "60",
        "x-ratelimit-tier": "human",
        "ratelimit-policy": '"minute";q=2;w=60',
        "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "0",
        "ratelimit": '"minute";r=0;t=60',
    }
    assert abs(int(r.headers["x-ratelimit-reset"]) - (time.time() + 60)) <= 2


async def test_every_refusal_and_only_refusals_reach_the_observer(harness: MakeHarness) -> None:
    seen: list[tuple[str, str, str, int]] = []
    client = harness(on_refusal=lambda scope, endpoint, error: seen.append(
        (scope["path"], endpoint, error.error, error.http_status))).client()
    assert await drain(lambda: client.get("/api/items"), 4) == [200, 200, 200, 429]
    assert seen == [("/api/items", "api", "rate_limit_exceeded", 429)]


async def test_a_failing_observer_does_not_change_the_refusal(
    harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(scope: Any, endpoint: str, error: Any) -> None:
        raise RuntimeError("audit store down")

    client = harness(on_refusal=broken).client()
    assert await drain(lambda: client.get("/api/items"), 4) == [200, 200, 200, 429]
    assert "rate-limit refusal observer failed" in caplog.text


async def test_burst_refusal_names_the_burst_window(harness: MakeHarness) -> None:
    client = harness().client()
    assert await drain(lambda: client.get("/api/items"), 4) == [200, 200, 200, 429]
    r = await client.get("/api/items")
    body = r.json()
    assert body["error_description"] == "Rate limit of 3/10s exceeded"
    assert "upgrade_url" not in body
    assert 1 <= body["retry_after"] <= 10 and r.headers["retry-after"] == str(body["retry_after"])
    assert r.headers["x-ratelimit-remaining"] == "0" and r.headers["x-ratelimit-limit"] == "3"


async def test_other_addresses_and_endpoint_classes_are_unaffected(harness: MakeHarness) -> None:
    h = harness()
    client = h.client("203.0.113.7")
    assert (await drain(lambda: client.get("/api/items"), 4))[-1] == 429
    assert (await h.client("198.51.100.9").get("/api/items")).status_code == 200
    assert (await client.post("/oauth/token")).status_code == 200


@pytest.mark.parametrize(
    ("header", "tier", "limit"),
    [
        ("a1;autonomous;agent_premium", "agent_premium", "20"),
        ("a2;tool;", "agent_standard", "8"),
        ("a3;supervised;platinum", "agent_standard", "8"),
        ("h1;;agent_premium", "human", "3"),
    ],
)
async def test_tier_comes_from_the_principal(
    harness: MakeHarness, header: str, tier: str, limit: str
) -> None:
    r = await harness().client().get("/api/items", headers={"x-test-principal": header})
    assert (r.headers["x-ratelimit-tier"], r.headers["x-ratelimit-limit"]) == (tier, limit)


async def test_premium_policy_header_lists_the_day_window(harness: MakeHarness) -> None:
    r = (
        await harness()
        .client()
        .get("/api/items", headers={"x-test-principal": "a;tool;agent_premium"})
    )
    assert r.headers["ratelimit-policy"] == '"minute";q=20;w=60, "day";q=100;w=86400'
    assert r.headers["ratelimit"].startswith('"minute";r=19;')


async def test_each_principal_has_its_own_budget(harness: MakeHarness) -> None:
    client = harness().client()
    agent = {"x-test-principal": "agent-1;autonomous;"}
    assert await drain(lambda: client.get("/api/items", headers=agent), 9) == [200] * 8 + [429]
    other = {"x-test-principal": "agent-2;autonomous;"}
    assert (await client.get("/api/items", headers=other)).status_code == 200
    assert (await client.get("/api/items")).status_code == 200  # the address budget is separate


async def test_fake_client_ids_without_a_token_share_the_address_budget(
    harness: MakeHarness,
) -> None:
    client = harness().client()
    statuses = [
        (
            await client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "client_id": f"fake-{i}"},
                auth=(f"fake-{i}", "secret"),
            )
        ).status_code
        for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


async def test_spoofed_forwarded_for_shares_the_peer_budget(harness: MakeHarness) -> None:
    policy = Policy(tiers=SMALL_TIERS, trusted_proxies=("10.0.0.0/8",))
    h = harness(policy=policy)
    direct, proxy = h.client("203.0.113.7"), h.client("10.0.0.2")

    async def spoofed(i: int) -> int:
        return (
            await direct.get("/api/items", headers={"x-forwarded-for": f"1.1.1.{i}"})
        ).status_code

    assert [await spoofed(i) for i in range(4)] == [200, 200, 200, 429]
    forwarded = [
        (await proxy.get("/api/items", headers={"x-forwarded-for": f"192.0.2.{i}"})).status_code
        for i in range(4)
    ]
    assert forwarded == [200] * 4  # behind a trusted proxy each real client has its own budget


async def test_unclassified_paths_are_not_limited(harness: MakeHarness) -> None:
    client = harness().client()
    responses = [await client.get("/health") for _ in range(6)]
    assert {r.status_code for r in responses} == {200}
    assert not RL_HEADERS & set(responses[-1].headers)


async def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = RateLimitMiddleware(app, limiter=Limiter())
    await middleware({"type": "lifespan"}, _never, _never)
    await middleware({"type": "websocket", "path": "/ws"}, _never, _never)
    assert seen == ["lifespan", "websocket"]


async def _never(*args: Any) -> Any:
    raise AssertionError("not called")


def _down() -> Limiter:
    return Limiter(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2, cooldown=0)


async def test_redis_down_fails_open(
    harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gatepass.ratelimit")
    limiter = _down()
    client = harness(limiter=limiter).client()
    r = await client.get("/api/items")
    await limiter.aclose()
    assert r.status_code == 200 and not RL_HEADERS & set(r.headers)
    assert "failing open for 'api' requests" in caplog.text


async def test_redis_down_fails_closed(
    harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gatepass.ratelimit")
    limiter = _down()
    seen: list[str] = []
    client = harness(limiter=limiter, policy=Policy(tiers=SMALL_TIERS, fail_open=False),
                     on_refusal=lambda scope, endpoint, error: seen.append(error.error)).client()
    r = await client.get("/api/items")
    await limiter.aclose()
    assert r.status_code == 503 and seen == ["temporarily_unavailable"]
    assert r.json() == {
        "error": "temporarily_unavailable",
        "error_description": "Rate limiting is temporarily unavailable; retry shortly",
    }
    assert (r.headers["retry-after"], r.headers["cache-control"]) == ("1", "no-store")
    assert "failing closed for 'api' requests" in caplog.text


async def test_fail_mode_is_per_endpoint_class(harness: MakeHarness) -> None:
    limiter = _down()
    strict = Policy(tiers=SMALL_TIERS, fail_open=False)
    client = harness(limiter=limiter, policies={"register": strict}).client()
    api, register = await client.get("/api/items"), await client.post("/register")
    await limiter.aclose()
    assert (api.status_code, register.status_code) == (200, 503)


async def test_endpoint_class_policy_overrides_the_default(harness: MakeHarness) -> None:
    register_tiers = tier_map(Tier("human", per_minute=1), Tier("agent_standard", per_minute=1))
    strict = Policy(tiers=register_tiers, strategy="moving-window", fail_open=False)
    client = harness(policies={"register": strict}).client()
    assert await drain(lambda: client.post("/register"), 2) == [200, 429]
    assert (await client.get("/api/items")).status_code == 200


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/oauth/token", "token"),
        ("/oauth/token/", "token"),
        ("/oauth/tokenx", "oauth"),
        ("/healthz", "api"),
        ("/oauth/other", "oauth"),
        ("/health", None),
        ("/", "api"),
        ("/anything", "api"),
    ],
)
def test_by_path_prefix(path: str, expected: str | None) -> None:
    classify = by_path_prefix({"/oauth": "oauth", "/oauth/token": "token", "/health": None})
    assert classify({"type": "http", "path": path}) == expected


def test_by_path_prefix_answers_the_same_when_remembering_paths() -> None:
    classify = by_path_prefix({"/api": "api", "/api/docs": None}, default="other")
    paths = ["/api/x", "/api/docs", "/elsewhere", "/api/" + "y" * 300]
    paths += [f"/api/docs/{i}" for i in range(1100)]  # more paths than are remembered
    for _ in range(2):  # the second pass answers from memory where it can
        found = [classify({"path": p}) for p in paths]
        assert found[:4] == ["api", None, "other", "api"] and set(found[4:]) == {None}


def test_by_path_prefix_root_and_no_default() -> None:
    assert by_path_prefix({"/": "all"}, default=None)({"path": "/x"}) == "all"
    assert by_path_prefix({"/api": "api"}, default=None)({"path": "/x"}) is None


async def test_app_headers_are_kept(harness: MakeHarness) -> None:
    r = await harness().client().get("/api/items")
    assert r.headers["content-length"] == str(len(r.content))
    assert isinstance(r, httpx.Response)


async def test_failing_open_is_counted_and_logged_once_per_trip(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis down, failing open: every request passes without rate-limit headers, each is
    counted (``failed_open`` and the hook, for a metric), one warning line for the trip."""
    caplog.set_level(logging.WARNING, "gatepass.ratelimit")
    limiter = Limiter(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2, cooldown=60)
    seen: list[str] = []
    app = RateLimitMiddleware(Starlette(routes=ROUTES), limiter=limiter,
                              policy=Policy(tiers=SMALL_TIERS), classify=CLASSIFY,
                              on_fail_open=seen.append)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answers = [await client.get("/api/items") for _ in range(5)]
    await limiter.aclose()
    assert [a.status_code for a in answers] == [200] * 5
    assert all(not RL_HEADERS & set(a.headers) for a in answers)
    assert "ratelimit-policy" not in answers[-1].headers
    assert app.failed_open == {"api": 5} and seen == ["api"] * 5
    assert [r.getMessage() for r in caplog.records
            if "failing open" in r.getMessage()] == [
        "rate limiting unavailable, failing open for 'api' requests"]
