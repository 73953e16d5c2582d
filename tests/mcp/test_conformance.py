"""The official MCP conformance suite (npm ``@modelcontextprotocol/conformance``, pinned with its
Node.js runtime in ``tests/mcp/conformance/package-lock.json``) against Gatepass at default
settings (development mode for loopback http, the per-IP registration limit raised) with the
example MCP server: its authorization-server scenarios ``authorization-server-metadata-endpoint``
and ``authorization-code-grant``, in one run. The latter registers by RFC 7591 (no billing:
consent is the gate), sends no ``scope`` (the default applies); an owner approves in the console.

``npm ci`` installs the pinned packages from the npm registry once (``node_modules`` is not
committed); the test is skipped when ``npm`` is missing.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import httpx2
import pytest
from gp_mcp_kit import Stack, inputs

pytestmark = pytest.mark.slow
HERE = Path(__file__).with_name("conformance")
SUITE = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
NODE = HERE / "node_modules" / ".bin" / "node"
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def suite() -> list[str]:
    """``node index.js``, installed from the lock file when missing."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    if not SUITE.is_file() or not NODE.exists():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    return [str(NODE), str(SUITE)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _passed(output: str, checks: int) -> None:
    assert f"Total: {checks} passed, 0 failed" in output, output
    assert "FAILURE" not in output, output


async def test_authorization_server_scenarios(stack: Stack, suite: list[str]) -> None:
    """Both scenarios in one run (the code grant reads the metadata scenario's result)."""
    port = _free_port()
    async with httpx2.AsyncClient(timeout=30.0) as http:
        registered = await http.post(stack.issuer + "/oauth/register", json={
            "client_name": "MCP conformance", "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "none",
            "redirect_uris": [f"http://127.0.0.1:{port}/callback"]})
    assert registered.status_code == 201, registered.text  # no billing token needed
    client_id = registered.json()["client_id"]
    proc = await asyncio.create_subprocess_exec(
        *suite, "authorization", "--url", stack.issuer,
        "--client-id", client_id, "--resource", stack.mcp_url,
        "--port", str(port), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        url = None
        while url is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
            assert line, "".join(seen)
            seen.append(line)
            if line.startswith(stack.issuer + "/oauth/authorize?"):
                url = line.strip()
        assert "scope=" not in url  # the suite asks for no scope: the default applies
        async with stack.owner_browser() as owner:
            page = await owner.http.get(url)
            assert page.status_code == 200, page.text
            assert "named no permissions" in page.text
            form = urlencode([*inputs(page.text), ("decision", "approve")])
            answer = await owner.http.post("/oauth/authorize", content=form, headers={
                "content-type": "application/x-www-form-urlencoded"})
            assert answer.status_code == 303, answer.text
            callback = answer.headers["location"]
            assert callback.startswith(f"http://127.0.0.1:{port}/callback?")
            async with httpx2.AsyncClient(timeout=30.0) as http:
                await http.get(callback)  # the suite's callback server
        rest, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = "".join(seen) + rest.decode()
    assert proc.returncode == 0, text
    for scenario in ("authorization-server-metadata-endpoint", "authorization-code-grant"):
        assert f"✓ {scenario}: " in text, text
    _passed(text, 3)  # metadata, its CIMD check, the code grant
