"""Registration abuse gates in the HTTP shell (DESIGN §5, §6): per-IP and per-account limits.

``POST`` to the two registration endpoints is the endpoint class ``register``: a moving window of
``registrations_per_ip_per_hour`` per client address, failing closed. Every other path is left
alone (the token endpoint pays nothing). The client address is the socket peer unless the peer
is a configured trusted proxy (then ``X-Forwarded-For``), the same rule the limiter keys on.
Every refusal is audited (``rate_limit.refused``: endpoint class, method, path, address).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from gatepass.errors import OAuthError, RateLimitExceeded, TemporarilyUnavailable
from gatepass.ratelimit import (
    Classifier,
    Limiter,
    LimiterBusy,
    LimiterUnavailable,
    Policy,
    RateLimitMiddleware,
    RefusalObserver,
    Tier,
    Window,
    client_address,
)
from gatepass.settings import Settings

__all__ = ["AccountLimiter", "install_registration_limits", "register_policy", "source_address"]

REGISTER = "register"
AUTHORIZE = "authorize"
DAY = 86_400
# Registration is rare and slow anyway: a burst waits longer for Redis before it is refused.
REGISTER_TIMEOUT, REGISTER_POOL_WAIT = 1.0, 3.0


def register_policy(settings: Settings) -> Policy:
    """The strict policy: N per hour per address, moving window, fail closed."""
    tier = Tier(REGISTER, per_minute=settings.agents.registrations_per_ip_per_hour, window=3600)
    return Policy(tiers={REGISTER: tier}, strategy="moving-window", fail_open=False,
                  trusted_proxies=tuple(settings.agents.trusted_proxies), human_tier=REGISTER,
                  agent_tier=REGISTER, anonymous_tier=REGISTER)


def authorize_policy(settings: Settings) -> Policy:
    """The browser flow's endpoint: the ``human`` tier per address (60/min, 10/s), fail open.
    It bounds how fast one address can make the server fetch Client ID Metadata Documents."""
    return Policy(trusted_proxies=tuple(settings.agents.trusted_proxies))


def registration_classifier(paths: Iterable[str], authorize: str | None = None) -> Classifier:
    """``register`` for a POST to one of ``paths`` (exactly), ``authorize`` for any request to
    the authorization endpoint, None for everything else."""
    exact = frozenset(paths)

    def classify(scope: MutableMapping[str, Any]) -> str | None:
        if scope["path"] == authorize:
            return AUTHORIZE
        return REGISTER if scope["method"] == "POST" and scope["path"] in exact else None

    return classify


def source_address(request: Request, policy: Policy) -> str:
    """The registering client's address as the limiter sees it (proxies resolved)."""
    return client_address(request.scope, policy)


def install_registration_limits(app: Starlette, settings: Settings, paths: Iterable[str],
                                authorize: str | None = None,
                                on_fail_open: Callable[[str], None] | None = None) -> Limiter:
    """Add the per-address middleware to ``app``; returns its limiter (close it on shutdown).
    Each refusal is a ``rate_limit.refused`` audit event once the app's runtime is open."""
    limiter = Limiter(settings.redis_url or "memory://", key_prefix="gatepass:reg",
                      timeout=REGISTER_TIMEOUT, pool_wait=REGISTER_POOL_WAIT)
    policy = register_policy(settings)
    policies = {REGISTER: policy, AUTHORIZE: authorize_policy(settings)}
    app.add_middleware(RateLimitMiddleware, limiter=limiter, policy=policy, policies=policies,
                       classify=registration_classifier(paths, authorize),
                       on_refusal=_audit_refusals(app, policy), on_fail_open=on_fail_open)
    return limiter


def _audit_refusals(app: Starlette, policy: Policy) -> RefusalObserver:
    def observe(scope: MutableMapping[str, Any], endpoint: str, error: OAuthError) -> None:
        runtime = getattr(app.state, "runtime", None)
        if runtime is None:  # not started (or stopped): nothing to audit into
            return
        runtime.server.audit.emit(
            "rate_limit.refused", "failure", reason=error.error, endpoint=endpoint,
            method=scope.get("method"), path=scope.get("path"),
            address=client_address(scope, policy), retry_after=error.extra.get("retry_after"))

    return observe


class AccountLimiter:
    """``core.provisioning.RegistrationLimiter``: registrations per billing account per day."""

    def __init__(self, limiter: Limiter, per_day: int) -> None:
        self._limiter = limiter
        self._windows = (Window("day", per_day, DAY),)

    async def hit(self, key: str) -> int | None:
        try:
            decision = await self._limiter.hit(("register-account", key), self._windows,
                                               "moving-window")
        except LimiterBusy as exc:
            raise RateLimitExceeded("Too many registrations in progress; retry shortly",
                                    headers={"Retry-After": str(exc.retry_after)},
                                    extra={"retry_after": exc.retry_after}) from exc
        except LimiterUnavailable as exc:
            raise TemporarilyUnavailable("Registration limits are unavailable; retry shortly",
                                         headers={"Retry-After": "5"}) from exc
        return None if decision.allowed else decision.retry_after(self._limiter.clock.now())
