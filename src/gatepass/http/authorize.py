"""The authorization endpoint over HTTP (RFC 6749 §3.1, §4.1.1-§4.1.2.1; RFC 9700 §4.11-§4.12).

``GET /oauth/authorize`` validates the request (core), sends a signed-out owner to the console
login (coming back afterwards) and shows a signed-in owner the consent page. ``POST`` takes the
owner's decision, CSRF-checked, and answers 303 to the client's redirect URI with a code or
``access_denied``. Errors that must not be redirected are HTML pages; every value a page shows
is escaped by Jinja2's autoescaping. Pages cannot be framed and are never cached.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gatepass.core.authorize import AUTHORIZE_PATH, AuthorizationRequest, RedirectError
from gatepass.core.cimd import CIMD_MARK
from gatepass.errors import AccessDenied, OAuthError, ServerError, TemporarilyUnavailable
from gatepass.http.forms import read_oauth_request
from gatepass.http.outage import storage_failure
from gatepass.http.session import check_csrf, csrf_token, current_owner, login_url
from gatepass.models import Owner
from gatepass.runtime import Runtime
from gatepass.storage.base import StorageError

__all__ = ["authorize_routes"]

log = logging.getLogger("gatepass.http")
Handler = Callable[[Request], Awaitable[Response]]
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")
_TITLES = {400: "This request cannot be authorized", 403: "Forbidden",
           503: "Temporarily unavailable"}
_NOT_PROTOCOL = ("csrf", "decision")


def _headers(redirect_uri: str | None = None) -> dict[str, str]:
    """No caching, no framing, no referrer; forms may post here and (after the 303) go to the
    client's redirect URI origin, which ``form-action`` must allow."""
    origin = ""
    if redirect_uri is not None:
        parts = urlsplit(redirect_uri)
        candidate = f"{parts.scheme}://{parts.netloc}"
        origin = f" {candidate}" if _ORIGIN.fullmatch(candidate) else ""
    csp = ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
           f"form-action 'self'{origin}; frame-ancestors 'none'; base-uri 'none'")
    return {"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Security-Policy": csp,
            "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}


class _Pages:
    def __init__(self, runtime: Runtime) -> None:
        self._config = runtime.server.config
        self._env = Environment(loader=PackageLoader("gatepass.http", "templates/authorize"),
                                autoescape=True, undefined=StrictUndefined)

    def consent(self, request: Request, req: AuthorizationRequest, owner: Owner) -> HTMLResponse:
        client = req.client
        scopes = []
        for name in req.scopes:
            spec = self._config.scope(name)
            scopes.append({"name": name, "description": spec.description if spec else "",
                           "requires_approval": bool(spec and spec.requires_approval)})
        html = self._env.get_template("consent.html").render(
            client_name=client.name, client_id=client.client_id, client_domain=req.client_domain,
            redirect_uri=req.redirect_uri, resources=req.resources, scopes=scopes,
            self_described=bool(client.metadata.get(CIMD_MARK)
                                or client.metadata.get("registered_via")),
            owner_email=owner.email, fields=req.params, csrf=csrf_token(request),
            defaulted=req.defaulted,
            action=AUTHORIZE_PATH)
        return HTMLResponse(html, 200, _headers(req.redirect_uri))

    def error(self, exc: OAuthError) -> HTMLResponse:
        status = 400 if exc.http_status == 401 else exc.http_status
        html = self._env.get_template("error.html").render(
            title=_TITLES.get(status, "Request refused"), message=exc.description,
            error=exc.error, not_redirected=status == 400)
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "retry-after"}
        return HTMLResponse(html, status, {**_headers(), **headers})

    def guard(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except RedirectError as exc:
                return RedirectResponse(exc.location, 303, _headers())
            except OAuthError as exc:
                return self.error(exc)
            except StorageError as exc:
                storage_failure(exc, request.url.path)
                return self.error(TemporarilyUnavailable("Storage is unavailable; retry later",
                                                         headers={"Retry-After": "5"}))
            except Exception:
                log.exception("unexpected error on %s", request.url.path)
                return self.error(ServerError("Internal error"))

        return endpoint


def authorize_routes(runtime: Runtime) -> list[Route]:
    """``GET`` and ``POST`` ``/oauth/authorize``; the app must run the session middleware."""
    authorizer = runtime.server.authorizer
    pages = _Pages(runtime)
    limit = runtime.settings.max_body_bytes

    async def show(request: Request) -> Response:
        query = request.url.query
        req = await authorizer.validate(parse_qsl(query, keep_blank_values=True))
        owner = await current_owner(request, runtime.stores, runtime.server.clock)
        if owner is None:
            return RedirectResponse(login_url(f"{request.url.path}?{query}"), 303, _headers())
        return pages.consent(request, req, owner)

    async def decide(request: Request) -> Response:
        posted = await read_oauth_request(request, limit)
        check_csrf(request, posted.form.get("csrf"))
        owner = await current_owner(request, runtime.stores, runtime.server.clock)
        if owner is None:
            raise AccessDenied("Your session has ended: start again from the application")
        pairs = [(k, v) for k, v in posted.form.items() if k not in _NOT_PROTOCOL]
        req = await authorizer.validate(pairs + [("resource", r) for r in posted.resources])
        if posted.form.get("decision") == "approve":
            location = await authorizer.approve(req, owner.owner_id)
        else:
            location = authorizer.deny(req, owner.owner_id)
        return RedirectResponse(location, 303, _headers())

    return [Route(AUTHORIZE_PATH, pages.guard(show), methods=["GET"]),
            Route(AUTHORIZE_PATH, pages.guard(decide), methods=["POST"])]
