"""The lock file of the tested dependency set: ``requirements/dev.txt`` (``make lock``).

``compile`` resolves ``pyproject.toml`` (extras server, postgres, redis, dev) and
``requirements/tools.in`` (pip, setuptools, hatchling, pip-tools: the install's own tools) with
pip-tools, through this machine's pip configuration (indexes, find-links, constraints), into
exact versions with hashes. Pins already in the lock are kept (``--upgrade`` refreshes them), so
adding a dependency adds only what it needs. The lock records the SHA-256 of the inputs it was
made from; ``check`` compares it with the current inputs and checks that every pinned direct
dependency satisfies its range in ``pyproject.toml``, offline, with the standard library only.

    .venv/bin/python scripts/lock.py compile [--upgrade]
    python3 scripts/lock.py check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
TOOLS = ROOT / "requirements" / "tools.in"
LOCK = ROOT / "requirements" / "dev.txt"
EXTRAS = ("server", "postgres", "redis", "dev")
MARK = "# inputs-sha256: "


def inputs_digest() -> str:
    """SHA-256 of what the lock is made from: the dependency sections and the tool list."""
    project = tomllib.loads(PYPROJECT.read_text())
    inputs = {
        "build-system": project["build-system"]["requires"],
        "requires-python": project["project"].get("requires-python"),
        "dependencies": project["project"]["dependencies"],
        "optional-dependencies": project["project"]["optional-dependencies"],
        "extras": EXTRAS,
        "tools": [line.strip() for line in TOOLS.read_text().splitlines()
                  if line.strip() and not line.startswith("#")],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def compile_lock(upgrade: bool) -> int:
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "pip-compile"), "--quiet", "--generate-hashes", "--allow-unsafe",
               "--strip-extras", "--no-emit-index-url", "--no-emit-find-links",
               *(f"--extra={extra}" for extra in EXTRAS),
               f"--output-file={LOCK.relative_to(ROOT)}", "pyproject.toml",
               str(TOOLS.relative_to(ROOT))]
    if upgrade:
        command.append("--upgrade")
    env = {**os.environ, "CUSTOM_COMPILE_COMMAND": "make lock"}
    done = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603 (our venv's tool)
    if done.returncode != 0:
        return done.returncode
    text = re.sub(rf"^{re.escape(MARK)}.*\n", "", LOCK.read_text(), flags=re.MULTILINE)
    LOCK.write_text(f"{MARK}{inputs_digest()}\n{text}")
    print(f"wrote {LOCK.relative_to(ROOT)}")
    return 0


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def check() -> int:
    """0 when the lock was made from the current inputs and pins each direct dependency in range."""
    if not LOCK.exists():
        print(f"{LOCK.relative_to(ROOT)} is missing: run `make lock`", file=sys.stderr)
        return 1
    text = LOCK.read_text()
    found = re.search(rf"^{re.escape(MARK)}(\w+)$", text, flags=re.MULTILINE)
    if found is None or found.group(1) != inputs_digest():
        print(f"{LOCK.relative_to(ROOT)} is out of sync with pyproject.toml or "
              f"{TOOLS.relative_to(ROOT)}: run `make lock`", file=sys.stderr)
        return 1
    try:
        from packaging.requirements import Requirement
    except ImportError:  # a bare interpreter: pip carries the same module
        from pip._vendor.packaging.requirements import Requirement
    pins = {_name(m.group(1)): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, flags=re.MULTILINE)}
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in EXTRAS:
        wanted += project["optional-dependencies"][extra]
    bad = []
    for line in wanted:
        req = Requirement(line)
        pin = pins.get(_name(req.name))
        if pin is None or not req.specifier.contains(pin, prereleases=True):
            bad.append(f"{line} (locked: {pin or 'missing'})")
    if bad:
        print("requirements/dev.txt does not satisfy pyproject.toml: " + "; ".join(bad)
              + ": run `make lock`", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    comp = sub.add_parser("compile", help="resolve the inputs into requirements/dev.txt")
    comp.add_argument("--upgrade", action="store_true", help="also move existing pins forward")
    sub.add_parser("check", help="fail when the lock is out of sync with its inputs")
    args = parser.parse_args()
    return compile_lock(args.upgrade) if args.command == "compile" else check()


if __name__ == "__main__":
    raise SystemExit(main())
