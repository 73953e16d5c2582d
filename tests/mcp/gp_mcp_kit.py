"""Helpers for the MCP example tests: servers on loopback, MCP clients, an owner's browser.

``start_stack`` runs the authorization server (``create_app``: memory stores, development mode,
``resources`` = the MCP server's URL, otherwise default settings: billing required for
unattended clients, only the per-IP registration limit raised) and
``examples.mcp_server`` with uvicorn on free loopback ports in this event loop, and stops both.
``connect(url, auth)`` opens the official MCP client over Streamable HTTP with an ``httpx2.Auth``
(an SDK OAuth provider, or a fixed bearer token) and a ``Recorder`` transport that notes every
exchange. Every network wait is bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx2
import uvicorn
from cryptography.fernet import Fernet
from examples.mcp_server import create_app as create_mcp_app
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult

from gatepass.clock import SystemClock
from gatepass.core.admin import CreatedClient
from gatepass.core.billing import issue_billing_token
from gatepass.core.owners import Owners
from gatepass.demo import DemoData
from gatepass.http.app import create_app
from gatepass.runtime import Runtime
from gatepass.settings import Settings
from mcp import Client

ALL_SCOPES = "read:projects write:projects read:analytics execute:deployments"
TIMEOUT = 20.0
OWNER_EMAIL, OWNER_PASSWORD = "owner@example.com", "correct horse battery"


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serve(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    """Run ``app`` with uvicorn on ``sock`` in this event loop; always stopped."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="none"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(int(TIMEOUT / 0.01)):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)
        sock.close()


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    challenge: str | None
    request: httpx2.Request


class Recorder(httpx2.AsyncBaseTransport):
    """Sends over the network and records every exchange."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.seen: list[Exchange] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        self.seen.append(Exchange(request.method, request.url.path, response.status_code,
                                  response.headers.get("www-authenticate"), request))
        return response

    def at(self, path: str) -> list[Exchange]:
        return [e for e in self.seen if e.path == path]

    def form(self, exchange: Exchange) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(exchange.request.content.decode()).items()}

    async def aclose(self) -> None:
        await self.inner.aclose()


class BearerAuth(httpx2.Auth):
    """A fixed access token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


@asynccontextmanager
async def connect(url: str, auth: httpx2.Auth | None, recorder: Recorder | None = None,
                  mode: str = "auto") -> AsyncIterator[Client]:
    """An MCP client session over Streamable HTTP (the SDK's own client and transport)."""
    with anyio.fail_after(TIMEOUT):
        async with httpx2.AsyncClient(auth=auth, transport=recorder or Recorder(),
                                      timeout=TIMEOUT) as http, \
                Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything inside it (exception groups, causes)."""
    found, todo = [], [exc]
    while todo:
        item = todo.pop()
        found.append(item)
        todo.extend(getattr(item, "exceptions", ()))
        todo.extend(e for e in (item.__cause__, item.__context__) if e is not None)
    return found


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name"):
            self.fields.append((named["name"] or "", named.get("value") or ""))


def inputs(html: str) -> list[tuple[str, str]]:
    parser = _Inputs()
    parser.feed(html)
    return parser.fields


class OwnerBrowser:
    """The resource owner's browser: signed in to the console, approves consent pages.

    ``redirect_handler``/``callback_handler`` plug into the SDK's ``OAuthClientProvider``.
    """

    def __init__(self, issuer: str) -> None:
        self.http = httpx2.AsyncClient(base_url=issuer, timeout=TIMEOUT)
        self.result: AuthorizationCodeResult | None = None
        self.consents: list[dict[str, str]] = []

    async def sign_in(self) -> None:
        page = await self.http.get("/console/login")
        form = {"csrf": dict(inputs(page.text))["csrf"], "email": OWNER_EMAIL,
                "password": OWNER_PASSWORD, "next": "/console"}
        assert (await self.http.post("/console/login", data=form)).status_code == 303

    async def redirect_handler(self, authorization_url: str) -> None:
        self.consents.append({k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query)
                              .items()})
        page = await self.http.get(authorization_url)
        assert page.status_code == 200, page.headers.get("location") or page.text
        fields = [*inputs(page.text), ("decision", "approve")]
        answer = await self.http.post("/oauth/authorize", content=urlencode(fields), headers={
            "content-type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 303, answer.text
        got = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
        self.result = AuthorizationCodeResult(code=got["code"], state=got.get("state"),
                                              iss=got.get("iss"))

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the owner did not approve"
        result, self.result = self.result, None
        return result


@dataclass
class Stack:
    issuer: str
    mcp_url: str
    runtime: Runtime
    data: DemoData

    async def client(self, scopes: str = ALL_SCOPES, *, resources: list[str] | None = None,
                     **fields: Any) -> CreatedClient:
        """A client made by the operator (as ``gatepass clients create --resource <mcp_url>``)."""
        return await self.runtime.admin.create_client(
            "mcp-agent-" + secrets.token_hex(3), scopes,
            resources=[self.mcp_url] if resources is None else resources, **fields)

    async def register(self, **meta: Any) -> dict[str, Any]:
        """An RFC 7591 registration (``POST /oauth/register``) paid with a fresh billing token
        sent as the initial access token, for this MCP server's resource."""
        token, _ = await issue_billing_token(self.runtime.stores.billing, SystemClock(),
                                             tier="agent_standard")
        body = {"client_name": "mcp-agent", "scope": ALL_SCOPES, **meta}
        async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
            resp = await http.post(self.issuer + "/oauth/register", json=body,
                                   headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 201, resp.text
        doc: dict[str, Any] = resp.json()
        return doc

    async def token(self, client: CreatedClient, scope: str, resource: str | None) -> str:
        """An access token from ``POST /oauth/token`` (client credentials, secret in Basic)."""
        form = {"grant_type": "client_credentials", "scope": scope}
        if resource is not None:
            form["resource"] = resource
        assert client.secret is not None
        async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
            resp = await http.post(self.issuer + "/oauth/token", data=form,
                                   auth=(client.client.client_id, client.secret))
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["access_token"]
        return token

    def claims(self, access_token: str) -> dict[str, Any]:
        claims = self.runtime.server.keyring.verify(access_token)
        assert claims is not None
        return dict(claims)

    @asynccontextmanager
    async def owner_browser(self) -> AsyncIterator[OwnerBrowser]:
        """A signed-in owner (created now) approving every consent page."""
        await Owners(self.runtime.server, self.runtime.stores.owners).create(
            OWNER_EMAIL, OWNER_PASSWORD, actor="test")
        browser = OwnerBrowser(self.issuer)
        try:
            await browser.sign_in()
            yield browser
        finally:
            await browser.http.aclose()


def as_settings(tmp: Path, issuer: str, resources: list[str]) -> Settings:
    return Settings(issuer=issuer, database_url="memory://", data_dir=tmp, development=True,
                    resources=resources, demo_api=False, demo_client=False,
                    key_encryption_keys=[Fernet.generate_key().decode()],
                    secret_pepper=secrets.token_hex(32),
                    agents={"registrations_per_ip_per_hour": 1000})  # else the defaults


@asynccontextmanager
async def start_stack(tmp: Path) -> AsyncIterator[Stack]:
    """Gatepass and the MCP server, running on loopback until the block ends."""
    as_sock, mcp_sock = bound_socket(), bound_socket()
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    mcp_url = f"http://127.0.0.1:{mcp_sock.getsockname()[1]}/mcp"
    as_app = create_app(as_settings(tmp, issuer, [mcp_url]))
    data = DemoData(SystemClock())
    async with serve(as_app, as_sock), serve(create_mcp_app(issuer, mcp_url, data=data), mcp_sock):
        yield Stack(issuer, mcp_url, as_app.state.runtime, data)
