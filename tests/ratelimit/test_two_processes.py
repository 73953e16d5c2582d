"""Two uvicorn processes sharing one Redis enforce one budget between them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import free_port

pytestmark = [pytest.mark.redis, pytest.mark.slow]

HERE = Path(__file__).parent


@pytest.fixture
def servers(redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "GATEPASS_RL_TEST_REDIS": redis_url,
        "GATEPASS_RL_TEST_PREFIX": redis_prefix,
    }
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(2):
            port = free_port()
            cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "_redis_app:app"]
            cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
            with (tmp_path / f"uvicorn-{i}.log").open("wb") as log:
                procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


async def _wait_ready(client: httpx.AsyncClient, url: str) -> None:
    for _ in range(150):  # about 15 s
        try:
            if (await client.get(f"{url}/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"server at {url} did not start")


async def test_two_processes_share_one_budget(servers: list[str]) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for url in servers:
            await _wait_ready(client, url)
        responses = [await client.get(f"{servers[i % 2]}/api/items") for i in range(10)]
    assert [r.status_code for r in responses] == [200] * 6 + [429] * 4
    pids = {r.json()["pid"] for r in responses[:6]}
    assert len(pids) == 2  # both processes answered within the one budget
    remaining = [r.headers["x-ratelimit-remaining"] for r in responses]
    assert remaining == ["5", "4", "3", "2", "1", "0", "0", "0", "0", "0"]
    assert responses[6].json()["error_description"] == "Rate limit of 6/min exceeded"
