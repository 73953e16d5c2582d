"""Owner sessions for the console and the consent page: a signed cookie (itsdangerous via
Starlette's SessionMiddleware) — ``HttpOnly``, ``SameSite=Lax``, ``Secure`` outside
development — plus a per-session CSRF token checked on every form post."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from gatepass.errors import AccessDenied

if TYPE_CHECKING:
    from gatepass.models import Owner
    from gatepass.storage.base import OwnerStore

__all__ = [
    "LOGIN_PATH",
    "check_csrf",
    "csrf_token",
    "current_owner",
    "login_url",
    "session_middleware",
    "sign_in",
    "sign_out",
]

COOKIE = "gatepass_session"
LOGIN_PATH = "/console/login"
SESSION_MAX_AGE = 8 * 3600
_OWNER = "owner_id"
_CSRF = "csrf"


def session_secret(pepper: bytes) -> str:
    """The cookie-signing key, derived from the server pepper (no extra secret to manage)."""
    return hmac.new(pepper, b"gatepass-session-v1", hashlib.sha256).hexdigest()


def session_middleware(pepper: bytes, *, development: bool) -> Middleware:
    return Middleware(SessionMiddleware, secret_key=session_secret(pepper), session_cookie=COOKIE,
                      max_age=SESSION_MAX_AGE, same_site="lax", https_only=not development)


async def current_owner(request: Request, owners: OwnerStore) -> Owner | None:
    """The signed-in, enabled owner, or None."""
    owner_id = request.session.get(_OWNER)
    if not isinstance(owner_id, str):
        return None
    owner = await owners.get_owner(owner_id)
    return owner if owner is not None and not owner.disabled else None


def sign_in(request: Request, owner: Owner) -> None:
    """Start a fresh session for ``owner`` (new CSRF token: no fixation)."""
    request.session.clear()
    request.session[_OWNER] = owner.owner_id
    request.session[_CSRF] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use), to embed in every form."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


def check_csrf(request: Request, submitted: object) -> None:
    """403 ``access_denied`` unless ``submitted`` equals the session's token (constant time)."""
    expected = request.session.get(_CSRF)
    if not (isinstance(expected, str) and isinstance(submitted, str)
            and hmac.compare_digest(expected, submitted)):
        raise AccessDenied("Invalid or missing CSRF token")


def login_url(next_path: str) -> str:
    """Where to send a signed-out owner; they come back to ``next_path`` (same-site only)."""
    same_site = next_path.startswith("/") and not next_path.startswith(("//", "/\\"))
    safe = next_path if same_site else "/console"
    return f"{LOGIN_PATH}?next={quote(safe, safe='')}"
