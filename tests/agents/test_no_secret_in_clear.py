"""No credential is kept in clear (DESIGN §4): not in any database row, not in any log line.

Registers an agent and an RFC 7591 client on SQLite, rotates a secret and spends a billing
token, then reads every row of every table and every captured log record.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from .conftest import agent_settings, bearer, running


async def test_no_secret_in_database_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "gatepass.db"
    settings = agent_settings(tmp_path, database_url=f"sqlite+aiosqlite:///{db}")
    caplog.set_level(logging.DEBUG)
    with capture_logs() as structured:
        async with running(settings) as h:
            billing = await h.billing_token()
            reg = await h.registered(billing_token=billing)
            rotated = (await h.http.post("/api/v1/agents/me/secrets", headers=bearer(
                reg["registration_access_token"]))).json()
            dcr = (await h.http.post("/oauth/register", json={
                "client_name": "dcr", "scope": "read:projects",
                "billing_token": await h.billing_token()})).json()
            token = await h.token(reg["client_id"], rotated["client_secret"], "read:projects")
            assert token.status_code == 200
            await h.token(reg["client_id"], "gps_wrong-secret-attempt-xxxxxxxxxxxxxxx")
            await h.runtime.server.audit.flush()

    secrets = {
        "agent secret": reg["client_secret"], "rotated secret": rotated["client_secret"],
        "registration access token": reg["registration_access_token"],
        "dcr secret": dcr["client_secret"], "dcr rat": dcr["registration_access_token"],
        "billing token": billing, "access token": token.json()["access_token"],
        "wrong secret": "gps_wrong-secret-attempt-xxxxxxxxxxxxxxx",
    }
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
    dump = repr(rows)
    assert reg["client_id"] in dump and "client.registered" in dump  # we did read the data
    logs = repr(structured) + caplog.text + "".join(capsys.readouterr())
    assert "client.registered" in logs and "token.issued" in logs  # we did capture the logs
    for name, value in secrets.items():
        assert value not in dump, f"{name} stored in clear"
        assert value not in logs, f"{name} logged in clear"
