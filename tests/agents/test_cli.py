"""``gatepass billing|agents|audit`` against the database a running server uses (SQLite file).

The CLI runs in a worker thread (it starts its own event loop) while the app serves HTTP; both
call the same ``core.admin.Admin`` methods, so the audit trail says who decided and why.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from typer.testing import CliRunner

import gatepass.cli.agents
import gatepass.cli.audit
import gatepass.cli.billing
import gatepass.cli.clients
import gatepass.cli.system  # noqa: F401  (registers the commands)
from gatepass.cli import app
from gatepass.settings import load_settings

from .conftest import CATALOG, REGISTER, Harness, basic, bearer, running


def _toml_catalog() -> str:
    """``CATALOG`` as a TOML array of inline tables."""
    def value(v: Any) -> str:
        return json.dumps(v) if isinstance(v, str) else str(v).lower()

    tables = ("{" + ", ".join(f"{k} = {value(v)}" for k, v in s.items()) + "}" for s in CATALOG)
    return "[" + ", ".join(tables) + "]"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gatepass.toml"
    path.write_text(f"""
issuer = "https://as.example.com"
database_url = "sqlite+aiosqlite:///{tmp_path / 'gp.db'}"
data_dir = "{tmp_path}"
key_encryption_keys = ["{Fernet.generate_key().decode()}"]
secret_pepper = "{secrets.token_hex(32)}"
client_cache_ttl = 0
scopes = {_toml_catalog()}
[agents]
registrations_per_ip_per_hour = 1000
""")
    return path


@pytest.fixture
async def hc(config: Path) -> AsyncIterator[Harness]:
    async with running(load_settings(config)) as h:
        yield h


async def run_cli(config: Path, *args: str, code: int = 0) -> Result:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args),
                                     env={"GATEPASS_CONFIG_FILE": str(config),
                                          "COLUMNS": "250"})
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


async def cli(config: Path, *args: str, code: int = 0) -> str:
    return (await run_cli(config, *args, code=code)).output


async def cli_json(config: Path, *args: str) -> Any:
    # stdout only: the in-process server of this test logs audit lines on the shared stderr
    out = (await run_cli(config, *args, "--json")).stdout
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError((args, out[:600])) from None


async def test_billing_issue_json_token_registers(hc: Harness, config: Path) -> None:
    issued = await cli_json(config, "billing", "issue", "--tier", "agent_premium")
    assert issued["billing_token"].startswith("btok_")
    assert issued["tier"] == "agent_premium"
    assert issued["max_uses"] == 1
    reg = await hc.registered(billing_token=issued["billing_token"])
    assert reg["tier"] == "agent_premium"
    assert (await hc.register(agent_name="again", billing_token=issued["billing_token"])
            ).status_code == 402
    listed = await cli_json(config, "billing", "list")
    assert [(t["uses"], t["max_uses"]) for t in listed] == [(1, 1)]
    assert issued["billing_token"] not in json.dumps(listed)


async def test_billing_issue_reusable_per_account(hc: Harness, config: Path) -> None:
    issued = await cli_json(config, "billing", "issue", "--tier", "agent_standard",
                            "--account", "acct_team", "--reusable")
    assert issued["max_uses"] is None and issued["account_id"] == "acct_team"
    for name in ("a", "b", "c"):
        assert (await hc.register(agent_name=name, billing_token=issued["billing_token"])
                ).status_code == 201
    text = await cli(config, "billing", "issue", "--tier", "agent_standard", "--uses", "3")
    assert "billing_token: btok_" in text and "uses: 3" in text


async def test_billing_issue_unknown_tier_exits_2(config: Path) -> None:
    await cli(config, "db", "upgrade")  # commands other than serve need an existing database
    output = await cli(config, "billing", "issue", "--tier", "platinum", code=2)
    assert "unknown tier" in output


async def test_agents_approve_promote_and_audit(hc: Harness, config: Path) -> None:
    reg = await hc.registered(requested_scopes=["read:projects", "agent:autonomous-deploy"])
    cid, secret = reg["client_id"], reg["client_secret"]
    pending = await cli_json(config, "agents", "approvals")
    assert [(a["request_id"], a["scopes"]) for a in pending] == [
        (reg["approval_request_id"], ["agent:autonomous-deploy"])]
    decided = await cli_json(config, "agents", "approve", reg["approval_request_id"],
                             "--scope", "agent:autonomous-deploy", "--reason", "ship it",
                             "--actor", "owner:alice")
    assert decided[0]["status"] == "approved"
    # approved, but the scope also needs trust level 2: the token endpoint still says no
    refused = await hc.token(cid, secret, "agent:autonomous-deploy")
    assert "requires trust level 2" in refused.json()["error_description"], refused.text
    assert "now at trust level 2" in await cli(config, "agents", "promote", cid, "--level", "2",
                                               "--reason", "owner vouches")
    assert (await hc.token(cid, secret, "agent:autonomous-deploy")).status_code == 200

    shown = (await run_cli(config, "agents", "show", cid)).stdout
    assert json.loads(shown)["trust_level"] == 2
    listed = await cli_json(config, "agents", "list")
    assert [a["client_id"] for a in listed] == [cid]
    await hc.runtime.server.audit.flush()
    events = await cli_json(config, "audit", "tail", "--client", cid, "--limit", "50")
    by_event = {e["event"]: e for e in events}
    assert by_event["approval.approved"]["actor"] == "owner:alice"
    assert by_event["approval.approved"]["reason"] == "ship it"
    assert by_event["client.trust_changed"]["reason"] == "owner vouches"
    assert by_event["client.trust_changed"]["actor"].startswith("cli:")
    assert events[0]["event"] == "client.registered"  # oldest first
    assert secret not in json.dumps(events)


async def test_agents_deny_by_client_id_and_errors(hc: Harness, config: Path) -> None:
    reg = await hc.registered(requested_scopes=["read:projects", "agent:autonomous-deploy"])
    out = await cli(config, "agents", "deny", reg["client_id"], "--reason", "no")
    assert "denied" in out
    assert await cli_json(config, "agents", "approvals") == []
    assert [a["status"] for a in await cli_json(config, "agents", "approvals", "--status",
                                                "all")] == ["denied"]
    assert "not_found" in await cli(config, "agents", "deny", reg["client_id"], code=1)
    assert "not_found" in await cli(config, "agents", "approve", "apr_missing", code=1)
    await cli(config, "agents", "approvals", "--status", "bogus", code=2)
    other = await hc.registered(agent_name="other",
                                requested_scopes=["read:projects", "agent:autonomous-deploy"])
    assert "invalid_scope" in await cli(config, "agents", "approve", other["client_id"],
                                        "--scope", "read:analytics", code=1)


async def test_agents_suspend_is_a_kill_switch(hc: Harness, config: Path) -> None:
    reg = await hc.registered()
    token = (await hc.token(reg["client_id"], reg["client_secret"])).json()["access_token"]
    rs = await hc.runtime.admin.create_client("rs", "gatepass:introspect", operator=True)
    assert rs.secret is not None
    await hc.runtime.server.audit.flush()
    out = await cli(config, "agents", "suspend", reg["client_id"], "--reason", "leaked key")
    assert "1 outstanding token(s) revoked" in out
    introspected = await hc.http.post("/oauth/introspect", data={"token": token},
                                      headers=basic(rs.client.client_id, rs.secret))
    assert introspected.json() == {"active": False}
    assert (await hc.token(reg["client_id"], reg["client_secret"])).status_code == 401
    me = await hc.http.get("/api/v1/agents/me", headers=bearer(reg["registration_access_token"]))
    assert me.json()["status"] == "suspended"
    assert (await hc.http.post(REGISTER, json={})).status_code == 400  # server still fine


async def test_clients_revoke_tokens_revokes_by_cutoff_and_keeps_the_client(
        hc: Harness, config: Path) -> None:
    reg = await hc.registered()
    cid, secret = reg["client_id"], reg["client_secret"]
    token = (await hc.token(cid, secret)).json()["access_token"]
    rs = await hc.runtime.admin.create_client("rs", "gatepass:introspect", operator=True)
    assert rs.secret is not None
    await hc.runtime.server.audit.flush()
    out = await cli(config, "clients", "revoke-tokens", cid)
    assert "1 unexpired" in out
    introspected = await hc.http.post("/oauth/introspect", data={"token": token},
                                      headers=basic(rs.client.client_id, rs.secret))
    assert introspected.json() == {"active": False}
    await asyncio.sleep(1.0)  # from the next whole second, new tokens work
    fresh = (await hc.token(cid, secret)).json()["access_token"]
    introspected = await hc.http.post("/oauth/introspect", data={"token": fresh},
                                      headers=basic(rs.client.client_id, rs.secret))
    assert introspected.json()["active"] is True
    assert "nobody" in await cli(config, "clients", "revoke-tokens", "nobody", code=1)


async def test_tables_for_humans(hc: Harness, config: Path) -> None:
    reg = await hc.registered(requested_scopes=["read:projects", "agent:autonomous-deploy"])
    await hc.runtime.server.audit.flush()
    await cli(config, "billing", "issue", "--tier", "agent_free")
    for args, needle in [(("agents", "list"), "data-analyst-agent"),
                         (("agents", "approvals"), "agent:autonomous-deploy"),
                         (("audit", "tail", "--client", reg["client_id"]), "client.registered"),
                         (("billing", "list"), "agent_free")]:
        assert needle in await cli(config, *args), args
