"""Benchmark: the demo API's ``GET /api/projects`` over HTTP, protected and not, in one run.

Six scenarios, each its own uvicorn process (``bench/rs_app.py``, the flags ``gatepass serve``
uses, one worker pinned to CPU 0; all started first, idle while another runs) driven by one
``bench/rs_loadgen.py`` pinned to CPU 1, with a fixed number of keep-alive connections each:

==========================  ====================================================================
unprotected                 the demo routes without ``gatepass.rs`` or rate limiting
protected, warm cache       ``create_demo_api``: one token, a verified-token cache hit each time
protected, cold cache       the same app, a distinct pre-minted token on every request
rate limit, memory          warm + ``RateLimitMiddleware`` on ``memory://`` (3 windows counted)
rate limit, memory, py      the same with the pure-Python counters (``GATEPASS_NATIVE=0``)
rate limit, redis           warm + ``RateLimitMiddleware`` on Redis 127.0.0.1:6379, own prefix
==========================  ====================================================================

The load generator drives the servers in turn, in slices of half a second, every other cycle in
reverse order, so the two sides of a ratio are measured moments apart: this shared machine's
speed drifts by ±10 % between runs seconds apart, and a slow spell now hits both sides. Per
scenario: requests per second over all its slices, the median slice, and requests per second of
server CPU. Ratios are given three ways; the targets are judged on "paired", the median over
cycles of the ratio of the two adjacent slices: warm ≥ 85% of unprotected; rate limit on memory
≥ 90% of warm (the same app without it). Writes JSON to ``bench/results/``.

    .venv/bin/python bench/resource_server.py [--slice 0.5] [--cycles 60] [--warmup 3]
        [--concurrency 32] [--cold-pool 25000] [--redis redis://127.0.0.1:6379/0]

About three and a half minutes with the defaults (30 measured seconds per scenario).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey
from token_endpoint import (
    BENCH,
    RESULTS,
    UVICORN_FLAGS,
    _cpu_seconds,
    _pin,
    _proc_tree,
    _system_ticks,
    _versions,
    base_env,
    cpu_layout,
    free_port,
    uvicorn,
    wait_until_idle,
)

ISSUER = "https://as.bench.example"
RESOURCE = "https://api.bench.example"
TARGETS = {"warm/unprotected": 0.85, "ratelimit-memory/warm": 0.90}


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str
    cold: bool = False
    storage: str | None = None
    native: bool = True  # False: GATEPASS_NATIVE=0, the pure-Python rate-limit counters


def scenarios(redis_url: str) -> list[Scenario]:
    """In the order they run within a round: each ratio's two sides run back to back."""
    return [Scenario("unprotected", "unprotected"),
            Scenario("protected, warm cache", "protected"),
            Scenario("rate limit, memory", "ratelimit", storage="memory://"),
            Scenario("rate limit, memory, py", "ratelimit", storage="memory://", native=False),
            Scenario("rate limit, redis", "ratelimit", storage=redis_url),
            Scenario("protected, cold cache", "protected", cold=True)]


def mint(key: ECKey, count: int) -> list[str]:
    """``count`` distinct RFC 9068 tokens for the bench client (one jti each)."""
    header = {"typ": "at+jwt", "alg": "ES256", "kid": str(key.kid)}
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "bench-agent", "client_id": "bench-agent", "aud": RESOURCE,
            "iat": now, "exp": now + 3600, "scope": "read:projects", "owner": "bench-owner",
            "agent_type": "autonomous", "tier": "agent_standard"}
    return [jwt.encode(header, {**base, "jti": secrets.token_urlsafe(12)}, key,
                       algorithms=["ES256"]) for _ in range(count)]


def request(port: int, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"GET /api/projects HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
            "Accept: application/json\r\n\r\n").encode()


@dataclass
class Server:
    """A scenario's running server and its request pool."""

    scenario: Scenario
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    pool: Path | None = None
    verifier: dict[str, int] = field(default_factory=dict)
    error: str | None = None


# Between two of a server's slices the others run (2 s with the defaults, more with longer
# slices): keep its connections open past uvicorn's default 5 s keep-alive timeout.
KEEP_ALIVE = ["--timeout-keep-alive", "120"]


def start(stack: ExitStack, sc: Scenario, key: ECKey, tokens: list[str],
          args: argparse.Namespace, tmp: Path) -> Server:
    """Start the scenario's uvicorn (pinned like ``token_endpoint.py``) and check one request."""
    server = Server(sc, free_port())
    env = base_env() | {"BENCH_MODE": sc.mode, "BENCH_ISSUER": ISSUER,
                        "BENCH_RESOURCE": RESOURCE, "BENCH_RL_STORAGE": sc.storage or "",
                        "BENCH_KEY_PREFIX": args.key_prefix, "GATEPASS_NATIVE": str(int(sc.native)),
                        "BENCH_JWKS": json.dumps({"keys": [key.as_dict(private=False)]})}
    app = ["rs_app:app", "--factory", "--app-dir", str(BENCH), *KEEP_ALIVE]
    try:
        server.proc = stack.enter_context(uvicorn(app, server.port, 1, env,
                                                  cpu_layout(1).server_cpus,
                                                  tmp / f"rs-{server.port}.log"))
        check = httpx.get(f"http://127.0.0.1:{server.port}/api/projects",
                          headers={"Authorization": f"Bearer {tokens[-1]}"})
        if check.status_code != 200:
            raise RuntimeError(f"demo API refused: {check.status_code} {check.text[:300]}")
    except Exception as exc:  # report it and go on with the other scenarios
        server.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        return server
    chosen = tokens if sc.cold else tokens[:1]
    pool = [request(server.port, None if sc.mode == "unprotected" else t) for t in chosen]
    server.pool = tmp / f"pool-{server.port}.bin"
    server.pool.write_bytes(b"\0".join(pool))
    server.verifier = _stats(server.port)
    return server


def _stats(port: int) -> dict[str, int]:
    found: dict[str, int] = httpx.get(f"http://127.0.0.1:{port}/bench/stats").json()
    return found


def drive(servers: list[Server], args: argparse.Namespace) -> list[dict[str, Any]]:
    """One ``rs_loadgen.py`` run over every server, in turn; per server its result, the server
    CPU it used while measured and the verifier's counters (``token_endpoint.drive``'s CPU
    accounting)."""
    layout = cpu_layout(1)
    cmd = [sys.executable, str(BENCH / "rs_loadgen.py"), "--expect", '"data"',
           "--concurrency", str(args.concurrency), "--slice", str(args.slice),
           "--warmup", str(args.warmup), "--cycles", str(args.cycles)]
    for server in servers:
        assert server.pool is not None
        cmd += ["--target", str(server.port), str(server.pool)]
    gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                           preexec_fn=_pin(layout.client_cpus))
    assert gen.stdout is not None
    trees = [_proc_tree(s.proc.pid) for s in servers if s.proc is not None]
    try:
        samples = []
        for expected in ("start", "end"):
            line = gen.stdout.readline().strip()
            if line != expected:
                raise RuntimeError(f"load generator said {line!r}, expected {expected!r}")
            samples.append((time.monotonic(), [_cpu_seconds(t) for t in trees],
                            _cpu_seconds([gen.pid]), _system_ticks()))
        results: list[dict[str, Any]] = json.loads(gen.stdout.readline())
    finally:
        if gen.wait(timeout=120) != 0:
            raise RuntimeError("load generator failed")
    (t0, srv0, cli0, sys0), (t1, srv1, cli1, sys1) = samples
    wall = t1 - t0
    busy = 100 * len(os.sched_getaffinity(0)) * (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1])
    servers_pct = 100 * (sum(srv1) - sum(srv0)) / wall
    other = max(0.0, busy - servers_pct - 100 * (cli1 - cli0) / wall)
    for server, result, before, after in zip(servers, results, srv0, srv1, strict=True):
        cpu = after - before
        result["server_cpu_s"] = cpu
        result["server_cpu_pct"] = 100 * cpu / result["seconds"] if result["seconds"] else 0.0
        result["per_cpu"] = result["ok"] / cpu if cpu > 0 else None
        result["other_cpu_pct"] = other
        now = _stats(server.port)
        result["verifier"] = {k: v - server.verifier.get(k, 0) for k, v in now.items()}
    return results


def clean_redis(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def summarize(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """A scenario's row: all its slices, the median slice, per CPU, latency."""
    if "error" in result:
        return {"scenario": name, "error": result["error"]}
    per_slice = [ok / seconds for ok, seconds in result["slices"] if seconds > 0]
    return {"scenario": name, "total": result["rps"],
            "median": statistics.median(per_slice) if per_slice else None, **result}


PAIRS = {"warm/unprotected": ("protected, warm cache", "unprotected"),
         "ratelimit-memory/warm": ("rate limit, memory", "protected, warm cache"),
         "ratelimit-memory-py/warm": ("rate limit, memory, py", "protected, warm cache"),
         "ratelimit-redis/warm": ("rate limit, redis", "protected, warm cache"),
         "cold/warm": ("protected, cold cache", "protected, warm cache")}


def ratios(rows: dict[str, dict[str, Any]], field: str) -> dict[str, float | None]:
    """Each ratio of two scenarios' ``field`` (total, median or per_cpu)."""
    found: dict[str, float | None] = {}
    for name, (a, b) in PAIRS.items():
        ra, rb = rows[a].get(field), rows[b].get(field)
        found[name] = ra / rb if ra and rb else None
    return found


def cycle_ratios(rows: dict[str, dict[str, Any]], name: str) -> list[float]:
    """Per cycle, the ratio of the pair's two slices in that cycle."""
    a, b = PAIRS[name]
    sa, sb = rows[a].get("slices") or [], rows[b].get("slices") or []
    return [(na / ta) / (nb / tb) for (na, ta), (nb, tb) in zip(sa, sb, strict=True)
            if na and nb and ta > 0 and tb > 0]


def paired(rows: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Median over cycles of the ratio of the two scenarios' slices in that cycle (moments
    apart, so a slow spell of the machine tends to hit both)."""
    found: dict[str, float | None] = {}
    for name in PAIRS:
        each = cycle_ratios(rows, name)
        found[name] = statistics.median(each) if each else None
    return found


def spread(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[float, float, float] | None]:
    """Per pair: the standard deviation of the cycles' ratios and a bootstrap 95 % interval of
    their median (2,000 resamples, fixed seed): how far "paired" could move on another run."""
    found: dict[str, tuple[float, float, float] | None] = {}
    rng = random.Random(0)
    for name in PAIRS:
        each = cycle_ratios(rows, name)
        if len(each) < 2:
            found[name] = None
            continue
        medians = sorted(statistics.median(rng.choices(each, k=len(each))) for _ in range(2000))
        found[name] = (statistics.stdev(each), medians[50], medians[1949])
    return found


def print_table(rows: list[dict[str, Any]], found: dict[str, dict[str, float | None]],
                spreads: dict[str, tuple[float, float, float] | None],
                args: argparse.Namespace) -> None:
    print(f"\nGET /api/projects (FastAPI demo API); {args.concurrency} keep-alive connections "
          f"per server; {args.cycles} measured cycles of one {args.slice:g} s slice per "
          f"scenario after {args.warmup:g} s of warm-up; uvicorn {' '.join(UVICORN_FLAGS)}; "
          f"{cpu_layout(1).text}. Rate-limit counters: {_counters_kind()} (\"py\": the "
          "pure-Python ones).\n")
    fmt = "{:<24} {:>10} {:>12} {:>10} {:>7} {:>7} {:>7} {:>7} {:>6} {:>15}"
    print(fmt.format("scenario", "req/s", "median slice", "req/CPU-s", "p50 ms", "p99 ms",
                     "non-2xx", "srv CPU", "other", "sig checks/hits"))
    for row in rows:
        if "error" in row:
            print(f"{row['scenario']:<24} skipped: {row['error']}")
            continue
        bad = sum(v for k, v in row["statuses"].items() if not k.startswith("2"))
        ver = row.get("verifier") or {}
        checks = f"{ver.get('signature_checks', '-')}/{ver.get('cache_hits', '-')}"
        per_cpu = "-" if row["per_cpu"] is None else f"{row['per_cpu']:,.0f}"
        print(fmt.format(row["scenario"], f"{row['total']:,.0f}", f"{row['median']:,.0f}",
                         per_cpu, f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", bad,
                         f"{row['server_cpu_pct']:.0f}%", f"{row['other_cpu_pct']:.0f}%",
                         checks))
    for row in rows:
        if row.get("lost_connections") or row.get("bad_bodies"):
            print(f"warning: {row['scenario']}: {row['lost_connections']} connection(s) lost, "
                  f"{row['bad_bodies']} unexpected body(ies): its figures are not trustworthy")
    kinds = ("paired", "total", "median", "per_cpu")
    print(f"\n{'ratio':<24} {'paired':>7} {'total':>7} {'median':>7} {'per CPU':>8} "
          f"{'sd':>6} {'95% interval':>15}")
    for name in PAIRS:
        cells = " ".join(f"{_pct(found[kind][name]):>{8 if kind == 'per_cpu' else 7}}"
                         for kind in kinds)
        sd, low, high = spreads[name] or (None, None, None)
        cells += f" {_pct(sd):>6} {_pct(low) + '-' + _pct(high):>15}"
        target, value = TARGETS.get(name), found["paired"][name]
        verdict = "" if target is None or value is None else (
            f"  target >= {target:.0%}: {'met' if value >= target else 'NOT met'} (paired)")
        print(f"{name:<24} {cells}{verdict}")


def _counters_kind() -> str:
    """Which in-process counters the servers run (``scripts/build_native.py``)."""
    from gatepass.ratelimit._native import counters_class

    return "compiled (mypyc)" if counters_class().__module__.endswith("_native") else (
        "pure Python (not compiled: scripts/build_native.py)")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slice", type=float, default=0.5, help="seconds per scenario a cycle")
    parser.add_argument("--cycles", type=int, default=60, help="measured cycles")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--cold-pool", type=int, default=25_000,
                        help="distinct tokens (> the verifier's 10k-entry cache)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--max-wait-idle", type=float, default=60.0)
    args = parser.parse_args()
    args.key_prefix = f"gatepass:bench:{secrets.token_hex(4)}"

    key = ECKey.generate_key("P-256", parameters={"kid": "bench-1", "alg": "ES256"}, private=True)
    print(f"minting {args.cold_pool} tokens ...", file=sys.stderr, flush=True)
    tokens = mint(key, args.cold_pool)
    with tempfile.TemporaryDirectory(prefix="gatepass-rs-bench-") as tmpdir, ExitStack() as stack:
        tmp = Path(tmpdir)
        servers = [start(stack, sc, key, tokens, args, tmp) for sc in scenarios(args.redis)]
        running = [s for s in servers if s.error is None]
        wait_until_idle(args.max_wait_idle)
        print(f"driving {len(running)} servers, {args.cycles} cycles ...", file=sys.stderr,
              flush=True)
        measured = dict(zip((s.scenario.name for s in running), drive(running, args),
                            strict=True))
    try:
        cleaned = clean_redis(args.redis, args.key_prefix)
    except Exception:  # Redis absent: nothing to clean
        cleaned = 0
    rows = [summarize(s.scenario.name, measured.get(s.scenario.name, {"error": s.error}))
            for s in servers]
    by_name = {r["scenario"]: r for r in rows}
    found = {kind: ratios(by_name, kind) for kind in ("total", "median", "per_cpu")}
    found["paired"] = paired(by_name)
    spreads = spread(by_name)
    print_table(rows, found, spreads, args)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"resource_server-{stamp}.json"
    out.write_text(json.dumps({
        "when": stamp, "args": vars(args), "targets": TARGETS, "ratios": found,
        "spread": {k: dict(zip(("sd", "low95", "high95"), v, strict=True)) if v else None
                   for k, v in spreads.items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": _versions() | {"fastapi": _version("fastapi"), "limits": _version("limits"),
                                   "redis": _version("redis")},
        "redis_keys_deleted": cleaned, "results": rows,
    }, indent=2))
    print(f"Results: {out.relative_to(BENCH.parent)}")


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


if __name__ == "__main__":
    main()
