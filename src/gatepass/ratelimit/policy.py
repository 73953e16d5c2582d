"""Rate-limit policy as data: tiers of windows, tier selection, fail mode, trusted proxies.

A :class:`Tier` has three limits, as in the agent guide: ``per_minute`` (the main window),
``burst`` and an optional ``per_day``. **Burst is a one-second window** (``burst_window``):
"human" may send 10 requests within any second but only 60 within a minute. Every request
must fit in every window of its tier.

A :class:`Policy` maps tier names to tiers and says how to pick one: an agent principal gets
the tier its token names (when configured) else ``agent_tier``; any other principal gets
``human_tier``; anonymous traffic gets ``anonymous_tier`` when configured, else ``human_tier``.
It also fixes the counting strategy, the fail mode when shared storage is down (``fail_open``),
the 429 ``upgrade_url`` and the proxies trusted to set ``X-Forwarded-For``.

Defaults: sliding-window counter, fail **open** (API traffic keeps flowing through a Redis
outage). Give small strict budgets such as registration a policy with
``strategy="moving-window", fail_open=False``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from gatepass.models import Principal

__all__ = ["DEFAULT_TIERS", "Network", "Policy", "Strategy", "Tier", "Window", "tier_map"]

Strategy = Literal["sliding-window-counter", "moving-window"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_UNITS = {1: "s", 60: "min", 3600: "h", 86400: "day"}
MOVING_WINDOW_MAX = 10_000  # the moving window stores one entry per counted request


@dataclass(frozen=True, slots=True)
class Window:
    """One limit: at most ``limit`` requests in any ``seconds``; ``name`` labels it in headers."""

    name: str
    limit: int
    seconds: int

    def describe(self) -> str:
        """``300/min``, ``10/s``, ``50000/day`` or ``5/30s``."""
        unit = _UNITS.get(self.seconds, f"{self.seconds}s")
        return f"{self.limit}/{unit}"


@dataclass(frozen=True, slots=True)
class Tier:
    """A named budget. ``window`` (default 60 s) and ``burst_window`` may be shortened in tests."""

    name: str
    per_minute: int
    burst: int | None = None
    per_day: int | None = None
    burst_window: int = 1
    window: int = 60
    windows: tuple[Window, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        found = [
            Window("burst", self.burst, self.burst_window) if self.burst is not None else None,
            Window("minute", self.per_minute, self.window),
            Window("day", self.per_day, 86400) if self.per_day is not None else None,
        ]
        windows = tuple(w for w in found if w is not None)
        if any(w.limit < 1 or w.seconds < 1 for w in windows):
            raise ValueError(f"tier {self.name!r}: limits and windows must be positive")
        object.__setattr__(self, "windows", windows)


DEFAULT_TIERS: Mapping[str, Tier] = MappingProxyType(
    {
        "human": Tier("human", per_minute=60, burst=10),
        "agent_standard": Tier("agent_standard", per_minute=300, burst=50, per_day=50_000),
        "agent_premium": Tier("agent_premium", per_minute=1000, burst=200, per_day=500_000),
    }
)


def tier_map(*tiers: Tier) -> Mapping[str, Tier]:
    """A read-only name -> tier map."""
    return MappingProxyType({t.name: t for t in tiers})


@dataclass(frozen=True, slots=True)
class Policy:
    """Tiers plus the rules that pick one, the strategy and the failure mode."""

    tiers: Mapping[str, Tier] = field(default_factory=lambda: DEFAULT_TIERS)
    strategy: Strategy = "sliding-window-counter"
    fail_open: bool = True
    upgrade_url: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    human_tier: str = "human"
    agent_tier: str = "agent_standard"
    anonymous_tier: str = "anonymous"
    ipv6_prefix: int = 64
    trusted_networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", MappingProxyType(dict(self.tiers)))
        nets = tuple(ipaddress.ip_network(c, strict=False) for c in self.trusted_proxies)
        object.__setattr__(self, "trusted_networks", nets)
        for name, tier in self.tiers.items():
            if name != tier.name:
                raise ValueError(f"tier key {name!r} differs from its name {tier.name!r}")
        for needed in (self.human_tier, self.agent_tier):
            if needed not in self.tiers:
                raise ValueError(f"policy needs a tier named {needed!r}")
        if self.strategy == "moving-window" and any(
            w.limit > MOVING_WINDOW_MAX for t in self.tiers.values() for w in t.windows
        ):
            raise ValueError("the moving window stores every request: use it for small limits")
        if not 0 < self.ipv6_prefix <= 128:
            raise ValueError("ipv6_prefix must be within 1..128")

    @property
    def anonymous(self) -> Tier:
        """The tier for traffic without a verified principal."""
        return self.tiers.get(self.anonymous_tier) or self.tiers[self.human_tier]

    def tier_for(self, principal: Principal | None) -> Tier:
        """Agents: their token's tier if configured, else ``agent_tier``. Others: human."""
        if principal is None:
            return self.anonymous
        if principal.is_agent:
            named = self.tiers.get(principal.tier) if principal.tier else None
            return named or self.tiers[self.agent_tier]
        return self.tiers[self.human_tier]
