"""Benchmark: CPU instructions per request of the demo API, counted by valgrind (callgrind).

``resource_server.py`` measures requests per second, which moves by ±10 % from one run to the
next on a shared machine. This counts the instructions the server process executes per request
instead: the same code, inputs and environment give the same count whatever else the machine is
doing, so two builds can be compared by a fraction of a percent. Each scenario (unprotected,
warm cache, rate limit on memory with the compiled counters and with the pure-Python ones) is
``bench/rs_app.py`` under ``valgrind --tool=callgrind`` (instrumentation off until the app has
served a warm-up), driven with a fixed number of requests over the same keep-alive connections
as ``resource_server.py``; the counts are zeroed before and dumped after the measured requests.

Instructions are not time (cache misses and system calls weigh differently), so this explains
and compares; the targets of ``resource_server.py`` stay judged on requests per second. The
ratios printed are "instructions of the cheaper scenario / the dearer one", the share of
throughput the extra work would leave if every instruction cost the same.

    .venv/bin/python bench/rs_instructions.py [--requests 3000] [--concurrency 32]
        [--scenario unprotected --scenario warm ...] [--annotate]

Needs ``valgrind`` on the PATH; takes a minute or two per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey
from resource_server import ISSUER, RESOURCE, mint, request
from token_endpoint import BENCH, RESULTS, UVICORN_FLAGS, base_env, free_port, wait_ready

# name: (BENCH_MODE, BENCH_RL_STORAGE, GATEPASS_NATIVE)
SCENARIOS = {"unprotected": ("unprotected", "", "1"), "warm": ("protected", "", "1"),
             "ratelimit": ("ratelimit", "memory://", "1"),
             "ratelimit-py": ("ratelimit", "memory://", "0")}  # fmt: skip
PAIRS = {"warm/unprotected": ("unprotected", "warm"),
         "ratelimit-memory/warm": ("warm", "ratelimit"),
         "ratelimit-memory-py/warm": ("warm", "ratelimit-py")}


async def _drive(port: int, payload: bytes, total: int, concurrency: int) -> int:
    """Send ``total`` requests over ``concurrency`` keep-alive connections; the 2xx count."""
    left, ok = total, 0

    async def worker() -> None:
        nonlocal left, ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left > 0:
                left -= 1
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)[1])  # type: ignore[index]
                await reader.readexactly(length)
                ok += head[9:10] == b"2"
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


def _total(out: Path) -> int:
    """The ``totals:``/``summary:`` instruction count of a callgrind dump."""
    for line in out.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def measure(name: str, key: ECKey, token: str, args: argparse.Namespace, tmp: Path
            ) -> dict[str, Any]:
    """One scenario: start under callgrind, warm up, zero, drive, dump; instructions/request."""
    mode, storage, native = SCENARIOS[name]
    port = free_port()
    out = tmp / f"callgrind.{name}"
    log = tmp / f"{name}.log"
    env = base_env() | {"BENCH_MODE": mode, "BENCH_ISSUER": ISSUER, "BENCH_RESOURCE": RESOURCE,
                        "BENCH_RL_STORAGE": storage, "BENCH_KEY_PREFIX": "gatepass:bench:cg",
                        "BENCH_JWKS": json.dumps({"keys": [key.as_dict(private=False)]}),
                        "GATEPASS_NATIVE": native, "PYTHONHASHSEED": "0"}
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
           sys.executable, "-m", "uvicorn", "rs_app:app", "--factory", "--app-dir", str(BENCH),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *UVICORN_FLAGS]
    payload = request(port, None if mode == "unprotected" else token)
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_ready(proc, port, log, limit=300, poll=0.5)  # valgrind starts slowly
        _control("-i", "on", str(proc.pid))
        asyncio.run(_drive(port, payload, args.warmup, args.concurrency))
        _control("-z", str(proc.pid))
        ok = asyncio.run(_drive(port, payload, args.requests, args.concurrency))
        _control("-d", str(proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    dump = out.with_name(out.name + ".1")  # the first explicit dump: the measured requests
    total = _total(dump)
    if args.annotate:
        keep = RESULTS / f"callgrind-{name}.out"
        shutil.copy(dump, keep)
    return {"scenario": name, "requests": args.requests, "ok": ok, "instructions": total,
            "per_request": total / args.requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=500, help="requests before counting")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                        help="repeatable; default: all")
    parser.add_argument("--annotate", action="store_true",
                        help="keep each dump in bench/results/ for callgrind_annotate")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    key = ECKey.generate_key("P-256", parameters={"kid": "bench-1", "alg": "ES256"}, private=True)
    token = mint(key, 1)[0]
    rows: dict[str, dict[str, Any]] = {}
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gatepass-cg-") as tmpdir:
        for name in args.scenario or list(SCENARIOS):
            print(f"{name} ...", file=sys.stderr, flush=True)
            rows[name] = row = measure(name, key, token, args, Path(tmpdir))
            print(f"  {row['per_request']:,.0f} instructions/request ({row['ok']} ok)",
                  file=sys.stderr, flush=True)
    print(f"\nGET /api/projects, {args.requests} requests after {args.warmup} warm-up, "
          f"{args.concurrency} keep-alive connections; callgrind, {os.uname().machine}\n")
    for row in rows.values():
        print(f"{row['scenario']:<14} {row['per_request']:>12,.0f} instructions/request")
    ratios = {pair: rows[a]["per_request"] / rows[b]["per_request"]
              for pair, (a, b) in PAIRS.items() if a in rows and b in rows}
    for pair, value in ratios.items():
        print(f"{pair:<24} {value:.1%}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = RESULTS / f"rs_instructions-{stamp}.json"
    out.write_text(json.dumps({"when": stamp, "args": vars(args), "results": rows,
                               "ratios": ratios}, indent=2))
    print(f"Results: {out.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()
