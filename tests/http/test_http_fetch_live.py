"""Fetching client-supplied URLs over real sockets on 127.0.0.1.

* A ``private_key_jwt`` client rotates the key behind its ``jwks_uri`` (RFC 7523 §3): the
  server, which cached the old document, fetches it again.
* A fetch goes to the address the SSRF check resolved, never to a second DNS answer, with the
  URL's host name in ``Host``, SNI and the certificate check. The host names here end in
  ``.test`` (RFC 6761: no DNS server answers for them), and only the check's resolver is told
  where they live: a client that resolved them again could not connect at all.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from gp_http_kit import Served
from joserfc.jwk import ECKey

from gatepass.http import fetch
from gatepass.http.cimd_fetch import CimdFetcher
from gatepass.http.fetch import SafeJwksFetcher, UnsafeUrl
from gp_tls import certificates

ServeFactory = Callable[..., AbstractAsyncContextManager[Served]]


class JwksServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 answering every GET with ``keys``; counts GETs and
    keeps the requests' heads."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.gets = 0
        self.heads: list[bytes] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.heads.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
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


PINNED = "jwks.gatepass.test"


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Only the SSRF check knows where ``PINNED`` lives (127.0.0.1); the names it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host != PINNED:
            raise OSError(f"unknown host {host}")
        return ["127.0.0.1"]

    monkeypatch.setattr(fetch, "_resolve", resolve)
    return asked


async def tls_server(tmp_path: Path, name: str, server: JwksServer
                     ) -> tuple[asyncio.Server, ssl.SSLContext]:
    """``server`` over TLS with a certificate for ``name``; the context that trusts its CA."""
    ca, cert, key = certificates(tmp_path, name)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    port = listening.sockets[0].getsockname()[1]
    server.url = f"https://{PINNED}:{port}/jwks.json"
    return listening, ssl.create_default_context(cafile=ca)


@pytest.mark.parametrize("fetcher", [SafeJwksFetcher, CimdFetcher])
async def test_fetches_go_to_the_checked_address_with_the_host_name_in_tls(
        tmp_path: Path, resolver: list[str], fetcher: Any) -> None:
    server = JwksServer()
    server.keys = [es256("k").as_dict(private=False)]
    listening, trust = await tls_server(tmp_path, PINNED, server)
    async with listening, httpx.AsyncClient(verify=trust) as client:
        document = await fetcher(client, development=True)(server.url)
    assert document["keys"][0]["kid"] == "k"
    assert resolver == [PINNED]  # resolved once, by the check
    head = server.heads[0].decode().lower()
    assert f"host: {server.url.split('/')[2]}\r\n" in head  # the name, not the address
    assert "connection: close\r\n" in head


async def test_a_certificate_for_another_name_is_refused(tmp_path: Path,
                                                         resolver: list[str]) -> None:
    server = JwksServer()
    listening, trust = await tls_server(tmp_path, "other.gatepass.test", server)
    async with listening, httpx.AsyncClient(verify=trust) as client:
        with pytest.raises(UnsafeUrl, match="ConnectError") as refused:
            await SafeJwksFetcher(client, development=True)(server.url)
    assert isinstance(refused.value.__cause__, httpx.ConnectError)
    assert "certificate" in str(refused.value.__cause__)
    assert server.gets == 0
