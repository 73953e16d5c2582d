"""``gatepass serve`` bounds inbound connections (issue 13, item 15): an idle keep-alive
connection is closed after ``http_keep_alive_timeout`` and a request head larger than
``http_max_header_bytes`` is refused (h11), while ordinary requests and keep-alive reuse work.
Raw sockets on 127.0.0.1 against the real process."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from tests.e2e.serving import Served, serving

pytestmark = pytest.mark.slow
READ_LIMIT = 15.0  # bounds each socket read; the keep-alive timeout under test is 1 s


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("limits"), GATEPASS_HTTP_KEEP_ALIVE_TIMEOUT="1") as s:
        yield s


def connect(served: Served) -> socket.socket:
    url = urlsplit(served.issuer)
    sock = socket.create_connection((url.hostname, url.port), timeout=READ_LIMIT)
    return sock


def request(header_bytes: int = 0) -> bytes:
    big = b"X-Padding: " + b"a" * header_bytes + b"\r\n" if header_bytes else b""
    return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + b"\r\n"


def read_response(sock: socket.socket) -> bytes:
    """One response: its head, then as many body bytes as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    while length and len(body) < int(length.group(1)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_keep_alive_reuse_works_then_an_idle_connection_is_closed(served: Served) -> None:
    with connect(served) as sock:
        for _ in range(2):  # two requests on one connection: keep-alive is on
            sock.sendall(request())
            assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert sock.recv(1) == b""  # idle past the timeout: the server closed it


def test_an_ordinary_header_passes_and_an_oversized_head_is_refused(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(request(8_000))
        assert read_response(sock).startswith(b"HTTP/1.1 200")
    with connect(served) as sock:
        try:
            sock.sendall(request(200_000))
        except (BrokenPipeError, ConnectionResetError):
            return  # refused while still sending
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
