"""A first start that is safe in production, and CLI errors as one line (issue 12, item 5).

* Only ``serve`` and ``db upgrade`` create a database or key material; other commands refuse a
  database that does not exist and leave the directory as they found it.
* Invalid settings: exit code 2 and one line naming the setting; a value validation accepts
  starts the server.
* An unreachable database: exit code 1 and one line naming its URL, password masked; a
  traceback only with ``--debug``.
* Outside development mode ``serve`` mounts no demo API, creates no demo client unless told to,
  and prints no secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from tests.e2e.serving import enter_unconfigured, free_port, gatepass_cli, serving
from typer.testing import CliRunner, Result

import gatepass.cli.agents
import gatepass.cli.billing
import gatepass.cli.clients
import gatepass.cli.keys
import gatepass.cli.system  # noqa: F401  (registers the commands)
from gatepass.cli._app import app

SECRET_MARKS = ("gps_", "btok_", "client_secret", "gpr_")


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no configuration: every setting at its default."""
    return enter_unconfigured(tmp_path, monkeypatch)


def invoke(*args: str, catch: bool = False) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=catch)


def one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [("clients", "list"), ("billing", "list"), ("keys", "list"),
                                     ("agents", "list"), ("clients", "show", "client_x")])
def test_commands_refuse_a_database_that_does_not_exist(empty_dir: Path,
                                                        command: tuple[str, ...]) -> None:
    result = invoke(*command)
    assert result.exit_code == 1
    assert one_line(result) == ("No database at sqlite+aiosqlite:///gatepass.db (setting "
                                "database_url): run `gatepass serve` or `gatepass db upgrade` "
                                "first")
    assert list(empty_dir.iterdir()) == []  # neither gatepass.db nor .gatepass/secrets.json


def test_db_upgrade_creates_what_the_other_commands_need(empty_dir: Path) -> None:
    upgraded = invoke("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert (empty_dir / "gatepass.db").is_file()
    assert (empty_dir / ".gatepass" / "secrets.json").is_file()
    listed = invoke("clients", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []
    keys = invoke("keys", "list", "--json")
    assert keys.exit_code == 0 and len(json.loads(keys.stdout)) == 1  # the signing key


def test_commands_refuse_a_database_without_its_local_secrets(empty_dir: Path) -> None:
    assert invoke("db", "upgrade").exit_code == 0
    (empty_dir / ".gatepass" / "secrets.json").unlink()
    result = invoke("clients", "list")
    assert result.exit_code == 1
    assert one_line(result).startswith("No local secrets at .gatepass/secrets.json (setting "
                                       "data_dir)")
    assert not (empty_dir / ".gatepass" / "secrets.json").exists()


def test_serve_and_db_upgrade_name_a_missing_directory(empty_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPASS_DATABASE_URL", "sqlite+aiosqlite:///no/such/dir/gatepass.db")
    for command in (("db", "upgrade"), ("serve",)):
        result = invoke(*command)
        assert result.exit_code == 1
        assert one_line(result) == ("Cannot create the database at sqlite+aiosqlite:///no/such/"
                                    "dir/gatepass.db (setting database_url): no directory "
                                    "no/such/dir")
    assert list(empty_dir.iterdir()) == []


@pytest.mark.parametrize(("env", "value", "setting"), [
    ("GATEPASS_AGENTS__REGISTRATIONS_PER_IP_PER_HOUR", "100000",
     "agents.registrations_per_ip_per_hour"),
    ("GATEPASS_AGENTS__REGISTRATIONS_PER_ACCOUNT_PER_DAY", "0",
     "agents.registrations_per_account_per_day"),
    ("GATEPASS_AGENTS__TRUSTED_PROXIES", '["10.0.0.0/33"]', "agents.trusted_proxies"),
    ("GATEPASS_AGENTS__BILLING_OPTIONS", '[{"type": "prepaid"}]', "agents.billing_options"),
    ("GATEPASS_LOG_LEVEL", "LOUD", "log_level"),
    ("GATEPASS_DATABASE_URL", "mysql://db/gatepass", "database_url"),
    ("GATEPASS_REDIS_URL", "http://cache:6379", "redis_url"),
    ("GATEPASS_ISSUER", "ftp://as.example.com", "issuer"),
    ("GATEPASS_KEY_ENCRYPTION_KEYS", '["sekrit-not-fernet"]', "key_encryption_keys"),
    ("GATEPASS_AGENTS__TOS_URL", "terms", "agents.tos_url"),
    ("GATEPASS_SCOPES", '[{"name": 5}]', "scopes.0.name"),
])
def test_invalid_settings_are_exit_2_and_one_line(empty_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch, env: str,
                                                  value: str, setting: str) -> None:
    monkeypatch.setenv(env, value)
    for command in (("config", "show"), ("clients", "list"), ("serve",)):
        result = invoke(*command)
        assert result.exit_code == 2
        line = one_line(result)
        assert line.startswith(f"Invalid setting {setting} ({env}): "), line
        assert "sekrit" not in result.output + result.stderr
    assert list(empty_dir.iterdir()) == []


@pytest.mark.parametrize(("env", "value", "setting", "shown"), [
    ("GATEPASS_AGENTS__REGISTRATIONS_PER_IP_PER_HOUR", "10000",
     "registrations_per_ip_per_hour", 10000),
    ("GATEPASS_AGENTS__TRUSTED_PROXIES", '["10.0.0.0/8", "::1"]', "trusted_proxies",
     ["10.0.0.0/8", "::1"]),
    ("GATEPASS_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("GATEPASS_DATABASE_URL", "postgresql://db/gatepass", "database_url",
     "postgresql://db/gatepass"),
    ("GATEPASS_REDIS_URL", "rediss://cache:6380/0", "redis_url", "rediss://cache:6380/0"),
    ("GATEPASS_KEY_ENCRYPTION_KEYS", '["' + Fernet.generate_key().decode() + '"]',
     "key_encryption_keys", ["**********"]),
    ("GATEPASS_AGENTS__TOS_URL", "https://example.com/terms", "tos_url",
     "https://example.com/terms"),
])
def test_valid_settings_load(empty_dir: Path, monkeypatch: pytest.MonkeyPatch, env: str,
                             value: str, setting: str, shown: object) -> None:
    monkeypatch.setenv(env, value)
    result = invoke("config", "show")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data.get(setting, data["agents"].get(setting)) == shown


def test_an_unreachable_database_is_one_line_without_its_password(empty_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    url = f"postgresql+psycopg://gp:sekrit-pw@127.0.0.1:{free_port()}/gatepass"
    monkeypatch.setenv("GATEPASS_DATABASE_URL", url)
    for command in (("clients", "list"), ("db", "upgrade"), ("serve",)):
        result = invoke(*command)
        assert result.exit_code == 1
        line = one_line(result)
        masked = url.replace("sekrit-pw", "**********")
        assert line.startswith(f"Cannot use the database at {masked} (setting database_url): "
                               "connection failed"), line
        assert "sekrit-pw" not in result.output + result.stderr
    assert list(empty_dir.iterdir()) == []  # no local secrets for a database never reached
    debug = invoke("--debug", "clients", "list", catch=True)  # the traceback, on request
    assert debug.exit_code == 1 and debug.exception is not None
    assert not isinstance(debug.exception, SystemExit)


@pytest.mark.slow
def test_production_first_start_has_no_demo_and_prints_no_secret(tmp_path: Path) -> None:
    """``serve`` with every setting at its default but the issuer (and a per-address limit at
    its bound): no demo API, no demo client, nothing secret in the output."""
    with serving(tmp_path, GATEPASS_AGENTS__REGISTRATIONS_PER_IP_PER_HOUR="10000",
                 GATEPASS_LOG_LEVEL="warning") as served:
        projects = httpx.get(served.issuer + "/api/projects", timeout=5.0)
        assert projects.status_code == 404
        assert projects.json()["error"] == "not_found"
        assert httpx.get(served.issuer + "/.well-known/oauth-protected-resource",
                         timeout=5.0).status_code == 404
        registered = httpx.post(served.issuer + "/oauth/register", timeout=5.0,
                                json={"client_name": "x", "redirect_uris": ["https://x/cb"]})
        assert registered.status_code < 500, registered.text
        listed = gatepass_cli("clients", "list", "--json", cwd=tmp_path, env=served.env)
        assert listed.returncode == 0, listed.stderr
        assert "demo-agent" not in [c["name"] for c in json.loads(listed.stdout)]
    log = served.log.read_text()
    assert not any(mark in log for mark in SECRET_MARKS), log
    assert (tmp_path / "gatepass.db").is_file() and (tmp_path / ".gatepass/secrets.json").is_file()


@pytest.mark.slow
def test_a_demo_client_enabled_in_production_gets_no_internal_scope_nor_printed_secret(
        tmp_path: Path) -> None:
    with serving(tmp_path, GATEPASS_DEMO_CLIENT="true") as served:
        listed = gatepass_cli("clients", "list", "--json", cwd=tmp_path, env=served.env)
    assert listed.returncode == 0, listed.stderr
    (demo,) = [c for c in json.loads(listed.stdout) if c["name"] == "demo-agent"]
    scopes = demo["scope"].split()
    assert "read:projects" in scopes and "write:projects" in scopes
    assert not [s for s in scopes if s.startswith("gatepass:")]
    assert "agent:autonomous-deploy" not in scopes  # needs an owner's approval
    log = served.log.read_text()
    assert f"Demo client {demo['client_id']} created" in log
    assert not any(mark in log for mark in SECRET_MARKS), log
