"""The agent client against the real Gatepass app and a resource server built on gatepass.rs.

``stack()`` starts both ASGI apps (lifespans entered) behind one httpx transport that routes by
origin and records every request, so tests can count token requests and read what was sent.
The authorization server and the resource server share a ``FrozenClock`` (``stack.clock``); the
agent keeps its own clock, so moving the servers' time makes the API answer ``token_expired``
to a token the agent still believes fresh.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gatepass.agent import AgentClient
from gatepass.clock import FrozenClock
from gatepass.http.app import create_app
from gatepass.ratelimit import Limiter, Policy, RateLimitMiddleware, Tier, tier_map
from gatepass.rs import BearerAuthMiddleware, ResourceServerConfig, TokenVerifier
from gatepass.rs.starlette import metadata_routes, requires_scopes
from gatepass.runtime import Runtime
from gatepass.settings import Settings

ISSUER = "http://127.0.0.1:8100"
API = "http://127.0.0.1:8200"
TOKEN_PATH = "/oauth/token"


def settings(tmp: Path, issuer: str = ISSUER, api: str = API, **agents: Any) -> Settings:
    return Settings(issuer=issuer, database_url="memory://", data_dir=tmp, development=True,
                    resources=[api], demo_api=False,
                    agents={"free_tier": "agent_standard", "registrations_per_ip_per_hour": 1000,
                            **agents})


def resource_app(issuer: str, api: str, *, clock: FrozenClock | None = None,
                 http: httpx.AsyncClient | None = None, busy_retry_after: int = 120) -> ASGIApp:
    """A small protected API: read:projects, execute:deployments, a rate-limited path."""
    config = ResourceServerConfig(issuer=issuer, resource=api, token_endpoint=issuer + TOKEN_PATH,
                                  jwks_uri=issuer + "/.well-known/jwks.json",
                                  scopes_supported=("read:projects", "execute:deployments"),
                                  revocation="none")
    verifier = TokenVerifier(config, clock=clock, http_client=http)

    @requires_scopes("read:projects")
    async def projects(request: Request) -> Response:
        return JSONResponse({"projects": ["apollo"], "client": request.user.display_name})

    @requires_scopes("execute:deployments")
    async def deploy(request: Request) -> Response:
        return JSONResponse({"status": "queued"}, status_code=202)

    async def busy(request: Request) -> Response:
        return JSONResponse({"error": "rate_limit_exceeded", "error_description": "slow down",
                             "retry_after": busy_retry_after,
                             "upgrade_url": "https://example.com/pricing"},
                            status_code=429, headers={"Retry-After": str(busy_retry_after)})

    routes = [Route("/projects", projects), Route("/limited", projects),
              Route("/deployments", deploy, methods=["POST"]), Route("/busy", busy),
              *metadata_routes(config)]
    tiers = tier_map(Tier("human", per_minute=1, window=1),
                     Tier("agent_standard", per_minute=1, window=1))
    limited = RateLimitMiddleware(
        Starlette(routes=routes), limiter=Limiter("memory://"),
        policy=Policy(tiers=tiers, strategy="moving-window", upgrade_url="https://example.com/up"),
        classify=lambda scope: "api" if scope["path"] == "/limited" else None)
    return BearerAuthMiddleware(limited, verifier)


class Router(httpx.AsyncBaseTransport):
    """Routes requests to ASGI apps by origin and records them (method, URL, body)."""

    def __init__(self) -> None:
        self.apps: dict[str, httpx.ASGITransport] = {}
        self.seen: list[httpx.Request] = []

    def mount(self, origin: str, app: ASGIApp) -> None:
        self.apps[origin] = httpx.ASGITransport(app=app, client=("203.0.113.7", 40_000))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        return await self.apps[origin].handle_async_request(request)

    def count(self, path: str) -> int:
        return sum(1 for r in self.seen if r.url.path == path)


@dataclass
class Stack:
    router: Router
    http: httpx.AsyncClient
    clock: FrozenClock
    runtime: Runtime
    tmp: Path
    agents: list[AgentClient] = field(default_factory=list)

    def agent(self, base_url: str = ISSUER, **kw: Any) -> AgentClient:
        kw.setdefault("max_wait", 3.0)
        kw.setdefault("origins", [API])  # the protected API sits on its own origin
        client = AgentClient(base_url, async_http=self.http, **kw)
        self.agents.append(client)
        return client

    async def registered(self, scopes: str = "read:projects", *, use_keys: bool = False,
                         **agent_kw: Any) -> AgentClient:
        agent = self.agent(**agent_kw)
        await agent.aregister("test-agent", scopes, accept_tos=True, use_keys=use_keys)
        return agent

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.router, base_url=API)


StackFactory = Callable[..., Any]


@pytest.fixture
def stack(tmp_path: Path) -> StackFactory:
    """``async with stack(**agent_settings) as s``."""

    @asynccontextmanager
    async def run(**agents: Any) -> AsyncIterator[Stack]:
        clock = FrozenClock(time.time())
        router = Router()
        http = httpx.AsyncClient(transport=router)
        as_app = create_app(settings(tmp_path, **agents), clock=clock)
        rs_app = resource_app(ISSUER, API, clock=clock, http=http)
        async with LifespanManager(as_app) as a, LifespanManager(rs_app) as r:
            router.mount(ISSUER, a.app)
            router.mount(API, r.app)
            try:
                yield Stack(router, http, clock, as_app.state.runtime, tmp_path)
            finally:
                await http.aclose()

    return run


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: ASGIApp, port: int) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1:``port`` in a thread; stop it on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           loop="asyncio", ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
