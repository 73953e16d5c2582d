"""Loopback targets for the scanner: each app runs in uvicorn on 127.0.0.1 in a thread.

``bare_api`` has no auth story at all; ``hostile_api`` serves malformed and injected documents;
``redirecting_api`` redirects its metadata to another host (``trap``, which counts hits) and
its llms.txt within its own origin; ``slow_api`` never finishes answering.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp

Serve = Callable[[ASGIApp], str]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_on(app: ASGIApp, port: int) -> Iterator[str]:
    """uvicorn on 127.0.0.1:``port`` in a thread; stopped (bounded) on exit."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            loop="asyncio", ws="none", lifespan="auto",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
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


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(app)`` -> base URL; every server stops at the end of the test."""
    stops: list[Any] = []

    def start(app: ASGIApp) -> str:
        ctx = serve_on(app, free_port())
        stops.append(ctx)
        return ctx.__enter__()

    yield start
    for ctx in reversed(stops):
        ctx.__exit__(None, None, None)


def _json(data: Any, status: int = 200) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(data, status)
    return endpoint


def bare_api() -> Starlette:
    """A plain JSON API: no discovery, no llms.txt, no robots.txt, a 401 in plain text."""

    async def private(request: Request) -> Response:
        return PlainTextResponse("Unauthorized", 401)

    return Starlette(routes=[Route("/", _json({"hello": "world"})),
                             Route("/items", _json([{"id": 1}])),
                             Route("/private", private)])


INJECTED = "<script>alert(1)</script>\x1b[31mRED\x1b[0m\u202e"


def hostile_api() -> Starlette:
    """Malformed or hostile documents everywhere a check looks."""

    async def raw(body: bytes, media: str = "application/json", status: int = 200
                  ) -> Response:
        return Response(body, status, media_type=media)

    async def broken(request: Request) -> Response:
        return await raw(b'{"issuer": "http://x", "token_endpoint": ')

    async def robots(request: Request) -> Response:
        return await raw(b"\x00\xff\x1b[2J User-agent: *\nDisallow /\n", "text/plain")

    async def llms(request: Request) -> Response:
        return await raw(b"<!doctype html><html>docs</html>", "text/html")

    async def private(request: Request) -> Response:
        return Response(b"\xff\xfe", 401, headers={"WWW-Authenticate": 'Bearer realm="x", '
                        'resource_metadata="/.well-known/oauth-protected-resource", scope='})

    return Starlette(routes=[
        Route("/", private),
        Route("/.well-known/oauth-authorization-server", broken),
        Route("/.well-known/openid-configuration",
              _json({"issuer": INJECTED, "token_endpoint": 42, "jwks_uri": "ftp://x",
                     "grant_types_supported": "client_credentials",
                     "agent_registration_url": "/relative"})),
        Route("/.well-known/oauth-protected-resource", _json([1, 2, 3])),
        Route("/openapi.json", _json({"openapi": 3, "paths": "none"})),
        Route("/robots.txt", robots), Route("/llms.txt", llms),
    ])


def redirecting_api(trap: str) -> Starlette:
    async def away(request: Request) -> Response:
        return RedirectResponse(trap + request.url.path, 302)

    async def local(request: Request) -> Response:
        return RedirectResponse("/docs/llms.txt", 301)

    async def loop(request: Request) -> Response:
        return RedirectResponse("/robots.txt", 307)

    async def llms(request: Request) -> Response:
        return PlainTextResponse("# Redirected\n\nAuth: OAuth token endpoint; registration.\n")

    return Starlette(routes=[
        Route("/.well-known/oauth-authorization-server", away),
        Route("/.well-known/openid-configuration", away),
        Route("/llms.txt", local), Route("/docs/llms.txt", llms), Route("/robots.txt", loop),
    ])


class Trap:
    """An ASGI app that counts every request it receives."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.hits.append(scope["path"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"issuer": "trap"}'})


def huge_api() -> Starlette:
    """A 2 MB llms.txt and a gzip bomb (16 MB of zeros, ~16 KB on the wire) as metadata."""
    bomb = gzip.compress(b"{" + b" " * (16 * 1024 * 1024) + b"}")

    async def llms(request: Request) -> Response:
        return PlainTextResponse("# Huge\n" + "token " * 350_000)

    async def metadata(request: Request) -> Response:
        return Response(bomb, media_type="application/json",
                        headers={"Content-Encoding": "gzip"})

    return Starlette(routes=[Route("/llms.txt", llms),
                             Route("/.well-known/oauth-authorization-server", metadata),
                             Route("/.well-known/openid-configuration", metadata)])


def slow_api() -> Starlette:
    """Every path hangs; /llms.txt drips one byte every 0.2 s forever."""

    async def hang(request: Request) -> Response:
        for _ in range(600):  # 30 s, or until the scanner gives up and disconnects
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.05)
        return PlainTextResponse("late")

    async def drip(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            while True:
                yield b"#"
                await asyncio.sleep(0.2)
        return StreamingResponse(body(), media_type="text/plain")

    return Starlette(routes=[Route("/llms.txt", drip), Route("/{path:path}", hang)])
