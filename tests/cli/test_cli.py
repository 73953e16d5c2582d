"""``gatepass`` CLI through Typer's CliRunner: clients, keys, config, db (SQLite in tmp)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError
from gatepass.runtime import open_runtime
from gatepass.settings import load_settings

from .conftest import Invoke

Create = Callable[..., dict[str, Any]]


def basic(cid: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()


def token_works(cid: str, secret: str) -> bool:
    """Ask the server (same database, same local secrets) for a token with these credentials."""

    async def go() -> bool:
        rt = await open_runtime(load_settings())
        try:
            await rt.server.token(OAuthRequest(form={"grant_type": "client_credentials"},
                                               authorization=basic(cid, secret)))
            return True
        except OAuthError:
            return False
        finally:
            await rt.close()

    return asyncio.run(go())


# --- clients ---------------------------------------------------------------------------------


def test_cli_clients_create_prints_id_and_secret_once(cli: Invoke) -> None:
    out = cli("clients", "create", "--name", "billing-bot", "--scope", "read:projects").stdout
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    cid, secret = lines["client_id"].strip(), lines["client_secret"].strip()
    assert cid.startswith("client_") and secret.startswith("gps_") and len(secret) == 47
    assert "Store the secret now: it cannot be shown again." in out
    assert token_works(cid, secret)
    assert not token_works(cid, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    for args in (("clients", "list"), ("clients", "list", "--json"), ("clients", "show", cid)):
        assert secret not in cli(*args).stdout


def test_cli_clients_create_json(create: Create) -> None:
    created = create("read:projects write:projects")
    assert set(created) == {"client_id", "client_secret", "token_endpoint_auth_method", "scope",
                           "operator"}
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["scope"] == "read:projects write:projects"
    assert token_works(created["client_id"], created["client_secret"])


def test_cli_clients_create_with_jwks_is_key_based(cli: Invoke, create: Create,
                                                   tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    created = create("read:projects", "--jwks", str(jwks))
    assert created["client_secret"] is None
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    shown = json.loads(cli("clients", "show", created["client_id"]).stdout)
    assert shown["auth_method"] == "private_key_jwt" and shown["secrets"] == []


def test_cli_internal_scopes_need_an_operator_client(cli: Invoke, create: Create) -> None:
    """Issue 13, item 1: ``gatepass:*`` scopes only with ``--operator``."""
    result = cli("clients", "create", "--name", "x", "--scope", "gatepass:admin", ok=False)
    assert result.exit_code == 1
    assert "invalid_scope" in result.output and "operator" in result.output
    assert json.loads(cli("clients", "list", "--json").stdout) == []
    ops = create("gatepass:admin", "--operator")
    assert ops["operator"] is True and ops["scope"] == "gatepass:admin"
    assert json.loads(cli("clients", "show", ops["client_id"]).stdout)["operator"] is True
    assert token_works(ops["client_id"], ops["client_secret"])


def test_cli_clients_create_unknown_scope_fails_cleanly(cli: Invoke) -> None:
    result = cli("clients", "create", "--name", "x", "--scope", "read:nothing", ok=False)
    assert result.exit_code == 1
    assert "invalid_scope" in result.output and "read:nothing" in result.output
    assert json.loads(cli("clients", "list", "--json").stdout) == []


def test_cli_clients_list(cli: Invoke, create: Create) -> None:
    a, b = create("read:projects"), create("write:projects")
    rows = json.loads(cli("clients", "list", "--json").stdout)
    assert [r["client_id"] for r in rows] == [a["client_id"], b["client_id"]]
    assert {r["scope"] for r in rows} == {"read:projects", "write:projects"}
    table = cli("clients", "list").stdout
    assert a["client_id"] in table and b["client_id"] in table
    for r in rows:
        assert not {"client_secret", "secret", "digest"} & set(r)


def test_cli_clients_show_never_shows_secrets(cli: Invoke, create: Create) -> None:
    created = create()
    out = cli("clients", "show", created["client_id"]).stdout
    shown = json.loads(out)
    assert shown["client_id"] == created["client_id"] and shown["status"] == "active"
    [record] = shown["secrets"]
    assert set(record) == {"secret_id", "expires_at"} and record["expires_at"] is None
    assert created["client_secret"] not in out
    assert created["client_secret"][4:] not in out
    assert "digest" not in out


def test_cli_clients_show_unknown_client(cli: Invoke) -> None:
    result = cli("clients", "show", "client_nope", ok=False)
    assert result.exit_code == 1 and "not_found" in result.output


def test_cli_clients_disable_and_enable(cli: Invoke, create: Create) -> None:
    created = create()
    cid, secret = created["client_id"], created["client_secret"]
    assert f"{cid} disabled" in cli("clients", "disable", cid).stdout
    assert json.loads(cli("clients", "show", cid).stdout)["status"] == "disabled"
    assert not token_works(cid, secret)
    assert f"{cid} enabled" in cli("clients", "enable", cid).stdout
    assert json.loads(cli("clients", "show", cid).stdout)["status"] == "active"
    assert token_works(cid, secret)


def test_cli_clients_rotate_secret_keeps_old_one_for_the_grace(cli: Invoke,
                                                                create: Create) -> None:
    created = create()
    cid, old = created["client_id"], created["client_secret"]
    out = cli("clients", "rotate-secret", cid, "--grace", "3600").stdout
    new = out.split("client_secret:", 1)[1].split()[0]
    assert new.startswith("gps_") and new != old and "Shown once." in out
    assert token_works(cid, old) and token_works(cid, new)
    shown = json.loads(cli("clients", "show", cid).stdout)
    expiries = sorted((s["expires_at"] is None) for s in shown["secrets"])
    assert expiries == [False, True]  # the old one now expires; the new one does not
    assert old not in json.dumps(shown) and new not in json.dumps(shown)


def test_cli_clients_rotate_secret_json_and_zero_grace(cli: Invoke, create: Create) -> None:
    created = create()
    cid, old = created["client_id"], created["client_secret"]
    rotated = json.loads(cli("clients", "rotate-secret", cid, "--grace", "0", "--json").stdout)
    assert rotated["client_id"] == cid and rotated["client_secret"].startswith("gps_")
    assert token_works(cid, rotated["client_secret"])
    assert not token_works(cid, old)


# --- keys ------------------------------------------------------------------------------------


def test_cli_keys_list_and_rotate(cli: Invoke) -> None:
    [first] = json.loads(cli("keys", "list", "--json").stdout)
    assert first["state"] == "current" and first["alg"] == "ES256"
    out = cli("keys", "rotate").stdout
    assert "as next" in out and "next step safe at:" in out
    keys = json.loads(cli("keys", "list", "--json").stdout)
    assert sorted(k["state"] for k in keys) == ["current", "next"]
    out = cli("keys", "rotate").stdout  # too early: nothing happens
    assert "nothing to do yet" in out
    assert sorted(k["state"] for k in json.loads(cli("keys", "list", "--json").stdout)) == [
        "current", "next"]
    table = cli("keys", "list").stdout
    assert first["kid"] in table and "current" in table


def test_cli_keys_rotate_force_promotes(cli: Invoke) -> None:
    [first] = json.loads(cli("keys", "list", "--json").stdout)
    out = cli("keys", "rotate", "--force").stdout
    assert f"{first['kid']} is now previous" in out
    states = {k["kid"]: k["state"] for k in json.loads(cli("keys", "list", "--json").stdout)}
    assert states[first["kid"]] == "previous"
    assert sorted(states.values()) == ["current", "previous"]


# --- config and db ---------------------------------------------------------------------------


def test_cli_config_show_masks_secrets(cli: Invoke, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    pepper = "pepper-" + "p" * 40
    kek = Fernet.generate_key().decode()
    monkeypatch.setenv("GATEPASS_SECRET_PEPPER", pepper)
    monkeypatch.setenv("GATEPASS_KEY_ENCRYPTION_KEYS", json.dumps([kek]))
    monkeypatch.setenv("GATEPASS_DATABASE_URL",
                       "postgresql+psycopg://gatepass:s3cr3t-pw@db.internal:5432/gatepass")
    out = cli("config", "show").stdout
    shown = json.loads(out)
    for value in (pepper, kek, "s3cr3t-pw"):
        assert value not in out
    assert shown["secret_pepper"] == "**********"
    assert shown["key_encryption_keys"] == ["**********"]
    assert shown["database_url"] == (
        "postgresql+psycopg://gatepass:**********@db.internal:5432/gatepass")
    assert shown["issuer"] == "https://as.example.com"


def test_cli_config_show_masks_the_redis_password(cli: Invoke,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPASS_REDIS_URL", "redis://:r3dis-pw@cache.internal:6379/0")
    out = cli("config", "show").stdout
    assert "r3dis-pw" not in out
    assert json.loads(out)["redis_url"] == "redis://:**********@cache.internal:6379/0"


def test_cli_config_show_reads_a_toml_file(cli: Invoke, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gatepass.toml"
    config.write_text('issuer = "https://toml.example.com"\naccess_token_ttl = 600\n')
    monkeypatch.delenv("GATEPASS_ISSUER")
    monkeypatch.setenv("GATEPASS_CONFIG_FILE", str(config))  # restored after the test
    shown = json.loads(cli("--config", str(config), "config", "show").stdout)
    assert shown["issuer"] == "https://toml.example.com" and shown["access_token_ttl"] == 600


def test_cli_config_missing_file_is_exit_2(cli: Invoke, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPASS_CONFIG_FILE", str(tmp_path / "none.toml"))
    result = cli("config", "show", ok=False)
    assert result.exit_code == 2 and "Invalid settings" in result.output


def test_cli_db_upgrade(cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "fresh.db"
    monkeypatch.setenv("GATEPASS_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    assert "database at head" in cli("db", "upgrade").stdout
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert {"clients", "client_secrets", "signing_keys", "alembic_version"} <= tables
    assert "database at head" in cli("db", "upgrade").stdout  # idempotent


def test_cli_secrets_are_stored_only_as_digests(cli: Invoke, create: Create,
                                                env: dict[str, str]) -> None:
    created = create()
    path = env["GATEPASS_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    raw = Path(path).read_bytes()
    wal = Path(path + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    assert created["client_secret"].encode() not in raw
    assert created["client_secret"][4:].encode() not in raw


def test_cli_clients_create_with_resources(cli: Invoke, create: Create) -> None:
    created = create("read:projects", "--resource", "https://api.example.com",
                     "--resource", "https://b.example.com")
    shown = json.loads(cli("clients", "show", created["client_id"]).stdout)
    assert shown["resources"] == ["https://api.example.com", "https://b.example.com"]
