"""Helpers for the outbound-fetch and throttling attacks (items 2, 4, 15 of issue 13): the real
server under uvicorn on 127.0.0.1, raw loopback servers that answer well, badly or slowly, and
``private_key_jwt`` clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from authcode.conftest import serve_app, settings_for
from gatepass.core.client_auth.private_key_jwt import ASSERTION_TYPE
from gatepass.http.app import create_app
from gatepass.runtime import Runtime
from gatepass.settings import Settings
from gatepass.storage.memory import open_memory_stores

TOKEN_ENDPOINT = "https://as.example.com/oauth/token"


def es256() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": secrets.token_hex(4), "alg": "ES256",
                                                   "use": "sig"}, private=True)


def assertion_form(client_id: str, key: ECKey) -> dict[str, str]:
    """A fresh RFC 7523 client assertion (real time: these servers run on the system clock)."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_ENDPOINT, "exp": now + 60,
              "iat": now, "jti": secrets.token_hex(8)}
    token = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


@dataclass
class Live:
    """The authorization server on a loopback port, its runtime and an HTTP client to it."""

    http: httpx.AsyncClient
    rt: Runtime
    settings: Settings

    async def secret_client(self) -> tuple[str, str]:
        created = await self.rt.admin.create_client("svc", "read:projects")
        assert created.secret is not None
        return created.client.client_id, created.secret

    async def jwt_client(self, jwks_uri: str) -> str:
        created = await self.rt.admin.create_client("agent", "read:projects", jwks_uri=jwks_uri)
        return created.client.client_id


@asynccontextmanager
async def live_server(tmp_path: Path, **overrides: Any) -> AsyncIterator[Live]:
    """``create_app`` (development mode: http and loopback URLs may be fetched) under uvicorn."""
    settings = settings_for(tmp_path, development=True, **overrides)
    app = create_app(settings, stores=open_memory_stores())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    limits = httpx.Limits(max_connections=500)  # the tests' own traffic never queues here
    async with serve_app(app, sock), httpx.AsyncClient(base_url=base, timeout=60,
                                                       limits=limits) as http:
        yield Live(http, app.state.runtime, settings)


class Gauge:
    """Connections open across several servers; ``reach(n)`` waits until there are ``n``."""

    def __init__(self) -> None:
        self.value = 0
        self._changed = asyncio.Condition()

    async def add(self, delta: int) -> None:
        async with self._changed:
            self.value += delta
            self._changed.notify_all()

    async def reach(self, n: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.value >= n)


@dataclass
class RawServer:
    """A loopback HTTP/1.1 server: ``body`` answered at once, or ``slow`` (an endless body, one
    byte a second); counts requests and bytes sent, tracks open connections."""

    host: str = "127.0.0.1"
    status: int = 200
    body: bytes = b""
    slow: bool = False
    requests: int = 0
    open: int = 0
    peak: int = 0
    sent: int = 0
    finished: int = 0
    port: int = 0
    gauge: Gauge | None = None
    _server: asyncio.Server | None = field(default=None, repr=False)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def url(self, path: str = "/doc.json") -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.open += 1
        self.peak = max(self.peak, self.open)
        if self.gauge is not None:
            await self.gauge.add(1)
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            self.requests += 1
            if self.slow:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\n\r\n")  # the body ends when it closes
                for _ in range(120):  # bounded: two minutes at most
                    writer.write(b" ")
                    await writer.drain()
                    self.sent += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), 1)
                    if self._stop.is_set():
                        return
            else:
                writer.write(b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
                             % (self.status, len(self.body), self.body))
                await writer.drain()
            self.finished += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away: what the deadline does to a slow answer
        finally:
            self.open -= 1
            if self.gauge is not None:
                await self.gauge.add(-1)
            self._handlers.discard(task)
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self.handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._stop.set()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()


def jwks_body(key: ECKey) -> bytes:
    return json.dumps({"keys": [key.as_dict(private=False)]}).encode()


def cimd_body(url: str) -> bytes:
    return json.dumps({"client_id": url, "redirect_uris": ["http://127.0.0.1/callback"],
                       "token_endpoint_auth_method": "none"}).encode()
