"""Benchmark: the real ``POST /oauth/token`` over HTTP, against a bare-ASGI floor, in one run.

For each worker count it measures the floor (``bench/floor_app.py``: read form, sign one ES256
JWT, answer JSON) and then Gatepass itself (uvicorn subprocess, the same flags as
``gatepass serve``) on each backend, with the same client_secret_basic request sent by a
separate load-generator process (``bench/loadgen.py``). Prints a table and writes JSON to
``bench/results/``. See ``bench/README.md``.

    .venv/bin/python bench/token_endpoint.py [--duration 10] [--warmup 2] [--concurrency 32]
        [--backends sqlite,postgres] [--workers 1,2] [--rounds 3] [--server-log-level INFO]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
BIN = Path(sys.executable).parent
SCOPE = "read:projects"
TARGET_RATIO = 0.65
POSTGRES_ADMIN_URL = os.environ.get("GATEPASS_BENCH_POSTGRES",
                                    "postgresql://root@127.0.0.1:5432/postgres")
CLK_TCK = os.sysconf("SC_CLK_TCK")
UVICORN_FLAGS = ["--no-access-log", "--log-level", "warning"]  # as `gatepass serve` runs it


# --- CPU accounting (Linux /proc) -------------------------------------------------------------

def _proc_tree(root: int) -> list[int]:
    """``root`` and all its descendants (uvicorn's supervisor and its worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15 of stat)
    return total / CLK_TCK


def _system_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class Layout:
    """Which CPUs the server and the load generator may use for a given worker count."""

    server_cpus: frozenset[int] | None
    client_cpus: frozenset[int] | None
    text: str


def cpu_layout(workers: int) -> Layout:
    cpus = sorted(os.sched_getaffinity(0))
    if workers == 1 and len(cpus) >= 2:
        return Layout(frozenset(cpus[:1]), frozenset(cpus[1:2]),
                      f"server pinned to CPU {cpus[0]}, load generator pinned to CPU {cpus[1]}")
    return Layout(None, None, f"server ({workers} workers) and load generator share CPUs "
                              f"{','.join(map(str, cpus))} (not pinned)")


def _pin(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


# --- processes ----------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, limit: float = 60,
               poll: float = 0.05) -> None:
    """Until ``GET /healthz`` answers 200; raise with the log's tail if the server exits or
    ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server not ready in {limit:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(poll)


@contextmanager
def uvicorn(app: list[str], port: int, workers: int, env: dict[str, str], cpus: frozenset[int]
            | None, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "uvicorn", *app, "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), *UVICORN_FLAGS]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=_pin(cpus))
    try:
        wait_ready(proc, port, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def token_request(port: int, client_id: str, secret: str) -> bytes:
    """The raw request every run sends: client_credentials with client_secret_basic."""
    body = urlencode({"grant_type": "client_credentials", "scope": SCOPE}).encode()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    head = (f"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Basic {basic}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def drive(port: int, request: bytes, server: subprocess.Popen[bytes], layout: Layout,
          args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Run the load generator against ``port``; its results plus CPU use in the window."""
    req_file = tmp / f"request-{port}.bin"
    req_file.write_bytes(request)
    cmd = [sys.executable, str(BENCH / "loadgen.py"), "--port", str(port), "--request-file",
           str(req_file), "--concurrency", str(args.concurrency), "--warmup", str(args.warmup),
           "--duration", str(args.duration)]
    gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                           preexec_fn=_pin(layout.client_cpus))
    assert gen.stdout is not None
    try:
        samples = []
        for expected in ("start", "end"):
            line = gen.stdout.readline().strip()
            if line != expected:
                raise RuntimeError(f"load generator said {line!r}, expected {expected!r}")
            samples.append((time.monotonic(), _cpu_seconds(_proc_tree(server.pid)),
                            _cpu_seconds([gen.pid]), _system_ticks()))
        result: dict[str, Any] = json.loads(gen.stdout.readline())
    except BaseException:
        gen.terminate()
        raise
    finally:
        gen.stdout.close()
        gen.wait(timeout=60)
    if gen.returncode != 0:
        raise RuntimeError(f"load generator exited {gen.returncode}")
    (t0, srv0, cli0, sys0), (t1, srv1, cli1, sys1) = samples
    wall = t1 - t0
    # All in % of one core: the server's processes, the load generator, everything else.
    result["server_cpu_pct"] = 100 * (srv1 - srv0) / wall
    result["client_cpu_pct"] = 100 * (cli1 - cli0) / wall
    busy = 100 * len(os.sched_getaffinity(0)) * (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1])
    result["other_cpu_pct"] = max(0.0, busy - result["server_cpu_pct"] - result["client_cpu_pct"])
    result["tokens_per_cpu_s"] = result["rps"] / max(1e-9, result["server_cpu_pct"] / 100)
    return result


def busy_cores(seconds: float = 0.5) -> float:
    """CPU in use over ``seconds``, in % of one core (all processes)."""
    b0, t0 = _system_ticks()
    time.sleep(seconds)
    b1, t1 = _system_ticks()
    return 100 * len(os.sched_getaffinity(0)) * (b1 - b0) / max(1, t1 - t0)


def wait_until_idle(limit: float, threshold: float = 15.0) -> float:
    """Wait (at most ``limit`` s) until other work uses under ``threshold``% of one core."""
    deadline = time.monotonic() + limit
    while True:
        busy = busy_cores()
        if busy < threshold or time.monotonic() > deadline:
            if busy >= threshold:
                print(f"  warning: machine still busy ({busy:.0f}% of a core in use by other "
                      "processes); numbers will be low", file=sys.stderr, flush=True)
            return busy


# --- scenarios ----------------------------------------------------------------------------------

def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GATEPASS_", "FLOOR_"))}


def run_floor(workers: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    port = free_port()
    client_id = "client_" + secrets.token_hex(12)
    env = base_env() | {"FLOOR_ISSUER": f"http://127.0.0.1:{port}", "FLOOR_CLIENT_ID": client_id}
    layout = cpu_layout(workers)
    app = ["floor_app:app", "--factory", "--app-dir", str(BENCH)]
    with uvicorn(app, port, workers, env, layout.server_cpus, tmp / f"floor-{workers}.log") as srv:
        request = token_request(port, client_id, "gps_" + secrets.token_urlsafe(32))
        return drive(port, request, srv, layout, args, tmp)


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database URL for ``backend``; a Postgres database is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        return
    if backend != "postgres":
        raise ValueError(f"unknown backend {backend!r}")
    import psycopg
    from psycopg import sql

    name = f"gatepass_bench_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = urlsplit(POSTGRES_ADMIN_URL)._replace(scheme="postgresql+psycopg", path=f"/{name}")
        yield url.geturl()
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def run_gatepass(backend: str, workers: int, args: argparse.Namespace, tmp: Path
                 ) -> dict[str, Any]:
    port = free_port()
    layout = cpu_layout(workers)
    data = Path(tempfile.mkdtemp(prefix=f"{backend}-{workers}w-", dir=tmp))
    with database(backend, data) as url:
        env = base_env() | {
            "GATEPASS_ISSUER": f"http://127.0.0.1:{port}", "GATEPASS_DATABASE_URL": url,
            "GATEPASS_DATA_DIR": str(data), "GATEPASS_DEVELOPMENT": "true",
            "GATEPASS_LOG_LEVEL": args.server_log_level,
        }
        # The CLI migrates the database and makes the signing key, as `gatepass serve` would
        # before it starts the workers; the server then must not migrate (GATEPASS_MIGRATE=0).
        created = json.loads(subprocess.run(
            [str(BIN / "gatepass"), "clients", "create", "--name", "bench", "--scope", SCOPE,
             "--json"], env=env, check=True, capture_output=True, text=True, timeout=120).stdout)
        env["GATEPASS_MIGRATE"] = "0"
        app = ["gatepass.http.asgi:app", "--factory"]
        log = data / "server.log"
        with uvicorn(app, port, workers, env, layout.server_cpus, log) as srv:
            check = httpx.post(f"http://127.0.0.1:{port}/oauth/token",
                               data={"grant_type": "client_credentials", "scope": SCOPE},
                               auth=(created["client_id"], created["client_secret"]))
            if check.status_code != 200:
                raise RuntimeError(f"token request refused: {check.status_code} {check.text}")
            request = token_request(port, created["client_id"], created["client_secret"])
            result = drive(port, request, srv, layout, args, tmp)
        result["server_log_bytes"] = log.stat().st_size
        return result


# --- report -------------------------------------------------------------------------------------

def _versions() -> dict[str, str]:
    names = ["gatepass", "uvicorn", "uvloop", "httptools", "starlette", "joserfc", "cryptography",
             "sqlalchemy", "aiosqlite", "psycopg", "orjson", "structlog"]
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\nPOST /oauth/token, client_secret_basic, ES256; {args.concurrency} keep-alive "
          f"connections, {args.warmup:g} s warm-up + {args.duration:g} s measured per run; "
          f"best of {args.rounds} round(s); "
          f"uvicorn (uvloop + httptools) {' '.join(UVICORN_FLAGS)}; "
          f"server log level {args.server_log_level}.")
    print(f"Machine: {os.cpu_count()} CPUs.")
    for workers in args.workers:
        print(f"  {workers} worker(s): {cpu_layout(workers).text}")
    print("  CPU columns are % of one core during the measured window: server processes, load "
          "generator,\n  and everything else on the machine (Postgres in the postgres rows; other "
          "users' work).\n")
    cols = ("scenario", "workers", "tokens/s", "p50 ms", "p99 ms", "non-200", "srv CPU",
            "gen CPU", "other", "tok/CPU-s", "real/floor", "per CPU", "paired")
    fmt = "{:<18} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>9} {:>10} {:>8} {:>7}"
    print(fmt.format(*cols))
    for row in rows:
        if "error" in row:
            print(f"{row['scenario']:<18} {row['workers']:>7}  skipped: {row['error']}")
            continue
        ratio = f"{row['ratio']:.1%}" if row.get("ratio") is not None else "-"
        cpu_ratio = f"{row['cpu_ratio']:.1%}" if row.get("cpu_ratio") is not None else "-"
        paired = f"{row['paired']:.1%}" if row.get("paired") is not None else "-"
        print(fmt.format(
            row["scenario"], row["workers"], f"{row['rps']:,.0f}", f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}", sum(row["non_200"].values()),
            f"{row['server_cpu_pct']:.0f}%", f"{row['client_cpu_pct']:.0f}%",
            f"{row['other_cpu_pct']:.0f}%", f"{row['tokens_per_cpu_s']:,.0f}", ratio, cpu_ratio,
            paired))
    for row in rows:
        for error in row.get("errors", []) if "error" not in row else []:
            print(f"  a round of {row['scenario']} ({row['workers']} worker(s)) failed: {error}")
    if args.rounds > 1:
        print("\ntokens/s of every round:")
        for row in rows:
            print(f"  {row['scenario']:<18} {row['workers']} worker(s): "
                  + ", ".join(f"{v:,}" for v in row["all_rps"]))
    # The target is per core: the pinned one-worker rows. With two workers the server shares both
    # cores with the load generator (and Postgres), so those rows are reported, not judged.
    key = "paired" if args.rounds > 1 else "ratio"
    ratios = [r[key] for r in rows if r.get(key) is not None and r["workers"] == 1]
    if ratios:
        verdict = "met" if min(ratios) >= TARGET_RATIO else "NOT met"
        what = "median of per-round ratios" if key == "paired" else "real/floor"
        print(f"\nTarget >= {TARGET_RATIO:.0%} (1 worker, {what}): {verdict} "
              f"(lowest {min(ratios):.1%}).")
    if any(r.get("other_cpu_pct", 0) > 10 for r in rows):
        print("Other processes used the CPU during some runs (column 'other'): tokens/s and "
              "real/floor are low there;\n'tok/CPU-s' (tokens per second of server CPU) and "
              "'per CPU' (its real/floor ratio) hold up better.")


def summarize(runs: dict[tuple[str, int], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per scenario: its best round (most tokens/s), ratios against the floor's best."""
    rows: list[dict[str, Any]] = []
    floors: dict[int, dict[str, Any]] = {}
    floor_runs = {w: results for (name, w), results in runs.items() if name.startswith("floor")}
    for (name, workers), results in runs.items():
        good = [r for r in results if "error" not in r]
        row: dict[str, Any] = {"scenario": name, "workers": workers, "rounds": len(results),
                               "all_rps": [round(r["rps"]) for r in good],
                               "errors": [r["error"] for r in results if "error" in r]}
        if not good:
            rows.append(row | {"error": row["errors"][-1]})
            continue
        row |= max(good, key=lambda r: r["rps"])
        row["tokens_per_cpu_s"] = max(r["tokens_per_cpu_s"] for r in good)
        if name.startswith("floor"):
            floors[workers] = row
        elif workers in floors:
            row["ratio"] = row["rps"] / floors[workers]["rps"]
            row["cpu_ratio"] = row["tokens_per_cpu_s"] / floors[workers]["tokens_per_cpu_s"]
            # the same round's floor: the machine's speed drifts between rounds, less within one
            pairs = [r["rps"] / f["rps"] for r, f in zip(results, floor_runs[workers], strict=False)
                     if "error" not in r and "error" not in f]
            row["paired"] = statistics.median(pairs) if pairs else None
        rows.append(row)
    return rows


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds: servers stopped, Postgres database dropped


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in background
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts, e.g. 1,2")
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every scenario this many times (interleaved); report the best "
                             "round and the median of the per-round ratios to the floor")
    parser.add_argument("--max-wait-idle", type=float, default=60.0,
                        help="before each run, wait up to this long for the machine to be idle")
    parser.add_argument("--server-log-level", default="INFO",
                        help="GATEPASS_LOG_LEVEL of the server (INFO, the default, logs every "
                             "audit event)")
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.workers = [int(w) for w in args.workers.split(",")]

    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for rnd in range(1, args.rounds + 1):
            for workers in args.workers:
                scenarios = [("floor (bare ASGI)", lambda w: run_floor(w, args, tmp))]
                scenarios += [(f"gatepass {b}",
                               lambda w, b=b: run_gatepass(b, w, args, tmp))
                              for b in args.backends]
                for name, run in scenarios:
                    print(f"round {rnd}/{args.rounds}: {name}, {workers} worker(s) ...",
                          file=sys.stderr, flush=True)
                    wait_until_idle(args.max_wait_idle)
                    try:
                        result = run(workers)
                    except Exception as exc:  # report it and go on with the next scenario
                        result = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                    runs.setdefault((name, workers), []).append(result)
    rows = summarize(runs)

    print_table(rows, args)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"token_endpoint-{stamp}.json"
    out.write_text(json.dumps({
        "when": stamp, "args": {k: v for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "platform": platform.platform()},
        "layout": {str(w): cpu_layout(w).text for w in args.workers},
        "versions": _versions(), "target_ratio": TARGET_RATIO, "results": rows,
    }, indent=2))
    print(f"Results: {out.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()
