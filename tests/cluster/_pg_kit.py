"""Helpers for the multi-process tests: ``gatepass serve`` processes on PostgreSQL and Redis.

``serve_env`` is the environment two instances share (one database, one Redis, one issuer,
the same key-encryption key and pepper); ``Served`` starts one ``gatepass serve`` process and
always stops it. ``own_postgres`` runs a PostgreSQL server of the test's own (initdb into a
temporary directory, as the ``postgres`` user when run as root, on a free port), for tests that
lock or stop the database: never the shared one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

import gatepass

GATEPASS = Path(sys.executable).with_name("gatepass")
SOURCE = str(Path(gatepass.__file__).resolve().parents[1])  # this checkout's code, in children
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(database_url: str, redis_url: str | None, issuer: str,
              **settings: str) -> dict[str, str]:
    """The environment of instances sharing one deployment; ``settings`` are extra
    ``GATEPASS_*`` variables (without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    env |= {
        "GATEPASS_ISSUER": issuer,
        "GATEPASS_DEVELOPMENT": "true",
        "GATEPASS_DATABASE_URL": database_url,
        "GATEPASS_KEY_ENCRYPTION_KEYS": f'["{Fernet.generate_key().decode()}"]',
        "GATEPASS_SECRET_PEPPER": os.urandom(24).hex(),
        "GATEPASS_DEMO_API": "false",
        "GATEPASS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([SOURCE, *filter(None, [env.get("PYTHONPATH")])]),
    }
    if redis_url:
        env["GATEPASS_REDIS_URL"] = redis_url
    env |= {f"GATEPASS_{k.upper()}": v for k, v in settings.items()}
    return env


class Served:
    """One ``gatepass serve`` process on 127.0.0.1; ``url`` once started."""

    def __init__(self, env: Mapping[str, str], cwd: Path, name: str = "serve") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"{name}.log"
        self._env, self._cwd = dict(env), cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Served:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(GATEPASS), "serve", "--port", str(self.port)], cwd=self._cwd,
                env=self._env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until ``/healthz`` answers 200; AssertionError with the log if it exits or hangs."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited ({self.proc.returncode}):\n{self.text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"serve not healthy after {timeout}s:\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def serving(env: Mapping[str, str], cwd: Path, count: int) -> Iterator[list[Served]]:
    """``count`` instances started together, healthy, stopped on exit."""
    servers = [Served(env, cwd, f"serve-{i}") for i in range(count)]
    try:
        for s in servers:
            s.start()
        for s in servers:
            s.wait_healthy()
        yield servers
    finally:
        for s in servers:
            s.stop()


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb`` and ``pg_ctl``, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """Run as ``postgres`` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def own_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server (trust auth) on a free port; yields the admin URL of its
    ``postgres`` database. Stopped and deleted on exit."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    base = Path(tempfile.mkdtemp(prefix="gatepass-pg-"))
    data, port = base / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    try:
        subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-A", "trust",
                                     "-U", "postgres", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-o", opts,
                                     "-l", str(base / "server.log"), "-w", "-t", "60",
                                     "start"]),
                       check=True, capture_output=True, timeout=90)
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m",
                                         "immediate", "-w", "-t", "30", "stop"]),
                           capture_output=True, timeout=60, check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)
