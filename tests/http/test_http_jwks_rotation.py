"""A ``private_key_jwt`` client rotates the key behind its ``jwks_uri`` (RFC 7523 §3): the
server, which cached the old document, fetches it again, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from gp_http_kit import Served
from joserfc.jwk import ECKey

ServeFactory = Callable[..., AbstractAsyncContextManager[Served]]


class JwksServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 answering every GET with ``keys``; counts GETs."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.gets = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            self.gets += 1
            body = json.dumps({"keys": self.keys}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    server = JwksServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}/jwks.json"
    async with listening:
        yield server


def es256(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"},
                              private=True)


async def token(served: Served, client_id: str, key: ECKey) -> Any:
    return await served.post("/oauth/token", {
        "grant_type": "client_credentials",
        **served.assertion_form(served.assertion(client_id, key))})


async def test_rfc7523_s3_rotated_key_is_fetched_again_once_per_cooldown(
        serve: ServeFactory, jwks_server: JwksServer) -> None:
    old, new, unknown = es256("old"), es256("new"), es256(secrets.token_hex(4))
    jwks_server.keys = [old.as_dict(private=False)]
    async with serve(development=True) as served:
        client_id, _ = await served.jwt_client(jwks_uri=jwks_server.url)
        assert (await token(served, client_id, old)).status_code == 200
        assert jwks_server.gets == 1
        jwks_server.keys = [new.as_dict(private=False)]  # the client rotates
        response = await token(served, client_id, new)
        assert response.status_code == 200, response.text
        assert jwks_server.gets == 2
        # another unknown key at once: refused, and no fetch (the cooldown bounds them)
        refused = await token(served, client_id, unknown)
        assert refused.status_code == 401
        assert refused.json()["error_description"] == (
            "client_assertion rejected: signature does not verify with any registered key")
        assert jwks_server.gets == 2
        assert (await token(served, client_id, new)).status_code == 200
        assert jwks_server.gets == 2
