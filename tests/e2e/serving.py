"""``gatepass`` as a real process: the CLI of the source under test, and ``gatepass serve`` on a
free loopback port, always terminated.

The installed ``gatepass`` script may point at another checkout (editable install), so the CLI
runs as ``python -c 'from gatepass.cli import main; main()'`` with ``PYTHONPATH`` set to the
directory this test run imports ``gatepass`` from.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import gatepass

STARTUP_TIMEOUT = 120.0  # a loaded 2-core CI machine; the loop ends as soon as it answers
CLI_TIMEOUT = 60.0
GATEPASS = [sys.executable, "-c", "from gatepass.cli import main; main()"]
SOURCE = str(Path(gatepass.__file__).resolve().parents[1])


@dataclass(frozen=True)
class Served:
    issuer: str
    cwd: Path
    env: dict[str, str]
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """The environment without any ``GATEPASS_*`` variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    return env | {"PYTHONPATH": SOURCE} | settings


def enter_unconfigured(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``path`` the working directory with no ``GATEPASS_*`` variable set (undone by
    ``monkeypatch``): every setting at its default, relative paths under ``path``."""
    for name in list(os.environ):
        if name.startswith("GATEPASS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(path)
    return path


def gatepass_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GATEPASS, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, check=False)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server process; kill it if it does not end within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait_healthy(issuer: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gatepass serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(issuer + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"gatepass serve not healthy after {STARTUP_TIMEOUT}s:\n{log.read_text()}")


@contextmanager
def serving(cwd: Path, **settings: str) -> Iterator[Served]:
    """``gatepass serve`` in ``cwd`` with ``GATEPASS_*`` ``settings`` and the issuer on a free
    port; stdout and stderr go to ``cwd/serve.log``."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = clean_env(GATEPASS_ISSUER=issuer, **settings)
    log = cwd / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*GATEPASS, "serve", "--port", str(port)], cwd=cwd, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(issuer, proc, log)
            yield Served(issuer, cwd, env, log)
        finally:
            stop(proc)
