"""The README's agent journey against the server ``make run`` starts, as a real process.

``.venv/bin/gatepass serve`` runs in a temporary working directory (it writes ``gatepass.db``
and ``.gatepass/`` there) with ``GATEPASS_ISSUER`` on a free loopback port and
``GATEPASS_DEVELOPMENT=true``, as ``make run`` does. The operator issues a prepaid billing
token with ``gatepass billing issue --json`` in the same directory. Then an agent discovers the
server (RFC 8414), registers (``POST /api/v1/agents/register``), gets a token (client
credentials, RFC 6749 §4.4) and calls the demo API (``GET /api/projects``,
``GET /api/analytics``): once with ``gatepass.agent.AgentClient`` and once with plain httpx,
which also introspects (RFC 7662) and revokes (RFC 7009) its token as the README shows.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gatepass.agent import AgentClient

pytestmark = pytest.mark.slow
GATEPASS = Path(sys.executable).with_name("gatepass")
STARTUP_TIMEOUT = 30.0
CLI_TIMEOUT = 30.0
SCOPES = ["read:projects", "read:analytics"]


@dataclass(frozen=True)
class Served:
    issuer: str
    cwd: Path
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(issuer: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gatepass serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(issuer + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"gatepass serve not healthy after {STARTUP_TIMEOUT}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``gatepass serve`` as ``make run`` runs it; always terminated."""
    cwd = tmp_path_factory.mktemp("gatepass-serve")
    issuer = f"http://127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    env |= {"GATEPASS_ISSUER": issuer, "GATEPASS_DEVELOPMENT": "true"}
    log = cwd / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(GATEPASS), "serve", "--port", issuer.rsplit(":", 1)[1]],
                                cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(issuer, proc, log)
            yield Served(issuer, cwd, env)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    assert (cwd / "gatepass.db").exists() and (cwd / ".gatepass").is_dir()


@pytest.fixture(scope="module")
def billing_token(served: Served) -> str:
    """``gatepass billing issue --tier agent_standard --json``, good for both journeys."""
    done = subprocess.run(
        [str(GATEPASS), "billing", "issue", "--tier", "agent_standard", "--uses", "2", "--json"],
        cwd=served.cwd, env=served.env, capture_output=True, text=True, timeout=CLI_TIMEOUT,
        check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    issued = json.loads(done.stdout)
    assert issued["tier"] == "agent_standard"
    token: str = issued["billing_token"]
    return token


def _assert_demo_answers(projects: httpx.Response, analytics: httpx.Response) -> None:
    assert projects.status_code == 200, projects.text
    assert {p["name"] for p in projects.json()["data"]} >= {"apollo", "data-pipeline"}
    assert analytics.status_code == 200, analytics.text
    assert {"daily", "totals"} <= analytics.json().keys()


def test_journey_with_the_agent_client(served: Served, billing_token: str) -> None:
    with AgentClient(served.issuer, timeout=10.0) as agent:
        meta = agent.discover()
        assert meta.issuer == served.issuer
        assert meta.agent_registration_url == served.issuer + "/api/v1/agents/register"
        registered = agent.register("readme-journey-sdk", SCOPES, accept_tos=True,
                                    billing_token=billing_token)
        assert registered.allowed_scopes == tuple(SCOPES)
        with httpx.Client(auth=agent, base_url=served.issuer, timeout=10.0) as http:
            _assert_demo_answers(http.get("/api/projects"), http.get("/api/analytics"))


def test_journey_with_plain_httpx(served: Served, billing_token: str) -> None:
    with httpx.Client(base_url=served.issuer, timeout=10.0) as http:
        # 1. Discover (RFC 8414; the same document under both well-known names)
        config = http.get("/.well-known/openid-configuration").json()
        assert http.get("/.well-known/oauth-authorization-server").json() == config
        assert config["issuer"] == served.issuer
        refused = http.get("/api/projects")
        assert refused.status_code == 401 and "resource_metadata=" in refused.headers[
            "www-authenticate"]
        resource = http.get("/.well-known/oauth-protected-resource").json()  # RFC 9728
        assert resource["resource"] == served.issuer  # the demo's audience: the default one
        assert resource["authorization_servers"] == [served.issuer]

        # 2. Register (first time only); the secret is shown once
        reg = http.post(config["agent_registration_url"], json={
            "agent_name": "readme-journey-httpx", "agent_type": "autonomous",
            "requested_scopes": SCOPES, "tos_accepted": True, "billing_token": billing_token})
        assert reg.status_code == 201, reg.text
        client_id, client_secret = reg.json()["client_id"], reg.json()["client_secret"]
        assert reg.json()["token_endpoint"] == config["token_endpoint"]

        # 3. Get an access token (client credentials)
        token = http.post(config["token_endpoint"], data={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": client_secret, "scope": " ".join(SCOPES)})
        assert token.status_code == 200, token.text
        assert token.json()["token_type"] == "Bearer" and token.json()["scope"] == " ".join(SCOPES)
        access_token = token.json()["access_token"]

        # 4. Use the API
        bearer = {"Authorization": f"Bearer {access_token}"}
        _assert_demo_answers(http.get("/api/projects", headers=bearer),
                             http.get("/api/analytics", headers=bearer))

        # The README's next steps: introspect, revoke, introspect again
        auth = (client_id, client_secret)
        introspect = config["introspection_endpoint"]
        assert http.post(introspect, data={"token": access_token}, auth=auth).json()["active"]
        assert http.post(config["revocation_endpoint"], data={"token": access_token},
                         auth=auth).status_code == 200
        assert http.post(introspect, data={"token": access_token}, auth=auth).json() == {
            "active": False}
