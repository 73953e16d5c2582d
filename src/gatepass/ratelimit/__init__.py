"""Agent-aware rate limiting: policy data, a ``limits``-backed limiter, a pure ASGI middleware.

Resource server (wrap it *inside* the bearer-auth middleware, which puts the verified
``Principal`` at ``scope["gatepass.principal"]``)::

    limiter = Limiter("redis://localhost:6379/0")          # or "memory://" for one process
    app = RateLimitMiddleware(app, limiter=limiter, policy=Policy(upgrade_url=PRICING))

Authorization server: callers are anonymous until the endpoint authenticates them, so token
and registration traffic is budgeted per client address and endpoint class::

    strict = Policy(tiers=REGISTER_TIERS, strategy="moving-window", fail_open=False)
    app = RateLimitMiddleware(
        app, limiter=limiter, policy=Policy(trusted_proxies=("10.0.0.0/8",)),
        policies={"register": strict},
        classify=by_path_prefix({"/token": "token", "/api/v1/agents/register": "register",
                                 "/.well-known": None}),
    )

Pass ``on_refusal=`` to see (and audit) every refusal. Call ``await limiter.aclose()`` on
shutdown.
"""

from gatepass.ratelimit._subject import PRINCIPAL_SCOPE_KEY, client_address
from gatepass.ratelimit.limiter import (
    Decision,
    Limiter,
    LimiterBusy,
    LimiterUnavailable,
    WindowState,
)
from gatepass.ratelimit.middleware import (
    Classifier,
    RateLimitMiddleware,
    RefusalObserver,
    always,
    by_path_prefix,
)
from gatepass.ratelimit.policy import DEFAULT_TIERS, Policy, Strategy, Tier, Window, tier_map

__all__ = [
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
