"""Console sign-in and sign-out, throttled as the OWASP authentication guidance advises.

Every sign-in attempt is counted *before* the password is checked, so a throttled guesser learns
nothing more (moving windows of ``WINDOW`` seconds; memory, or Redis with ``redis_url``):

- ``ATTEMPTS_PER_SOURCE`` per (account, client address) and ``ATTEMPTS_PER_ADDRESS`` per
  address: over either, that address gets a 429 page with ``Retry-After``;
- ``ATTEMPTS_PER_ACCOUNT`` per account from all addresses together: over it, every attempt on
  the account waits ``ACCOUNT_DELAY`` seconds first, and is never refused, so strangers guessing
  from elsewhere slow the owner down but cannot lock them out.

The limiter can only add, so a successful sign-in counts too. When the counter storage is down
the answer is a 503 page (fail closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gatepass.core.owners import LoginFailed, normalise_email
from gatepass.errors import InvalidRequest, OAuthError, RateLimitExceeded, TemporarilyUnavailable
from gatepass.http.console._app import Console, redirect
from gatepass.http.console._pages import field, safe_next
from gatepass.http.session import sign_in, sign_out
from gatepass.ratelimit import Limiter, LimiterUnavailable, Policy, Window, client_address

__all__ = ["LoginThrottle", "login_routes"]

WINDOW = 900
ATTEMPTS_PER_SOURCE = 5
ATTEMPTS_PER_ADDRESS = 20
ATTEMPTS_PER_ACCOUNT = 30
ACCOUNT_DELAY = 2.0
TOO_MANY = "Too many sign-in attempts. Wait a few minutes and try again."


class LoginThrottle:
    """Counts sign-in attempts per (account, address), per address and per account."""

    def __init__(self, limiter: Limiter, trusted_proxies: tuple[str, ...] = (), *,
                 per_source: int = ATTEMPTS_PER_SOURCE,
                 per_address: int = ATTEMPTS_PER_ADDRESS,
                 per_account: int = ATTEMPTS_PER_ACCOUNT, window: int = WINDOW,
                 delay: float = ACCOUNT_DELAY,
                 sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        self._limiter = limiter
        self._policy = Policy(trusted_proxies=trusted_proxies)
        self._source = (Window("source", per_source, window),)
        self._address = (Window("address", per_address, window),)
        self._account = (Window("account", per_account, window),)
        self._delay = delay
        self._sleep = sleep

    async def attempt(self, request: Request, email: str) -> None:
        """Count one attempt, waiting when the account is over its budget;
        ``RateLimitExceeded`` or ``TemporarilyUnavailable`` to refuse this address."""
        try:
            account = normalise_email(email)
        except InvalidRequest:
            account = email.strip().lower()[:254]
        address = client_address(request.scope, self._policy)
        now = self._limiter.clock.now()
        try:
            by_address = await self._limiter.hit(("console-login", "address", address),
                                                  self._address, "moving-window")
            by_source = await self._limiter.hit(("console-login", "source", account, address),
                                                self._source, "moving-window")
            refused = [d for d in (by_address, by_source) if not d.allowed]
            if refused:
                wait = max(d.retry_after(now) for d in refused)
                raise RateLimitExceeded(TOO_MANY, headers={"Retry-After": str(wait)})
            by_account = await self._limiter.hit(("console-login", "account", account),
                                                 self._account, "moving-window")
        except LimiterUnavailable as exc:
            raise TemporarilyUnavailable("Sign-in is unavailable right now; try again soon",
                                         headers={"Retry-After": "30"}) from exc
        if not by_account.allowed:
            await (self._sleep or _pause)(self._delay)


async def _pause(seconds: float) -> None:
    """The account-wide slow-down (a module function, so tests can watch it)."""
    await asyncio.sleep(seconds)


def login_routes(console: Console, throttle: LoginThrottle) -> list[Route]:
    pages = console.pages

    def form_page(request: Request, nxt: str, status: int = 200, error: str | None = None,
                  email: str = "", headers: dict[str, str] | None = None) -> Response:
        return pages.render(request, "login.html", status, headers=headers, error=error,
                            email=email, next=nxt)

    async def show(request: Request) -> Response:
        return form_page(request, safe_next(request.query_params.get("next")))

    async def submit(request: Request) -> Response:
        try:
            form = await console.form(request)
        except OAuthError as exc:
            return pages.error(request, exc)
        email, nxt = field(form, "email"), safe_next(field(form, "next"))
        try:
            await throttle.attempt(request, email)
            owner = await console.owners.authenticate(email, field(form, "password"))
        except (RateLimitExceeded, TemporarilyUnavailable, LoginFailed) as exc:
            return form_page(request, nxt, exc.http_status, exc.description, email, exc.headers)
        await sign_in(request, console.runtime.stores, console.runtime.server.clock, owner)
        return redirect(nxt)

    async def logout(request: Request) -> Response:
        try:
            await console.form(request)
        except OAuthError as exc:
            return pages.error(request, exc)
        await sign_out(request, console.runtime.stores, console.runtime.server.clock)
        console.notice(request, "Signed out.")
        return redirect("/console/login")

    return [Route("/login", show, methods=["GET"]), Route("/login", submit, methods=["POST"]),
            Route("/logout", logout, methods=["POST"])]
