"""The README's agent journeys against the server ``make run`` starts, as a real process.

``gatepass serve`` runs in a temporary working directory (it writes ``gatepass.db`` and
``.gatepass/`` there) with ``GATEPASS_ISSUER`` on a free loopback port and
``GATEPASS_DEVELOPMENT=true``, as ``make run`` does; its first start prints the demo client and
a reusable demo billing token. The README's curl block and Python block run as printed, with
``http://127.0.0.1:8000`` replaced by the test server's address and each ``…`` placeholder filled
in as the README tells the reader: ``btok_…`` with the printed billing token, the others from the
answer above them. The same journey also runs with ``gatepass.agent.AgentClient`` and plain httpx.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.serving import CLI_TIMEOUT, Served, clean_env, serving

from gatepass.agent import AgentClient

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
MAKE_RUN = "http://127.0.0.1:8000"
SCOPES = ["read:projects", "read:analytics"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``gatepass serve`` as ``make run`` runs it; always terminated."""
    cwd = tmp_path_factory.mktemp("gatepass-serve")
    with serving(cwd, GATEPASS_DEVELOPMENT="true") as served:
        yield served
    assert (cwd / "gatepass.db").exists() and (cwd / ".gatepass").is_dir()


@pytest.fixture(scope="module")
def billing_token(served: Served) -> str:
    """The reusable demo billing token the first start printed (with the demo client)."""
    printed = served.log.read_text()
    assert "client_id:     client_" in printed and "client_secret: gps_" in printed
    found = re.findall(r"billing_token: (btok_[A-Za-z0-9_-]+)", printed)
    assert len(found) == 1, printed
    return found[0]


def _readme_block(section: str, language: str, nth: int = 0) -> str:
    """The ``nth`` fenced ``language`` block after the heading ``section`` of README.md."""
    text = README.read_text()
    after = text[text.index(f"\n## {section}\n"):]
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", after, flags=re.M | re.S)
    return str(blocks[nth]).replace(MAKE_RUN, "{issuer}")


def _commands(block: str) -> list[str]:
    """Shell commands of a block, comment lines dropped; a command runs on while a line ends
    with a backslash or a single quote is open."""
    commands: list[str] = []
    current = ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        if not line.endswith("\\") and current.count("'") % 2 == 0:
            commands.append(current)
            current = ""
    assert not current, f"unterminated command: {current}"
    return commands


def _fill(command: str, billing_token: str, answer: Any) -> str:
    """Fill each ``NAME=prefix…`` placeholder: ``btok_…`` with the printed billing token, the
    others from the last answer: its ``name`` field, else its one value with that prefix."""

    def value(match: re.Match[str]) -> str:
        name, prefix = match.group(1), match.group(2)
        if prefix == "btok_":
            return f"{name}={billing_token}"
        answer_ = answer if isinstance(answer, dict) else {}
        found = [v for k, v in answer_.items() if isinstance(v, str) and v.startswith(prefix)
                 and k == name.lower()] or [
            v for v in answer_.values() if isinstance(v, str) and v.startswith(prefix)]
        assert len(found) == 1, (name, prefix, answer)
        return f"{name}={found[0]}"

    code, sep, comment = command.partition("  #")
    return re.sub(r"\b([A-Z_]+)=([A-Za-z_]+)…", value, code) + sep + comment


class Shell:
    """Runs a README shell block command by command, as a reader does: the variables it sets
    are kept for the next command, placeholders are filled from the answers."""

    def __init__(self, issuer: str, cwd: Path, billing_token: str) -> None:
        self.issuer, self.cwd, self.billing_token = issuer, cwd, billing_token
        self.assignments: list[str] = []
        self.answers: list[tuple[str, str]] = []
        self.last: Any = None

    def run(self, block: str) -> None:
        for command in _commands(block.replace("{issuer}", self.issuer)):
            command = _fill(command, self.billing_token, self.last)
            assert "…" not in command.partition("  #")[0], command
            if re.match(r"^[A-Z_]+=", command):
                self.assignments.append(command)
            script = "set -euo pipefail\n" + "".join(self.assignments) + command
            done = subprocess.run(["bash", "-c", script], cwd=self.cwd, capture_output=True,
                                  text=True, timeout=CLI_TIMEOUT, check=False)
            assert done.returncode == 0, (command, done.stderr)
            self.answers.append((command, done.stdout))
            if done.stdout.strip():
                try:
                    self.last = json.loads(done.stdout)
                except json.JSONDecodeError:
                    self.last = None

    def answer(self, fragment: str, nth: int = 0) -> Any:
        """The JSON answer of the ``nth`` command containing ``fragment``."""
        outputs = [out for command, out in self.answers if fragment in command]
        return json.loads(outputs[nth])


def test_readme_curl_journey_runs_as_printed(served: Served, billing_token: str,
                                             tmp_path: Path) -> None:
    shell = Shell(served.issuer, tmp_path, billing_token)
    shell.run(_readme_block("The agent's view, in curl", "sh"))
    assert shell.answer("/.well-known/oauth-authorization-server")["issuer"] == served.issuer
    llms = [out for command, out in shell.answers if "/llms.txt" in command]
    assert served.issuer + "/oauth/token" in llms[0]
    registered = shell.answer("/api/v1/agents/register")
    assert registered["client_id"].startswith("agent_") and registered["pending_scopes"] == []
    assert registered["allowed_scopes"] == SCOPES
    token = shell.answer("/oauth/token")
    assert token["token_type"] == "Bearer" and token["scope"] == " ".join(SCOPES)
    projects = shell.answer("/api/projects")
    assert {p["name"] for p in projects["data"]} >= {"apollo", "data-pipeline"}
    assert {"daily", "totals"} <= shell.answer("/api/analytics").keys()
    introspected = shell.answer("/oauth/introspect")
    assert introspected["active"] is True and introspected["client_id"] == registered["client_id"]
    assert shell.answer("/oauth/revoke") == {}  # RFC 7009: 200
    # The demo API reads revocations every 0.25 s (within 1 s, as the README says): a reader's
    # next command. Re-run the README's last command for at most two seconds.
    last = shell.answers[-1][0]
    for _ in range(20):
        if "error" in shell.answer("/api/projects", -1):
            break
        time.sleep(0.1)
        shell.run(last)
    assert shell.answer("/api/projects", -1)["error"] == "token_revoked"

    # The README's refusals, in the same shell (CLIENT_ID and AS still set)
    shell.run(_readme_block("The agent's view, in curl", "sh", 1))
    assert shell.answer("$CLIENT_ID:wrong")["error"] == "invalid_client"
    assert shell.answer("/api/projects", -1)["error"] == "missing_token"


def test_readme_python_journey_runs_as_printed(served: Served, billing_token: str,
                                               tmp_path: Path) -> None:
    code = _readme_block("The agent's view, in curl", "python")
    assert code.count('"btok_…"') == 1
    code = code.replace("{issuer}", served.issuer).replace('"btok_…"', f'"{billing_token}"')
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT, check=False,
                          env=clean_env())
    assert done.returncode == 0, done.stderr
    assert "'apollo'" in done.stdout and "'data-pipeline'" in done.stdout
    saved = tmp_path / "agent.json"
    assert (saved.stat().st_mode & 0o777) == 0o600
    assert json.loads(saved.read_text())["client_id"].startswith("agent_")


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
