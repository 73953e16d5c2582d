"""Compile the rate limiter's in-process counters with mypyc (run by ``make install``).

``src/gatepass/ratelimit/_counters.py`` stays the source. This compiles a copy of it as the
module ``gatepass.ratelimit._counters_native`` (a C extension next to it, git-ignored), with the
SHA-256 of the source inside, so ``gatepass.ratelimit._native`` uses it only while it was built
from the current source. It counts a request in about a quarter of the instructions. Without a
C compiler (or with ``--clean``) nothing is built and the pure-Python counters serve.

    .venv/bin/python scripts/build_native.py [--clean]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "gatepass" / "ratelimit"
SOURCE = PACKAGE / "_counters.py"
NATIVE = "_counters_native"


def built() -> list[Path]:
    """The compiled files of a previous build."""
    return sorted(PACKAGE.glob(f"{NATIVE}*.so")) + sorted(PACKAGE.glob(f"{NATIVE}*.pyd"))


def build() -> int:
    for old in built():
        old.unlink()
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    copy = PACKAGE / f"{NATIVE}.py"
    copy.write_bytes(source + f'\n\nSOURCE_SHA256 = "{digest}"\n'.encode())
    try:
        with tempfile.TemporaryDirectory(prefix="gatepass-mypyc-") as tmp:
            work = Path(tmp)
            out = work / "gatepass" / "ratelimit"  # mypyc copies its results here, by module
            out.mkdir(parents=True)
            try:
                done = subprocess.run(  # noqa: S603 (this interpreter, mypyc, our own file)
                    [sys.executable, "-m", "mypyc", str(copy)], cwd=work, capture_output=True,
                    text=True, env={**os.environ, "MYPY_CACHE_DIR": str(work / "cache")},
                    check=False, timeout=600)  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                done = subprocess.CompletedProcess(exc.cmd, 1, "", "mypyc took over 600 s")
            for result in out.glob(f"{NATIVE}*"):
                result.replace(PACKAGE / result.name)
    finally:
        copy.unlink()
    if done.returncode != 0 or not built():
        print(f"mypyc could not compile {SOURCE.name}; the pure-Python counters will serve.\n"
              f"{done.stdout[-2000:]}{done.stderr[-2000:]}", file=sys.stderr)
        return 0  # optional: never fail an install over it
    print(f"compiled {SOURCE.name} -> {', '.join(p.name for p in built())}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="remove the compiled counters")
    if parser.parse_args().clean:
        for old in built():
            old.unlink()
        return 0
    return build()


if __name__ == "__main__":
    raise SystemExit(main())
