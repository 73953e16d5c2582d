"""The console's shared pieces: its dependencies and the guard every page runs behind.

``Console.page`` wraps a handler: a POST must carry the session's CSRF token (else 403, before
anything else happens); a signed-out visitor is sent to the login page (coming back afterwards);
protocol errors become an HTML error page with their status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gatepass.core.owners import Owners
from gatepass.core.ownership import OwnerView
from gatepass.errors import OAuthError
from gatepass.http.console._pages import Form, Pages, field, read_form
from gatepass.http.session import check_csrf, current_owner, login_url
from gatepass.runtime import Runtime
from gatepass.settings import Settings

__all__ = ["Console", "Endpoint", "Handler", "redirect"]

Handler = Callable[[Request, OwnerView, Form], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def redirect(path: str) -> RedirectResponse:
    """303 See Other: after a form post, the browser GETs ``path``."""
    return RedirectResponse(path, status_code=303)


class Console:
    """What the console's handlers share: the runtime, owner accounts and the page renderer."""

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.pages = Pages()
        self._owners: Owners | None = None

    @property
    def owners(self) -> Owners:
        """Owner accounts (built on first use: the Argon2 dummy hash is made lazily too)."""
        if self._owners is None:
            self._owners = Owners(self.runtime.server, self.runtime.stores.owners)
        return self._owners

    async def form(self, request: Request) -> Form:
        """The posted form, once its CSRF token matches the session's (else 403)."""
        form = await read_form(request)
        check_csrf(request, field(form, "csrf"))
        return form

    def page(self, handler: Handler) -> Endpoint:
        """``handler`` behind CSRF (POST), sign-in and error rendering."""

        async def endpoint(request: Request) -> Response:
            try:
                form = await self.form(request) if request.method == "POST" else {}
                owner = await current_owner(request, self.runtime.stores,
                                            self.runtime.server.clock)
                if owner is None:
                    query = f"?{request.url.query}" if request.url.query else ""
                    back = request.url.path + query if request.method == "GET" else "/console"
                    return redirect(login_url(back))
                view = OwnerView(self.runtime.server, self.runtime.admin, owner)
                return await handler(request, view, form)
            except OAuthError as exc:
                return self.pages.error(request, exc)

        return endpoint

    def notice(self, request: Request, message: str) -> None:
        """A one-line message shown on the next page."""
        request.session["notice"] = message
