"""The request deadline middleware on a real server: a request unanswered by its deadline gets
503 ``temporarily_unavailable`` with ``Retry-After``; a body shorter than its Content-Length
gets 408 JSON once the body timeout passes; a timely request and a started stream are untouched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gatepass.http.deadline import DeadlineMiddleware

DEADLINE, BODY_TIMEOUT = 1.0, 0.5


async def _slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("for", "30")))
    return JSONResponse({"slept": True})


async def _echo(request: Request) -> Response:
    return JSONResponse({"length": len(await request.body())})


async def _stream(request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for i in range(3):
            yield b"part%d\n" % i
            await asyncio.sleep(DEADLINE / 2)

    return StreamingResponse(parts(), media_type="text/plain")


APP = DeadlineMiddleware(Starlette(routes=[
    Route("/slow", _slow), Route("/echo", _echo, methods=["POST"]), Route("/stream", _stream),
]), deadline=DEADLINE, body_timeout=BODY_TIMEOUT)


@pytest.fixture
async def server() -> AsyncIterator[int]:
    config = uvicorn.Config(APP, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(200):
        if served.started:
            break
        await asyncio.sleep(0.02)
    port: int = served.servers[0].sockets[0].getsockname()[1]
    yield port
    served.should_exit = True
    await asyncio.wait_for(task, 10)


async def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    async with asyncio.timeout(20):
        data = await reader.read()  # the server closes or answers with Content-Length
        while b"\r\n\r\n" not in data:
            data += await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


async def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    return await _raw(port, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                      .encode())


async def test_a_request_past_its_deadline_gets_503_json(server: int) -> None:
    status, headers, body = await _get(server, "/slow")
    assert status == 503
    assert headers["retry-after"] == "1"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "temporarily_unavailable", "error_description":
                                "The server could not answer in time; retry shortly"}


async def test_a_request_within_its_deadline_is_answered(server: int) -> None:
    status, _, body = await _get(server, "/slow?for=0.05")
    assert (status, json.loads(body)) == (200, {"slept": True})


async def test_a_short_body_gets_408_json(server: int) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
    status, headers, body = await _raw(server, head + b"only ten b")
    assert status == 408
    assert json.loads(body) == {"error": "invalid_request", "error_description":
                                f"Request body not received within {BODY_TIMEOUT:g} s"}
    assert headers["content-type"] == "application/json"


async def test_a_whole_body_is_read(server: int) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
    status, _, body = await _raw(server, head + b"0123456789")
    assert (status, json.loads(body)) == (200, {"length": 10})


async def test_a_started_stream_outlives_the_deadline(server: int) -> None:
    status, _, body = await _get(server, "/stream")
    assert status == 200
    parts = [line for line in body.split(b"\r\n") if line.startswith(b"part")]
    assert parts == [b"part0\n", b"part1\n", b"part2\n"]  # the last came after the deadline
