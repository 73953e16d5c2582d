"""``requirements/dev.txt``: in sync with ``pyproject.toml``, and ``scripts/lock.py check``
(``make lock-check``) fails when it is not."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _copy(tmp_path: Path) -> Path:
    """The lock's inputs and the script, laid out as in the repository."""
    for rel in ("pyproject.toml", "requirements/dev.txt", "requirements/tools.in",
                "scripts/lock.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(root / "scripts" / "lock.py"), "check"],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_committed_lock_is_in_sync_with_pyproject() -> None:
    done = _check(ROOT)
    assert done.returncode == 0, done.stderr


def test_the_lock_pins_hashes_and_the_install_tools() -> None:
    text = (ROOT / "requirements" / "dev.txt").read_text()
    lines = [line for line in text.splitlines() if re.match(r"[a-z0-9]", line)]
    hashed = re.findall(r"^([a-z0-9_.\-]+)==\S+ \\\n    --hash=sha256:[0-9a-f]{64}", text,
                        flags=re.MULTILINE)
    assert len(lines) == len(hashed) > 50  # every requirement is exact and hashed
    assert {"pip", "setuptools", "hatchling", "pip-tools", "typer", "redis"} <= set(hashed)


def test_a_changed_dependency_range_makes_the_check_fail(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    assert _check(root).returncode == 0
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"httpx>=', '"httpx[http2]>=', 1))
    done = _check(root)
    assert done.returncode == 1 and "out of sync" in done.stderr and "make lock" in done.stderr


def test_a_pin_outside_its_range_makes_the_check_fail(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    lock = root / "requirements" / "dev.txt"
    lock.write_text(re.sub(r"^typer==\S+", "typer==0.1.0", lock.read_text(), flags=re.MULTILINE))
    done = _check(root)
    assert done.returncode == 1 and "typer" in done.stderr and "0.1.0" in done.stderr
