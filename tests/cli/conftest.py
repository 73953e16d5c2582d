"""CLI harness: Typer's CliRunner on ``gatepass.cli._app.app`` with a SQLite database in tmp."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import gatepass.cli.clients
import gatepass.cli.keys
import gatepass.cli.serve
import gatepass.cli.system  # noqa: F401  (registers the commands)
from gatepass.cli._app import app, console

Invoke = Callable[..., Result]


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database as ``gatepass db upgrade`` leaves it (migrated, local secrets in ``data``,
    a signing key), copied for each test: migrating costs ~1 s."""
    from gatepass.runtime import open_runtime
    from gatepass.settings import Settings

    path = tmp_path_factory.mktemp("template") / "gatepass.db"

    async def provision() -> None:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{path}",
                            data_dir=path.with_name("data"))
        await (await open_runtime(settings)).close()

    asyncio.run(provision())
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_db: Path) -> dict[str, str]:
    """A fresh SQLite database and data dir; no other GATEPASS_* setting leaks in."""
    shutil.copyfile(migrated_db, tmp_path / "gatepass.db")
    shutil.copytree(migrated_db.with_name("data"), tmp_path / "data")
    for name in list(os.environ):
        if name.startswith("GATEPASS_"):
            monkeypatch.delenv(name)
    values = {"GATEPASS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gatepass.db'}",
              "GATEPASS_DATA_DIR": str(tmp_path / "data"),
              "GATEPASS_ISSUER": "https://as.example.com"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def cli(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setattr(console, "width", 200)  # Rich tables would wrap ids at 80 columns
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


@pytest.fixture
def create(cli: Invoke) -> Callable[..., dict[str, Any]]:
    def make(scope: str = "read:projects write:projects", *extra: str) -> dict[str, Any]:
        out = cli("clients", "create", "--name", "svc", "--scope", scope, "--json", *extra)
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    return make
