"""The owner web console at ``/console`` (DESIGN §5): server-rendered, no JavaScript.

``console_routes(runtime, settings, limiter)`` returns the routes to add to the app; the app
must run the session middleware (``gatepass.http.session``). Every console response carries
the security headers of ``_pages.SECURITY_HEADERS``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from gatepass.http.console._app import Console
from gatepass.http.console._pages import SecurityHeaders
from gatepass.http.console.agents import agent_routes
from gatepass.http.console.keys import key_routes
from gatepass.http.console.login import LoginThrottle, login_routes
from gatepass.ratelimit import Limiter
from gatepass.runtime import Runtime
from gatepass.settings import Settings

__all__ = ["CONSOLE_PATH", "LoginThrottle", "console_routes"]

CONSOLE_PATH = "/console"


def console_routes(runtime: Runtime, settings: Settings, limiter: Limiter) -> list[BaseRoute]:
    """``/console`` and everything under it; ``limiter`` counts sign-in attempts."""
    console = Console(runtime, settings)
    throttle = LoginThrottle(limiter, tuple(settings.agents.trusted_proxies))
    static = StaticFiles(packages=[("gatepass.http.console", "static")])
    router = Router([*login_routes(console, throttle), *agent_routes(console),
                     *key_routes(console), Mount("/static", app=static, name="static")],
                    redirect_slashes=False)  # a slash redirect would be built from Host
    home = next(r for r in router.routes if isinstance(r, Route) and r.path == "/")
    # The dashboard is also served at "/console" itself (no redirect to "/console/").
    return [Route(CONSOLE_PATH, SecurityHeaders(home.app), methods=["GET"]),
            Mount(CONSOLE_PATH, app=SecurityHeaders(router))]
