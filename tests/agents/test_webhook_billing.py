"""The webhook billing gate against a real local billing service (uvicorn subprocess).

Valid -> the tier it buys; invalid -> 402; slow, failing, garbled or unreachable -> 503
``temporarily_unavailable`` with ``Retry-After``, never an accepted registration.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Harness, agent_settings, running

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def billing_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "_billing_service:app", "--app-dir", str(HERE),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("billing service did not start")
        yield f"http://127.0.0.1:{port}/check"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _harness(tmp_path: Path, url: str, **agents: object) -> AsyncIterator[Harness]:
    settings = agent_settings(tmp_path, agents={"billing_webhook_url": url,
                                                "billing_webhook_timeout": 0.5, **agents})
    async with running(settings) as h:
        yield h


@pytest.fixture
async def hw(tmp_path: Path, billing_url: str) -> AsyncIterator[Harness]:
    async for h in _harness(tmp_path, billing_url):
        yield h


async def test_webhook_valid_token_buys_its_tier(hw: Harness) -> None:
    reg = await hw.registered(billing_token="btok_good",
                              requested_scopes=["read:projects", "agent:batch-operations"])
    assert reg["tier"] == "agent_premium"
    assert reg["allowed_scopes"] == ["read:projects", "agent:batch-operations"]
    client = await hw.runtime.admin.get_client(reg["client_id"])
    assert client.metadata["billing_account"] == "acct_webhook"


@pytest.mark.parametrize("token", ["btok_bad", "btok_unknown", ""])
async def test_webhook_invalid_token_is_402(hw: Harness, token: str) -> None:
    response = await hw.register(billing_token=token)
    assert response.status_code == 402
    assert response.json()["error"] == "billing_required"
    assert await hw.clients() == []


@pytest.mark.parametrize("token", ["btok_slow", "btok_500", "btok_html", "btok_notier"])
async def test_webhook_failures_are_503(hw: Harness, token: str) -> None:
    started = time.monotonic()
    response = await hw.register(billing_token=token)
    assert time.monotonic() - started < 2.5  # the 0.5 s timeout, not the service's 3 s
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "billing service" in response.json()["error_description"]
    assert await hw.clients() == []


async def test_webhook_unreachable_is_clear_503(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/check"  # nothing listens there
    async for h in _harness(tmp_path, closed):
        response = await h.register(billing_token="btok_good")
        assert response.status_code == 503
        assert response.json() == {
            "error": "temporarily_unavailable",
            "error_description": "The billing service is unreachable; retry later"}
        assert response.headers["retry-after"] == "30"
        assert await h.clients() == []


async def test_webhook_with_free_tier(tmp_path: Path, billing_url: str) -> None:
    async for h in _harness(tmp_path, billing_url, free_tier="agent_free"):
        assert (await h.registered(billing_token=None))["tier"] == "agent_free"
        assert (await h.registered(agent_name="paid", billing_token="btok_good")
                )["tier"] == "agent_premium"
