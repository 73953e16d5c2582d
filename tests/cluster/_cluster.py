"""Two (or more) ``gatepass serve`` processes on one PostgreSQL database of their own and the
shared Redis, plus the CLI as a third process: the multi-instance experiments of issue 16.

The database is migrated and a first instance started before the second, so first-start
provisioning (keys, local secrets) does not race (that race is a separate item). Every
process is terminated at the end; every wait is bounded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import gatepass


def _root_conftest() -> ModuleType:
    """tests/conftest.py, by path: ``import conftest`` finds whichever conftest module was
    loaded last (tests/http has one too)."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("gatepass_tests_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ROOT = _root_conftest()
REDIS_URL: str = _ROOT.REDIS_URL
fresh_postgres_database = _ROOT.fresh_postgres_database

GATEPASS = Path(sys.executable).with_name("gatepass")
STARTUP_TIMEOUT = 120.0
CLI_TIMEOUT = 240.0  # a loaded CI machine: the CLI's start alone can take many seconds
SCOPES = [{"name": "read:projects"}, {"name": "read:analytics", "min_trust": 1},
          {"name": "gatepass:introspect", "internal": True}]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """The instances' base URLs (all share one issuer), the environment and directory the CLI
    runs with."""

    issuer: str
    urls: list[str]
    cwd: Path
    env: dict[str, str]
    logs: list[Path] = field(default_factory=list)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(GATEPASS), *args], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def create_client(self, name: str, scope: str) -> tuple[str, str]:
        view: dict[str, Any] = json.loads(
            self.cli("clients", "create", "--name", name, "--scope", scope, "--json",
                     *(["--operator"] if "gatepass:" in scope else [])).stdout)
        return view["client_id"], view["client_secret"]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gatepass serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"gatepass serve not healthy after {STARTUP_TIMEOUT}s:\n{log.read_text()}")


def start_cluster(tmp: Path, database_url: str, instances: int = 2,
                  extra_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Start ``instances`` servers one after the other; terminate them all at the end."""
    from gatepass.storage.sql.migrate import upgrade

    upgrade(database_url)
    ports = [free_port() for _ in range(instances)]
    issuer = f"http://127.0.0.1:{ports[0]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    src = str(Path(gatepass.__file__).resolve().parents[1])  # this checkout, in any cwd
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env |= {"GATEPASS_ISSUER": issuer, "GATEPASS_DEVELOPMENT": "true",
            "GATEPASS_DATABASE_URL": database_url, "GATEPASS_REDIS_URL": REDIS_URL,
            "GATEPASS_DEMO_CLIENT": "false", "GATEPASS_SCOPES": json.dumps(SCOPES),
            "GATEPASS_ACCESS_TOKEN_TTL": "3600", **(extra_env or {})}
    cluster = Cluster(issuer, [f"http://127.0.0.1:{p}" for p in ports], tmp, env)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port, url in zip(ports, cluster.urls, strict=True):
            log = tmp / f"serve-{port}.log"
            cluster.logs.append(log)
            with log.open("wb") as out:
                proc = subprocess.Popen([str(GATEPASS), "serve", "--port", str(port)], cwd=tmp,
                                        env=env, stdout=out, stderr=subprocess.STDOUT)
            procs.append(proc)
            _wait_healthy(url, proc, log)
        yield cluster
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Two instances on a PostgreSQL database of this test's own and the shared Redis."""
    with fresh_postgres_database("gatepass_cluster_") as url:
        yield from start_cluster(tmp_path, url)
