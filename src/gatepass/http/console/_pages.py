"""Rendering for the console: Jinja2 with autoescape always on, security headers, form reading.

Every value a page shows goes through Jinja2's autoescaping (client names come from
registration, so from anyone); nothing is marked safe. ``SecurityHeaders`` wraps the whole
console so redirects, error pages and static files carry the headers too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from gatepass.errors import InvalidRequest, OAuthError
from gatepass.http.session import csrf_token

__all__ = [
    "SECURITY_HEADERS",
    "Form",
    "Pages",
    "SecurityHeaders",
    "field",
    "read_form",
    "safe_next",
    "when",
]

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_RAW = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
MAX_FORM = 16_384
Form = dict[str, list[str]]
ASGIApp = Callable[[MutableMapping[str, Any], Callable[..., Awaitable[Any]],
                    Callable[..., Awaitable[None]]], Awaitable[None]]


class SecurityHeaders:
    """Pure ASGI: set the console's security headers on every response (replacing any)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in _RAW}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + _RAW
            await send(message)

        await self.app(scope, receive, send_with_headers)


def when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


class Pages:
    """The template environment and the one way pages are rendered."""

    def __init__(self) -> None:
        self.env = Environment(loader=PackageLoader("gatepass.http.console", "templates"),
                               autoescape=True, undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters["when"] = when

    def render(self, request: Request, template: str, status: int = 200, *,
               headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        notice = request.session.pop("notice", None)
        html = self.env.get_template(template).render(
            csrf=csrf_token(request), notice=notice if isinstance(notice, str) else None,
            owner=context.pop("owner", None), **context)
        return HTMLResponse(html, status, headers)

    def error(self, request: Request, exc: OAuthError) -> HTMLResponse:
        return self.render(request, "error.html", exc.http_status, headers=exc.headers,
                           title=_TITLES.get(exc.http_status, "Request refused"),
                           message=exc.description)


_TITLES = {400: "Request refused", 403: "Forbidden", 404: "Not found",
           429: "Too many attempts", 503: "Temporarily unavailable"}


async def read_form(request: Request, limit: int = MAX_FORM) -> Form:
    """An urlencoded form body (capped); every field as a list of values. Any other body reads
    as an empty form (so it fails the CSRF check: 403, like any post without the token)."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidRequest("Form too large", status=413)
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("Malformed form") from exc


def field(form: Form, name: str) -> str:
    """One form field ('' when missing)."""
    values = form.get(name)
    return values[0] if values else ""


def safe_next(value: str | None, default: str = "/console") -> str:
    """A same-site path to return to after sign-in; anything else becomes ``default``."""
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)):
        return default
    return value
