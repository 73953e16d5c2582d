"""Owner sessions for the console and the consent page.

The browser holds a signed cookie (itsdangerous via Starlette's SessionMiddleware) —
``HttpOnly``, ``SameSite=Lax``, ``Secure`` outside development — with a per-session CSRF token
checked on every form post. Being signed in is server-side: the cookie names a session by a
random id whose SHA-256 is a row of the configured store (``Stores.sessions``), so signing out, a
password change or disabling the owner ends every session of that owner, and a copy of an old
cookie opens nothing.
"""

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
from gatepass.models import ConsoleSession

if TYPE_CHECKING:
    from gatepass.clock import Clock
    from gatepass.models import Owner
    from gatepass.storage.base import Stores

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
_SESSION = "sid"
_CSRF = "csrf"


def session_secret(pepper: bytes) -> str:
    """The cookie-signing key, derived from the server pepper (no extra secret to manage)."""
    return hmac.new(pepper, b"gatepass-session-v1", hashlib.sha256).hexdigest()


def session_middleware(pepper: bytes, *, development: bool) -> Middleware:
    return Middleware(SessionMiddleware, secret_key=session_secret(pepper), session_cookie=COOKIE,
                      max_age=SESSION_MAX_AGE, same_site="lax", https_only=not development)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def current_owner(request: Request, stores: Stores, clock: Clock) -> Owner | None:
    """The owner of the cookie's live session if enabled, or None."""
    session_id = request.session.get(_SESSION)
    if not isinstance(session_id, str):
        return None
    session = await stores.sessions.get_session(_digest(session_id), clock.now())
    if session is None:
        return None
    owner = await stores.owners.get_owner(session.owner_id)
    return owner if owner is not None and not owner.disabled else None


async def sign_in(request: Request, stores: Stores, clock: Clock, owner: Owner) -> None:
    """Start a fresh server-side session for ``owner`` (new id and CSRF token: no fixation)."""
    old = request.session.get(_SESSION)
    if isinstance(old, str):
        await stores.sessions.delete_session(_digest(old))
    session_id = secrets.token_urlsafe(32)
    now = clock.now()
    await stores.sessions.add_session(ConsoleSession(
        digest=_digest(session_id), owner_id=owner.owner_id, created_at=now,
        expires_at=now + SESSION_MAX_AGE))
    request.session.clear()
    request.session[_SESSION] = session_id
    request.session[_CSRF] = secrets.token_urlsafe(32)


async def sign_out(request: Request, stores: Stores, clock: Clock) -> None:
    """End every session of the signed-in owner (all devices), and clear this cookie."""
    session_id = request.session.get(_SESSION)
    if isinstance(session_id, str):
        session = await stores.sessions.get_session(_digest(session_id), clock.now())
        await stores.sessions.delete_session(_digest(session_id))
        if session is not None:
            await stores.sessions.delete_owner_sessions(session.owner_id)
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
