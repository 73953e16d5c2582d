"""Per-source gates on the RFC form endpoints (token, introspection, revocation).

* **URL client ids.** A request naming a URL ``client_id`` may make the server fetch a Client ID
  Metadata Document, so such requests are counted per client address (``url_client``: a burst
  of 10 a second and ``url_client_requests_per_ip_per_minute``). Over budget: 429.
* **Failed client authentication.** Every ``invalid_client`` answer is counted per (claimed
  ``client_id``, address) and per address. Past ``auth_failures_per_client_per_minute`` or
  ``auth_failures_per_ip_per_minute``, that pair (or that address) is answered 429 without its
  credentials being checked until the window has room again. The count is per address, so a
  stranger's wrong secrets never lock the client out from its own addresses.

Every 429 is a ``rate_limit.refused`` audit event (endpoint class ``url_client`` or
``auth_failure``, method, path, address, ``retry_after``). Both count with
:class:`~gatepass.ratelimit.Limiter` (memory, or Redis shared by every worker).
Blocks are remembered in this process; a worker that has not seen a source fail lets one more
attempt through, whose failure the shared count refuses. Requests that name no URL client id,
while nothing is blocked, pass without an await or an allocation. Counter storage trouble fails
open (logged by the limiter): the endpoints' own checks still hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gatepass.core.audit import Auditor
from gatepass.core.cimd import is_url_client_id
from gatepass.core.client_auth.secret import named_client
from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError, RateLimitExceeded
from gatepass.keys import peek_claims
from gatepass.ratelimit import Decision, Limiter, LimiterUnavailable, Policy, Window, client_address

__all__ = ["AUTH_FAILURE", "URL_CLIENT", "SourceGates"]

URL_CLIENT = "url_client"
AUTH_FAILURE = "auth_failure"
MAX_BLOCKED = 4096
_REASONS = {URL_CLIENT: "Too many requests naming a URL client_id from this address",
            AUTH_FAILURE: "Too many failed client authentications from this address"}
_MINUTE = 60


class SourceGates:
    """The fetch budget for URL client ids and the failed-authentication throttle."""

    def __init__(self, limiter: Limiter, policy: Policy, *, url_client_per_minute: int,
                 failures_per_client: int, failures_per_source: int,
                 audit: Auditor | None = None) -> None:
        self._limiter = limiter
        self._audit = audit
        self._policy = policy
        self._now = limiter.clock.now
        self._url_client = (Window("burst", min(10, url_client_per_minute), 1),
                            Window("minute", url_client_per_minute, _MINUTE))
        self._per_client = (Window("client", failures_per_client, _MINUTE),)
        self._per_source = (Window("source", failures_per_source, _MINUTE),)
        self._blocked: dict[tuple[str, ...], float] = {}  # key -> until (limiter clock)
        self._last_until = 0.0

    def watching(self, request: OAuthRequest) -> bool:
        """Whether ``admit`` has anything to do (cheap: the fast path stops here)."""
        if self._blocked:
            if self._now() < self._last_until:
                return True
            self._blocked.clear()  # every block has run out
        client_id = request.form.get("client_id")
        return client_id is not None and is_url_client_id(client_id)

    async def admit(self, scope: Mapping[str, Any], request: OAuthRequest) -> None:
        """Before the endpoint runs: ``RateLimitExceeded`` when this source is blocked or over
        its URL-client budget."""
        source = client_address(scope, self._policy)
        if self._blocked:
            now = self._now()
            for key in ((AUTH_FAILURE, "source", source),
                        (AUTH_FAILURE, "client", _claimed(request), source)):
                until = self._blocked.get(key, 0.0)
                if until > now:
                    raise self._refusal(scope, AUTH_FAILURE, source, until - now)
        client_id = request.form.get("client_id")
        if client_id is not None and is_url_client_id(client_id):
            decision = await self._hit((URL_CLIENT, source), self._url_client)
            if decision is not None and not decision.allowed:
                raise self._refusal(scope, URL_CLIENT, source, decision.retry_after(self._now()))

    async def failed(self, scope: Mapping[str, Any], request: OAuthRequest,
                     error: OAuthError) -> OAuthError:
        """After an ``invalid_client`` answer: count it; the 429 to send instead once this
        failure went past a limit, else ``error``."""
        source = client_address(scope, self._policy)
        keys = ((AUTH_FAILURE, "client", _claimed(request), source),
                (AUTH_FAILURE, "source", source))
        wait = 0.0
        for key, windows in zip(keys, (self._per_client, self._per_source), strict=True):
            decision = await self._hit(key, windows)
            if decision is not None and not decision.allowed:
                now = self._now()
                wait = max(wait, decision.retry_after(now))
                self._block(key, now + decision.retry_after(now))
        return self._refusal(scope, AUTH_FAILURE, source, wait) if wait else error

    def _refusal(self, scope: Mapping[str, Any], endpoint: str, source: str,
                 wait: float) -> RateLimitExceeded:
        """The 429 (``Retry-After``, ``retry_after``), audited as ``rate_limit.refused``."""
        seconds = max(1, math.ceil(wait))
        if self._audit is not None:
            self._audit.emit("rate_limit.refused", "failure", reason=RateLimitExceeded.error,
                             endpoint=endpoint, method=scope.get("method"),
                             path=scope.get("path"), address=source, retry_after=seconds)
        return RateLimitExceeded(f"{_REASONS[endpoint]}; retry after {seconds} s",
                                 headers={"Retry-After": str(seconds)},
                                 extra={"retry_after": seconds})

    async def _hit(self, key: tuple[str, ...], windows: tuple[Window, ...]) -> Decision | None:
        try:
            return await self._limiter.hit(key, windows, "sliding-window-counter")
        except LimiterUnavailable:
            return None  # fail open: the endpoint's own checks still apply

    def _block(self, key: tuple[str, ...], until: float) -> None:
        if len(self._blocked) >= MAX_BLOCKED:
            now = self._now()
            self._blocked = {k: u for k, u in self._blocked.items() if u > now}
            while len(self._blocked) >= MAX_BLOCKED:
                del self._blocked[next(iter(self._blocked))]  # the oldest block goes first
        self._blocked[key] = until
        self._last_until = max(self._last_until, until)


def _claimed(request: OAuthRequest) -> str:
    """The client id the request names (body, Basic, or an assertion's unverified ``iss``),
    capped: a counter key, never trusted."""
    value: object = named_client(request)
    if value is None and request.form.get("client_assertion"):
        value = peek_claims(request.form["client_assertion"]).get("iss")
    return value[:256] if isinstance(value, str) else ""
