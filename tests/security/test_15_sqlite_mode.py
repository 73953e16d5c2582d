"""Issue 13, item 15: the SQLite database is created readable by its owner only (0600).

Under the usual umask 022 SQLite would create ``gatepass.db`` world-readable: client records,
sealed keys and the audit trail. Every engine Gatepass opens creates a missing file 0600 first;
SQLite gives the ``-wal`` and ``-shm`` files the database's mode. A file that already exists
keeps the mode its operator chose, and the server works on the private file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.serving import enter_unconfigured
from typer.testing import CliRunner

import gatepass.cli.clients
import gatepass.cli.system  # noqa: F401  (registers the commands)
from gatepass.cli._app import app
from gatepass.runtime import open_runtime
from gatepass.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return enter_unconfigured(tmp_path, monkeypatch)


def test_db_upgrade_creates_the_database_0600_and_commands_use_it(umask_022: None,
                                                                   workdir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert mode(workdir / "gatepass.db") == 0o600
    created = runner.invoke(app, ["clients", "create", "--name", "svc", "--scope",
                                  "read:projects", "--json"])
    assert created.exit_code == 0, created.output
    assert "client_secret" in created.stdout
    assert mode(workdir / "gatepass.db") == 0o600


async def test_the_server_runtime_creates_it_0600_and_its_wal_too(umask_022: None,
                                                                  tmp_path: Path) -> None:
    db = tmp_path / "served.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", data_dir=tmp_path / "data")
    runtime = await open_runtime(settings)
    try:
        await runtime.admin.create_client("svc", ["read:projects"])
        wal = db.with_name("served.db-wal")
        assert wal.exists() and mode(wal) == 0o600
        assert mode(db) == 0o600
    finally:
        await runtime.close()


async def test_an_existing_file_keeps_its_mode(umask_022: None, tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o640)  # the operator's choice, e.g. for a backup group
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", data_dir=tmp_path / "data")
    runtime = await open_runtime(settings)
    try:
        assert await runtime.admin.list_clients() == []
    finally:
        await runtime.close()
    assert mode(db) == 0o640
