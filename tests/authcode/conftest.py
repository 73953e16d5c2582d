"""Authorization code flow over HTTP: ``create_app`` through httpx's ASGI transport, lifespan
entered, memory stores, a frozen clock. ``ac`` is a :class:`Browser` whose owner is signed in
through the real ``/console/login`` form; ``docs`` serves client metadata documents from a real
loopback HTTP server (uvicorn in-process) for the CIMD tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gatepass.clock import FrozenClock
from gatepass.core.owners import Owners
from gatepass.http.app import create_app
from gatepass.models import Owner
from gatepass.runtime import Runtime
from gatepass.settings import Settings
from gatepass.storage.memory import open_memory_stores

ISSUER = "https://as.example.com"
API = "https://api.example.com"
APP_REDIRECT = "https://app.example.com/callback"
NATIVE_REDIRECT = "http://127.0.0.1/callback"
EMAIL = "owner@example.com"
PASSWORD = "correct horse battery"
SCOPE = "read:projects write:projects"


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge) per RFC 7636 §4.1-§4.2."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query(location: str) -> dict[str, str]:
    """The single-valued query parameters of a redirect."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class _Forms(HTMLParser):
    """Every ``<input>`` of a page as (name, value), and the page's visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            a = dict(attrs)
            if a.get("name"):
                self.inputs.append((a["name"] or "", a.get("value") or ""))


def inputs(html: str) -> list[tuple[str, str]]:
    parser = _Forms()
    parser.feed(html)
    return parser.inputs


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    agents = {"free_tier": "agent_free", "registrations_per_ip_per_hour": 1000,
              **overrides.pop("agents", {})}
    values: dict[str, Any] = {
        "issuer": ISSUER, "database_url": "memory://", "data_dir": tmp_path, "resources": [API],
        "key_encryption_keys": [Fernet.generate_key().decode()],
        "secret_pepper": secrets.token_hex(32), "agents": agents, "demo_api": False,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Browser:
    """The owner's browser and the client's HTTP stack (one httpx client, cookies kept)."""

    http: httpx.AsyncClient
    rt: Runtime
    clock: FrozenClock
    owner: Owner | None = None
    owners: list[Owner] = field(default_factory=list)

    async def create_owner(self, email: str = EMAIL, password: str = PASSWORD) -> Owner:
        owner = await Owners(self.rt.server, self.rt.stores.owners).create(
            email, password, actor="test")
        self.owners.append(owner)
        return owner

    async def sign_in(self, email: str = EMAIL, password: str = PASSWORD) -> None:
        page = await self.http.get("/console/login")
        csrf = dict(inputs(page.text))["csrf"]
        resp = await self.http.post("/console/login", data={
            "csrf": csrf, "email": email, "password": password, "next": "/console"})
        assert resp.status_code == 303, resp.text

    async def register(self, **meta: Any) -> dict[str, Any]:
        """RFC 7591 registration; a public loopback client unless ``meta`` says otherwise."""
        body = {"client_name": "Test MCP client", "redirect_uris": [NATIVE_REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"], "token_endpoint_auth_method": "none",
                "scope": SCOPE, **meta}
        body = {k: v for k, v in body.items() if v is not None}  # None: leave it out
        resp = await self.http.post("/oauth/register", json=body)
        assert resp.status_code == 201, resp.text
        doc: dict[str, Any] = resp.json()
        return doc

    @staticmethod
    def params(client_id: str, challenge: str, redirect_uri: str = NATIVE_REDIRECT,
               **extra: str | None) -> dict[str, str]:
        values: dict[str, str | None] = {
            "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
            "code_challenge": challenge, "code_challenge_method": "S256", "scope": SCOPE,
            "state": "st-" + secrets.token_hex(4), **extra}
        return {k: v for k, v in values.items() if v is not None}

    async def authorize(self, params: Mapping[str, str] | list[tuple[str, str]]
                        ) -> httpx.Response:
        items = list(params.items()) if isinstance(params, Mapping) else params
        return await self.http.get("/oauth/authorize?" + urlencode(items))

    async def decide(self, page: httpx.Response, decision: str = "approve",
                     **changes: str) -> httpx.Response:
        """Submit the consent form of ``page`` (with fields changed as told)."""
        assert page.status_code == 200, page.text
        fields = [(k, changes.pop(k, v)) for k, v in inputs(page.text)]
        fields += [*changes.items(), ("decision", decision)]
        return await self.http.post("/oauth/authorize", content=urlencode(fields), headers={
            "content-type": "application/x-www-form-urlencoded"})

    async def code(self, client_id: str, redirect_uri: str = NATIVE_REDIRECT,
                   **extra: str | None) -> tuple[str, str]:
        """(code, verifier) after the owner approves."""
        verifier, challenge = pkce()
        page = await self.authorize(self.params(client_id, challenge, redirect_uri, **extra))
        resp = await self.decide(page)
        assert resp.status_code == 303, resp.text
        got = query(resp.headers["location"])
        assert "code" in got, got
        return got["code"], verifier

    async def exchange(self, client_id: str, code: str, verifier: str | None,
                       redirect_uri: str = NATIVE_REDIRECT, auth: tuple[str, str] | None = None,
                       **extra: str) -> httpx.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                **({"code_verifier": verifier} if verifier is not None else {}), **extra}
        if auth is None:
            form["client_id"] = client_id
        return await self.http.post("/oauth/token", data=form, auth=auth)

    async def refresh(self, client_id: str, token: str, **extra: str) -> httpx.Response:
        return await self.http.post("/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": token, "client_id": client_id,
            **extra})

    def claims(self, access_token: str) -> dict[str, Any]:
        claims = self.rt.server.keyring.verify(access_token)
        assert claims is not None
        return claims


@asynccontextmanager
async def browser(settings: Settings, clock: FrozenClock) -> AsyncIterator[Browser]:
    app = create_app(settings, clock=clock, stores=open_memory_stores(clock))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as http:
            yield Browser(http, app.state.runtime, clock)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def ac(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Browser]:
    """A server with a signed-in owner."""
    async with browser(settings_for(tmp_path), clock) as b:
        b.owner = await b.create_owner()
        await b.sign_in()
        yield b


# --- a loopback server for client metadata documents -------------------------------------


@dataclass
class Doc:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    delay: float = 0.0


class DocServer:
    """Serves ``docs[path]``; counts requests per path."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.docs: dict[str, Doc] = {}
        self.hits: dict[str, int] = {}

    def url(self, path: str) -> str:
        return self.base + path

    def put(self, path: str, body: bytes | Mapping[str, Any], status: int = 200,
            **headers: str) -> str:
        import json

        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.docs[path] = Doc(raw, status, {"content-type": "application/json",
                                            **{k.replace("_", "-"): v for k, v in headers.items()}})
        return self.url(path)

    async def endpoint(self, request: Request) -> Response:
        path = request.url.path
        self.hits[path] = self.hits.get(path, 0) + 1
        doc = self.docs.get(path)
        if doc is None:
            return Response(b"not found", 404)
        await asyncio.sleep(doc.delay)
        return Response(doc.body, doc.status, doc.headers)


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serve_app(app: Any, sock: socket.socket, **ssl: Any) -> AsyncIterator[None]:
    """Run ``app`` with uvicorn on ``sock`` inside this event loop; always stopped."""
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", **ssl)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.fixture
async def docs() -> AsyncIterator[DocServer]:
    sock = bound_socket()
    server = DocServer(sock.getsockname()[1])
    app = Starlette(routes=[Route("/{path:path}", server.endpoint)])
    async with serve_app(app, sock):
        yield server
