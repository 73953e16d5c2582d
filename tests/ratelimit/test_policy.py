"""Policy data: the guide's default tiers, tier selection, validation."""

from __future__ import annotations

import pytest

import gatepass.ratelimit as rl
from gatepass.ratelimit import DEFAULT_TIERS, Policy, Tier, Window, tier_map

from .conftest import principal


def test_public_surface_is_pinned() -> None:
    assert rl.__all__ == [
        "DEFAULT_TIERS",
        "PRINCIPAL_SCOPE_KEY",
        "Classifier",
        "Decision",
        "Limiter",
        "LimiterBusy",
        "LimiterUnavailable",
        "Policy",
        "RateLimitMiddleware",
        "RefusalObserver",
        "Strategy",
        "Tier",
        "Window",
        "WindowState",
        "always",
        "by_path_prefix",
        "client_address",
        "tier_map",
    ]
    assert all(hasattr(rl, name) for name in rl.__all__)


def test_default_tiers_follow_the_guide() -> None:
    assert {n: t.windows for n, t in DEFAULT_TIERS.items()} == {
        "human": (Window("burst", 10, 1), Window("minute", 60, 60)),
        "agent_standard": (
            Window("burst", 50, 1),
            Window("minute", 300, 60),
            Window("day", 50_000, 86400),
        ),
        "agent_premium": (
            Window("burst", 200, 1),
            Window("minute", 1000, 60),
            Window("day", 500_000, 86400),
        ),
    }


@pytest.mark.parametrize(
    ("window", "text"),
    [
        (Window("minute", 300, 60), "300/min"),
        (Window("burst", 10, 1), "10/s"),
        (Window("day", 50_000, 86400), "50000/day"),
        (Window("hour", 7, 3600), "7/h"),
        (Window("burst", 5, 30), "5/30s"),
    ],
)
def test_window_describe(window: Window, text: str) -> None:
    assert window.describe() == text


@pytest.mark.parametrize("agent_type", ["autonomous", "supervised", "tool"])
def test_agent_gets_the_tier_its_token_names(agent_type: str) -> None:
    policy = Policy()
    assert policy.tier_for(principal("c", agent_type, "agent_premium")).name == "agent_premium"
    assert policy.tier_for(principal("c", agent_type, None)).name == "agent_standard"
    assert policy.tier_for(principal("c", agent_type, "platinum")).name == "agent_standard"


def test_non_agent_principal_is_human_whatever_its_tier_claim() -> None:
    assert Policy().tier_for(principal("c", None, "agent_premium")).name == "human"


def test_anonymous_uses_human_unless_an_anonymous_tier_exists() -> None:
    assert Policy().tier_for(None).name == "human"
    tiers = {**DEFAULT_TIERS, "anonymous": Tier("anonymous", per_minute=10)}
    assert Policy(tiers=tiers).tier_for(None).name == "anonymous"


def test_custom_tier_names() -> None:
    tiers = tier_map(Tier("people", per_minute=1), Tier("bots", per_minute=2))
    policy = Policy(tiers=tiers, human_tier="people", agent_tier="bots")
    assert policy.tier_for(principal("c", "tool")).name == "bots"
    assert policy.tier_for(None).name == "people"


def test_tiers_are_read_only_copies() -> None:
    source = dict(DEFAULT_TIERS)
    policy = Policy(tiers=source)
    source.pop("human")
    assert "human" in policy.tiers
    with pytest.raises(TypeError):
        policy.tiers["x"] = Tier("x", per_minute=1)  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tiers": {"human": Tier("people", per_minute=1)}}, "differs from its name"),
        ({"tiers": tier_map(Tier("human", per_minute=1))}, "agent_standard"),
        ({"strategy": "moving-window"}, "small limits"),
        ({"ipv6_prefix": 0}, "ipv6_prefix"),
        ({"trusted_proxies": ("not-a-network",)}, "does not appear to be"),
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_moving_window_accepts_small_limits() -> None:
    tiers = tier_map(Tier("human", per_minute=5), Tier("agent_standard", per_minute=20, burst=5))
    assert Policy(tiers=tiers, strategy="moving-window").strategy == "moving-window"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_minute": 0},
        {"per_minute": 5, "burst": 0},
        {"per_minute": 5, "burst": 2, "burst_window": 0},
    ],
)
def test_non_positive_limits_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        Tier("t", **kwargs)
