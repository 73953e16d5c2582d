"""Console sign-in and sign-out, with per-account and per-address throttling.

Every sign-in attempt is counted *before* the password is checked, so a locked-out guesser learns
nothing more: ``ATTEMPTS_PER_ACCOUNT`` per email and ``ATTEMPTS_PER_ADDRESS`` per client address
within ``WINDOW`` seconds (moving window; memory, or Redis with ``redis_url``). The limiter can
only add, so a successful sign-in counts too. Over budget, or when the counter storage is down
(fail closed), the answer is a 429 (or 503) page with the same generic message.
"""

from __future__ import annotations

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
ATTEMPTS_PER_ACCOUNT = 5
ATTEMPTS_PER_ADDRESS = 20
TOO_MANY = "Too many sign-in attempts. Wait a few minutes and try again."


class LoginThrottle:
    """Counts sign-in attempts per account and per client address."""

    def __init__(self, limiter: Limiter, trusted_proxies: tuple[str, ...] = (), *,
                 per_account: int = ATTEMPTS_PER_ACCOUNT,
                 per_address: int = ATTEMPTS_PER_ADDRESS, window: int = WINDOW) -> None:
        self._limiter = limiter
        self._policy = Policy(trusted_proxies=trusted_proxies)
        self._account = (Window("account", per_account, window),)
        self._address = (Window("address", per_address, window),)

    async def attempt(self, request: Request, email: str) -> None:
        """Count one attempt; ``RateLimitExceeded`` or ``TemporarilyUnavailable`` to refuse."""
        try:
            account = normalise_email(email)
        except InvalidRequest:
            account = email.strip().lower()[:254]
        address = client_address(request.scope, self._policy)
        now = self._limiter.clock.now()
        try:
            by_address = await self._limiter.hit(("console-login", "address", address),
                                                  self._address, "moving-window")
            by_account = await self._limiter.hit(("console-login", "account", account),
                                                 self._account, "moving-window")
        except LimiterUnavailable as exc:
            raise TemporarilyUnavailable("Sign-in is unavailable right now; try again soon",
                                         headers={"Retry-After": "30"}) from exc
        refused = [d for d in (by_address, by_account) if not d.allowed]
        if refused:
            wait = max(d.retry_after(now) for d in refused)
            raise RateLimitExceeded(TOO_MANY, headers={"Retry-After": str(wait)})


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
        sign_in(request, owner)
        return redirect(nxt)

    async def logout(request: Request) -> Response:
        try:
            await console.form(request)
        except OAuthError as exc:
            return pages.error(request, exc)
        sign_out(request)
        console.notice(request, "Signed out.")
        return redirect("/console/login")

    return [Route("/login", show, methods=["GET"]), Route("/login", submit, methods=["POST"]),
            Route("/logout", logout, methods=["POST"])]
