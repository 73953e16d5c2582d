"""Pure ASGI agent-aware rate limiting, for resource servers and the authorization server alike.

Every limited response carries ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (epoch seconds)
and ``X-RateLimit-Tier``, plus the IETF ``RateLimit-Policy`` (every window) and ``RateLimit``
(draft-ietf-httpapi-ratelimit-headers, structured fields). ``RateLimit`` and the ``X-`` triple
describe the most restrictive window, the one with the fewest requests left. A refusal is a
429 JSON body (``rate_limit_exceeded``, ``retry_after``, ``upgrade_url``) with ``Retry-After``
and ``Cache-Control: no-store``.

``on_refusal(scope, endpoint_class, error)``, when given, sees every refusal (429, or 503 when
failing closed) before it is sent, to audit it; it must not raise or block.

Redis-down mode, per endpoint class: each class's :class:`Policy` says ``fail_open``. Failing
open, a request passes unlimited and its response carries no rate-limit headers (no
``RateLimit-Policy``: the client can tell nothing was counted); ``failed_open`` counts such
requests per class and ``on_fail_open(endpoint_class)`` sees each (feed a metric), and one
warning line is logged per breaker trip. Failing closed answers 503 ``temporarily_unavailable``
with ``Retry-After``. A full connection pool is neither: that request gets 429.

``classify(scope)`` names the request's endpoint class (``"api"``, ``"token"``, ...) or returns
None to leave it alone; each class has its own budget and may have its own :class:`Policy`.
Any callable works as a predicate (``lambda s: "api" if s["path"].startswith("/v1") else None``);
:func:`by_path_prefix` covers the usual case.
The principal is read from the scope, so install this *inside* the bearer-auth middleware.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from gatepass.errors import OAuthError, RateLimitExceeded, TemporarilyUnavailable
from gatepass.ratelimit._subject import PRINCIPAL_SCOPE_KEY, subject_for
from gatepass.ratelimit.limiter import (
    Decision,
    Limiter,
    LimiterBusy,
    LimiterUnavailable,
    decision_of,
)
from gatepass.ratelimit.policy import Policy, Tier

__all__ = ["Classifier", "RateLimitMiddleware", "RefusalObserver", "always", "by_path_prefix"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Classifier = Callable[[Scope], str | None]
RefusalObserver = Callable[[Scope, str, OAuthError], None]
Headers = list[tuple[bytes, bytes]]

logger = logging.getLogger("gatepass.ratelimit")
_SUBJECTS_MAX = 4096
_MEMO_PATHS, _MEMO_PATH_CHARS = 1024, 256


def always(endpoint_class: str = "api") -> Classifier:
    """Limit every HTTP request under one endpoint class."""
    return lambda scope: endpoint_class


def by_path_prefix(prefixes: Mapping[str, str | None], default: str | None = "api") -> Classifier:
    """Longest matching path prefix wins (``/token`` matches ``/token`` and ``/token/x``).

    A prefix mapped to None is not limited; ``default`` applies to unmatched paths.
    """
    table = sorted(((p.rstrip("/"), c) for p, c in prefixes.items()), key=lambda e: -len(e[0]))
    under = [(prefix, prefix + "/", endpoint_class) for prefix, endpoint_class in table]
    seen: dict[str, str | None] = {}  # path -> class, for the first 1024 paths of <= 256 chars

    def classify(scope: Scope) -> str | None:
        path: str = scope["path"]
        if path in seen:
            return seen[path]
        found = default
        for prefix, subtree, endpoint_class in under:
            if path == prefix or path.startswith(subtree):
                found = endpoint_class
                break
        if len(seen) < _MEMO_PATHS and len(path) <= _MEMO_PATH_CHARS:
            seen[path] = found
        return found

    return classify


class _Compiled:
    """A policy with its constant header bytes: per tier and window, the headers that do not
    change (tier, policy, limit) and the start of ``RateLimit`` (``"name";r=``)."""

    def __init__(self, policy: Policy, limiter: Limiter) -> None:
        self.policy = policy
        self.counters = limiter.local_counters(policy.strategy)  # None: count with ``hit``
        self.fixed: dict[str, tuple[tuple[Headers, bytes], ...]] = {
            name: tuple(
                ([(b"x-ratelimit-tier", name.encode()), (b"ratelimit-policy", _policy(tier)),
                  (b"x-ratelimit-limit", b"%d" % w.limit)], b'"%s";r=' % w.name.encode())
                for w in tier.windows
            )
            for name, tier in policy.tiers.items()
        }  # fmt: skip


class _Subject:
    """Who a request counts against, under which policy: worked out once per hot principal."""

    __slots__ = ("counters", "endpoint", "fixed", "key", "policy", "principal", "windows")

    def __init__(self, principal: object, compiled: _Compiled, endpoint: str, tier: Tier,
                 key: tuple[str, ...]) -> None:
        self.principal, self.endpoint, self.key = principal, endpoint, key
        self.policy, self.counters, self.windows = compiled.policy, compiled.counters, tier.windows
        self.fixed = compiled.fixed[tier.name]

    def headers(self, index: int, remaining: int, reset: float, now: float) -> Headers:
        """The tier's headers plus those of its binding window ``index``."""
        fixed, start = self.fixed[index]
        left = b"%d" % remaining
        wait = math.ceil(reset - now)
        return [
            *fixed,
            (b"x-ratelimit-remaining", left),
            (b"x-ratelimit-reset", b"%d" % math.ceil(reset)),
            (b"ratelimit", b"%b%b;t=%d" % (start, left, wait if wait > 0 else 0)),
        ]


def _binding(lefts: list[int]) -> int:
    """The binding window: the fewest requests left; on a tie, the longer window (windows run
    shortest first)."""
    b = len(lefts) - 1
    for i in range(b - 1, -1, -1):
        if lefts[i] < lefts[b]:
            b = i
    return b


class RateLimitMiddleware:
    """Count each classified HTTP request; answer 429 over budget, else add headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Limiter,
        policy: Policy | None = None,
        policies: Mapping[str, Policy] | None = None,
        classify: Classifier | None = None,
        on_refusal: RefusalObserver | None = None,
        on_fail_open: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self._on_refusal = on_refusal
        self._on_fail_open = on_fail_open
        self.failed_open: Counter[str] = Counter()  # requests let through unlimited, by class
        self._default = _Compiled(policy if policy is not None else Policy(), limiter)
        self._by_class = {c: _Compiled(p, limiter) for c, p in (policies or {}).items()}
        self._classify = classify or always()
        self._now = limiter.clock.now
        # Subjects by id(principal): a hot token's principal is one cached object, so its tier
        # and key are worked out once. The entry holds the principal, so its id cannot be
        # reused while the entry exists.
        self._subjects: dict[int, _Subject] = {}

    def _subject(self, scope: Scope, endpoint: str) -> _Subject:
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        known = self._subjects.get(id(principal))
        if known is not None and known.principal is principal and known.endpoint == endpoint:
            return known
        compiled = self._by_class.get(endpoint, self._default)
        tier, key = subject_for(scope, compiled.policy, endpoint)
        subject = _Subject(principal, compiled, endpoint, tier, key)
        if principal is not None and key[2] == "client":
            if len(self._subjects) >= _SUBJECTS_MAX:
                self._subjects.clear()
            self._subjects[id(principal)] = subject
        return subject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._classify(scope) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        subject = self._subject(scope, endpoint)
        counters = subject.counters
        if counters is not None:  # in this process: count without awaiting
            now = self._now()
            admitted = counters.admit(subject.key, subject.windows, now)
            if admitted is not None:
                await self.app(scope, receive, _adding(subject.headers(*admitted, now), send))
                return
            refused, lefts, resets = counters.hit(subject.key, subject.windows, now)
            decision = decision_of(subject.windows, refused, lefts, resets)
        else:
            try:
                decision = await self.limiter.hit(subject.key, subject.windows,
                                                  subject.policy.strategy)
            except LimiterBusy as exc:
                await self._refuse(scope, endpoint, send, _busy(exc), [])
                return
            except LimiterUnavailable as exc:
                await self._unavailable(subject.policy, endpoint, exc, scope, receive, send)
                return
            now = self.limiter.clock.now()
        lefts = [s.remaining for s in decision.states]
        b = _binding(lefts)
        headers = subject.headers(b, lefts[b], decision.states[b].reset, now)
        if decision.allowed:
            await self.app(scope, receive, _adding(headers, send))
        else:
            await self._refuse(scope, endpoint, send, _refusal(subject.policy, decision, now),
                               headers)

    async def _unavailable(
        self,
        policy: Policy,
        endpoint: str,
        exc: LimiterUnavailable,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        mode = "open" if policy.fail_open else "closed"
        log = logger.warning if exc.first else logger.debug
        log("rate limiting unavailable, failing %s for %r requests", mode, endpoint)
        if policy.fail_open:
            self.failed_open[endpoint] += 1
            if self._on_fail_open is not None:
                self._on_fail_open(endpoint)
            await self.app(scope, receive, send)
            return
        error = TemporarilyUnavailable(
            "Rate limiting is temporarily unavailable; retry shortly",
            headers={"Retry-After": str(max(1, math.ceil(self.limiter.cooldown)))},
        )
        await self._refuse(scope, endpoint, send, error, [])

    async def _refuse(self, scope: Scope, endpoint: str, send: Send, error: OAuthError,
                      headers: Headers) -> None:
        if self._on_refusal is not None:
            try:
                self._on_refusal(scope, endpoint, error)
            except Exception:  # an observer's fault must not turn the refusal into a 500
                logger.exception("rate-limit refusal observer failed")
        await _send_error(send, error, headers)


def _policy(tier: Tier) -> bytes:
    return ", ".join(f'"{w.name}";q={w.limit};w={w.seconds}' for w in tier.windows).encode()


def _refusal(policy: Policy, decision: Decision, now: float) -> RateLimitExceeded:
    assert decision.refused_by is not None
    retry_after = decision.retry_after(now)
    extra: dict[str, Any] = {"retry_after": retry_after}
    if policy.upgrade_url:
        extra["upgrade_url"] = policy.upgrade_url
    return RateLimitExceeded(
        f"Rate limit of {decision.refused_by.describe()} exceeded",
        headers={"Retry-After": str(retry_after)},
        extra=extra,
    )


def _busy(exc: LimiterBusy) -> RateLimitExceeded:
    """Local back-pressure: this request was not counted and is refused on its own."""
    return RateLimitExceeded(
        "Too many requests in progress; retry shortly",
        headers={"Retry-After": str(exc.retry_after)},
        extra={"retry_after": exc.retry_after},
    )


def _adding(headers: Headers, send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]
        await send(message)

    return send_with_headers


async def _send_error(send: Send, error: OAuthError, headers: Headers) -> None:
    body = json.dumps(error.body(), separators=(",", ":")).encode()
    head: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": error.http_status, "headers": head})
    await send({"type": "http.response.body", "body": body})
