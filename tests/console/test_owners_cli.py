"""``gatepass owners``: create (prompted or --password-stdin), list, set-password, set-operator."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner, Result

import gatepass.cli.owners
import gatepass.cli.system  # noqa: F401  (registers the commands)
from gatepass.cli import app
from gatepass.core.owners import LoginFailed, Owners
from gatepass.runtime import open_runtime
from gatepass.settings import load_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gatepass.toml"
    path.write_text(f"""
issuer = "https://as.example.com"
database_url = "sqlite+aiosqlite:///{tmp_path / 'gp.db'}"
data_dir = "{tmp_path}"
key_encryption_keys = ["{Fernet.generate_key().decode()}"]
secret_pepper = "{secrets.token_hex(32)}"
""")
    cli(path, "db", "upgrade")  # commands other than serve need an existing database
    return path


def cli(config: Path, *args: str, stdin: str | None = None, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args), input=stdin,
                                env={"GATEPASS_CONFIG_FILE": str(config)})
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


async def sign_in(config: Path, email: str, password: str) -> bool:
    rt = await open_runtime(load_settings(config))
    try:
        await Owners(rt.server, rt.stores.owners).authenticate(email, password)
        return True
    except LoginFailed:
        return False
    finally:
        await rt.close()


def test_create_from_stdin_then_list(config: Path) -> None:
    out = cli(config, "owners", "create", "Root@Example.com", "--operator", "--password-stdin",
              "--json", stdin=PASSWORD + "\n")
    created = json.loads(out.stdout)
    assert created["email"] == "root@example.com" and created["operator"] is True
    assert PASSWORD not in out.output
    cli(config, "owners", "create", "alice@example.com", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    listed = json.loads(cli(config, "owners", "list", "--json").stdout)
    assert [(o["email"], o["operator"]) for o in listed] == [
        ("root@example.com", True), ("alice@example.com", False)]
    assert "alice@example.com" in cli(config, "owners", "list").stdout
    assert asyncio.run(sign_in(config, "alice@example.com", PASSWORD))


def test_duplicates_short_passwords_and_mismatched_prompts_are_refused(config: Path) -> None:
    cli(config, "owners", "create", "a@example.com", "--password-stdin", stdin=PASSWORD)
    dup = cli(config, "owners", "create", "A@example.com", "--password-stdin", stdin=PASSWORD,
              code=1)
    assert "already exists" in dup.output
    short = cli(config, "owners", "create", "b@example.com", "--password-stdin", stdin="short",
                code=2)
    assert "characters" in short.output
    mismatch = cli(config, "owners", "create", "c@example.com",
                   stdin=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert "do not match" in mismatch.output
    emails = [o["email"] for o in json.loads(cli(config, "owners", "list", "--json").stdout)]
    assert emails == ["a@example.com", "c@example.com"]


def test_set_password_and_operator(config: Path) -> None:
    cli(config, "owners", "create", "a@example.com", "--password-stdin", stdin=PASSWORD)
    cli(config, "owners", "set-password", "a@example.com", "--password-stdin",
        stdin="a brand new passphrase\n")
    assert not asyncio.run(sign_in(config, "a@example.com", PASSWORD))
    assert asyncio.run(sign_in(config, "a@example.com", "a brand new passphrase"))
    assert "an operator" in cli(config, "owners", "set-operator", "a@example.com").stdout
    assert "an owner" in cli(config, "owners", "set-operator", "a@example.com", "--off").stdout
    missing = cli(config, "owners", "set-password", "zed@example.com", "--password-stdin",
                  stdin=PASSWORD, code=1)
    assert "No owner" in missing.output
