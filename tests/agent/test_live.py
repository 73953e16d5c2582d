"""Real servers on loopback (uvicorn): the sync client and the ``gatepass agent`` commands.

Nothing secret may reach stdout, stderr or the logs: not the client secret, not the
registration access token, not a client assertion, and not an access token except when
``gatepass agent token`` is asked to print one.
"""

from __future__ import annotations

import logging
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gatepass.agent import AgentClient, InsufficientScopeError, load_credentials
from gatepass.cli import agent as _agent_commands  # noqa: F401  (registers `gatepass agent`)
from gatepass.cli._app import app
from gatepass.http.app import create_app

from .conftest import free_port, resource_app, serve, settings

pytestmark = pytest.mark.slow
JWT = re.compile(r"[\w-]+\.[\w-]+\.[\w-]+")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, str]]:
    as_port, api_port = free_port(), free_port()
    issuer, api = f"http://127.0.0.1:{as_port}", f"http://127.0.0.1:{api_port}"
    with serve(create_app(settings(tmp_path, issuer, api)), as_port), \
            serve(resource_app(issuer, api), api_port):
        yield issuer, api


def test_cli_and_sync_client_never_print_secrets(
    live: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    issuer, api = live
    path = tmp_path / "creds" / "agent.json"
    cli = CliRunner()
    refused = cli.invoke(app, ["agent", "register", issuer, "--name", "cli-agent",
                               "--scope", "read:projects", "--credentials", str(path)])
    assert refused.exit_code == 1 and "--accept-tos" in refused.stderr
    assert not path.exists()

    done = cli.invoke(app, ["agent", "register", issuer, "--name", "cli-agent", "--scope",
                            "read:projects", "--credentials", str(path), "--accept-tos"])
    assert done.exit_code == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = load_credentials(path)
    assert creds.client_secret and creds.registration_access_token

    again = cli.invoke(app, ["agent", "register", issuer, "--name", "x", "--scope",
                             "read:projects", "--credentials", str(path), "--accept-tos"])
    assert again.exit_code == 2  # never clobbers credentials silently

    token = cli.invoke(app, ["agent", "token", "--credentials", str(path)])
    assert token.exit_code == 0, token.stderr
    # (the in-process server's audit log also writes to this stdout; the token is its own line)
    (access_token,) = [line for line in token.stdout.splitlines() if JWT.fullmatch(line)]

    call = cli.invoke(app, ["agent", "call", "GET", f"{api}/projects", "--credentials",
                            str(path)])
    assert call.exit_code == 0, call.stderr
    assert "apollo" in call.stdout and "HTTP 200" in call.stderr

    denied = cli.invoke(app, ["agent", "call", "POST", f"{api}/deployments", "--data", "{}",
                              "--credentials", str(path)])
    assert denied.exit_code == 1 and "execute:deployments" in denied.stderr

    with AgentClient(issuer, credentials=creds, origins=[api]) as agent, \
            httpx.Client(auth=agent) as http:
        assert http.get(f"{api}/projects").status_code == 200
        with pytest.raises(InsufficientScopeError) as caught:
            http.post(f"{api}/deployments", json={})
        assert caught.value.missing == ("execute:deployments",)
        issued = agent.token(resource=api).value

    printed = capsys.readouterr()
    outputs = [done.output, call.output, denied.output, again.output, refused.output,
               caplog.text, printed.out, printed.err]
    for secret in (creds.client_secret, creds.registration_access_token, issued):
        assert not any(secret in text for text in outputs)
    assert not any(access_token in text for text in [done.output, call.output, caplog.text])
