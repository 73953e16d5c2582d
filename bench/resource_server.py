"""Benchmark: the demo API's ``GET /api/projects`` over HTTP, protected and not, in one run.

Five scenarios, each its own uvicorn process (``bench/rs_app.py``, the flags ``gatepass serve``
uses, one worker pinned to CPU 0; all started first, idle while another runs) driven in turn by
``bench/rs_loadgen.py`` pinned to CPU 1, with a fixed number of keep-alive connections for a
bounded time:

==========================  ====================================================================
unprotected                 the demo routes without ``gatepass.rs`` or rate limiting
protected, warm cache       ``create_demo_api``: one token, a verified-token cache hit each time
protected, cold cache       the same app, a distinct pre-minted token on every request
rate limit, memory          warm + ``RateLimitMiddleware`` on ``memory://`` (3 windows counted)
rate limit, redis           warm + ``RateLimitMiddleware`` on Redis 127.0.0.1:6379, own prefix
==========================  ====================================================================

Rounds are interleaved, every other one in reverse order (a drift of the machine's speed then
favours neither side of a pair). Per scenario: the best round (other processes only ever slow a
run down, so the best is the least disturbed), the median, and requests per second of server CPU
(the best round's: throughput per core whatever share of CPU 0 the server got). Ratios are given
four ways; the targets are judged on "paired", the median over rounds of the ratio of two runs
made back to back: warm ≥ 85% of unprotected; rate limit on memory ≥ 90% of warm (the same app
without it). Writes JSON to ``bench/results/``.

    .venv/bin/python bench/resource_server.py [--duration 3] [--warmup 2] [--concurrency 32]
        [--rounds 9] [--cold-pool 25000] [--redis redis://127.0.0.1:6379/0]

Nine short rounds rather than five long ones: a round on this noisy machine moves by ±10 %, and
the median of nine paired ratios moves far less than that of five (about four minutes in all).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def scenarios(redis_url: str) -> list[Scenario]:
    """In the order they run within a round: each ratio's two sides run back to back."""
    return [Scenario("unprotected", "unprotected"),
            Scenario("protected, warm cache", "protected"),
            Scenario("rate limit, memory", "ratelimit", storage="memory://"),
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
    """A scenario's running server, its request pool and how far into it the runs got."""

    scenario: Scenario
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    pool: Path | None = None
    offset: int = 0
    verifier: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def start(stack: ExitStack, sc: Scenario, key: ECKey, tokens: list[str],
          args: argparse.Namespace, tmp: Path) -> Server:
    """Start the scenario's uvicorn (pinned like ``token_endpoint.py``) and check one request."""
    server = Server(sc, free_port())
    env = base_env() | {"BENCH_MODE": sc.mode, "BENCH_ISSUER": ISSUER,
                        "BENCH_RESOURCE": RESOURCE, "BENCH_RL_STORAGE": sc.storage or "",
                        "BENCH_KEY_PREFIX": args.key_prefix,
                        "BENCH_JWKS": json.dumps({"keys": [key.as_dict(private=False)]})}
    app = ["rs_app:app", "--factory", "--app-dir", str(BENCH)]
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


def drive(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """One run of ``rs_loadgen.py`` (``token_endpoint.drive``'s CPU accounting), continuing the
    pool where the last run stopped; the verifier's counters for this run."""
    assert server.proc is not None and server.pool is not None
    layout = cpu_layout(1)
    cmd = [sys.executable, str(BENCH / "rs_loadgen.py"), "--port", str(server.port),
           "--pool-file", str(server.pool), "--offset", str(server.offset), "--expect",
           '"data"', "--concurrency", str(args.concurrency), "--warmup", str(args.warmup),
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
            samples.append((time.monotonic(), _cpu_seconds(_proc_tree(server.proc.pid)),
                            _cpu_seconds([gen.pid]), _system_ticks()))
        result: dict[str, Any] = json.loads(gen.stdout.readline())
    finally:
        if gen.wait(timeout=60) != 0:
            raise RuntimeError("load generator failed")
    (t0, srv0, cli0, sys0), (t1, srv1, cli1, sys1) = samples
    wall = t1 - t0
    result["server_cpu_pct"] = 100 * (srv1 - srv0) / wall
    result["client_cpu_pct"] = 100 * (cli1 - cli0) / wall
    busy = 100 * len(os.sched_getaffinity(0)) * (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1])
    result["other_cpu_pct"] = max(0.0, busy - result["server_cpu_pct"] - result["client_cpu_pct"])
    server.offset += result["pool_sent"]
    now = _stats(server.port)
    result["verifier"] = {k: v - server.verifier.get(k, 0) for k, v in now.items()}
    server.verifier = now
    return result


def clean_redis(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def summarize(name: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Best and median round; the best round's latency and CPU figures."""
    ok = [r for r in rounds if "error" not in r]
    if not ok:
        return {"scenario": name, "error": rounds[-1]["error"], "rounds": rounds}
    best = max(ok, key=lambda r: r["rps"])
    middle = statistics.median(r["rps"] for r in ok)
    per_cpu = max(r["rps"] * 100 / r["server_cpu_pct"] for r in ok if r["server_cpu_pct"] > 1)
    return {"scenario": name, "best": best["rps"], "median": middle, "per_cpu": per_cpu,
            "p50_ms": best["p50_ms"], "p99_ms": best["p99_ms"], "statuses": best["statuses"],
            "bad_bodies": best["bad_bodies"], "server_cpu_pct": best["server_cpu_pct"],
            "other_cpu_pct": best["other_cpu_pct"], "verifier": best.get("verifier"),
            "rounds": rounds}


PAIRS = {"warm/unprotected": ("protected, warm cache", "unprotected"),
         "ratelimit-memory/warm": ("rate limit, memory", "protected, warm cache"),
         "ratelimit-redis/warm": ("rate limit, redis", "protected, warm cache"),
         "cold/warm": ("protected, cold cache", "protected, warm cache")}


def ratios(rows: dict[str, dict[str, Any]], field: str) -> dict[str, float | None]:
    """Each ratio of two scenarios' ``field`` (best, median or per_cpu)."""
    found: dict[str, float | None] = {}
    for name, (a, b) in PAIRS.items():
        ra, rb = rows[a].get(field), rows[b].get(field)
        found[name] = ra / rb if ra and rb else None
    return found


def paired(runs: dict[str, list[dict[str, Any]]]) -> dict[str, float | None]:
    """Median over rounds of the ratio within a round (its two runs were seconds apart, so a
    slow spell of the machine tends to hit both)."""
    found: dict[str, float | None] = {}
    for name, (a, b) in PAIRS.items():
        each = [x["rps"] / y["rps"] for x, y in zip(runs[a], runs[b], strict=True)
                if x.get("rps") and y.get("rps")]
        found[name] = statistics.median(each) if each else None
    return found


def print_table(rows: list[dict[str, Any]], found: dict[str, dict[str, float | None]],
                args: argparse.Namespace) -> None:
    print(f"\nGET /api/projects (FastAPI demo API); {args.concurrency} keep-alive connections, "
          f"{args.warmup:g} s warm-up + {args.duration:g} s measured, {args.rounds} interleaved "
          f"round(s); uvicorn {' '.join(UVICORN_FLAGS)}; {cpu_layout(1).text}. Latency and CPU "
          "of the best round.\n")
    fmt = "{:<24} {:>10} {:>12} {:>10} {:>7} {:>7} {:>7} {:>7} {:>6} {:>15}"
    print(fmt.format("scenario", "best req/s", "median req/s", "req/CPU-s", "p50 ms", "p99 ms",
                     "non-2xx", "srv CPU", "other", "sig checks/hits"))
    for row in rows:
        if "error" in row:
            print(f"{row['scenario']:<24} skipped: {row['error']}")
            continue
        bad = sum(v for k, v in row["statuses"].items() if not k.startswith("2"))
        ver = row.get("verifier") or {}
        checks = f"{ver.get('signature_checks', '-')}/{ver.get('cache_hits', '-')}"
        print(fmt.format(row["scenario"], f"{row['best']:,.0f}", f"{row['median']:,.0f}",
                         f"{row['per_cpu']:,.0f}", f"{row['p50_ms']:.2f}",
                         f"{row['p99_ms']:.2f}", bad, f"{row['server_cpu_pct']:.0f}%",
                         f"{row['other_cpu_pct']:.0f}%", checks))
    kinds = ("paired", "best", "median", "per_cpu")
    print(f"\n{'ratio':<24} {'paired':>7} {'best':>7} {'median':>7} {'per CPU':>8}")
    for name in PAIRS:
        cells = " ".join(f"{_pct(found[kind][name]):>{8 if kind == 'per_cpu' else 7}}"
                         for kind in kinds)
        target, value = TARGETS.get(name), found["paired"][name]
        verdict = "" if target is None or value is None else (
            f"  target >= {target:.0%}: {'met' if value >= target else 'NOT met'} (paired)")
        print(f"{name:<24} {cells}{verdict}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per scenario")
    parser.add_argument("--cold-pool", type=int, default=25_000,
                        help="distinct tokens (> the verifier's 10k-entry cache)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--max-wait-idle", type=float, default=60.0)
    args = parser.parse_args()
    args.key_prefix = f"gatepass:bench:{secrets.token_hex(4)}"

    key = ECKey.generate_key("P-256", parameters={"kid": "bench-1", "alg": "ES256"}, private=True)
    print(f"minting {args.cold_pool} tokens ...", file=sys.stderr, flush=True)
    tokens = mint(key, args.cold_pool)
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="gatepass-rs-bench-") as tmpdir, ExitStack() as stack:
        tmp = Path(tmpdir)
        servers = [start(stack, sc, key, tokens, args, tmp) for sc in scenarios(args.redis)]
        for n in range(args.rounds):
            for server in servers if n % 2 == 0 else servers[::-1]:
                name = server.scenario.name
                print(f"round {n + 1}: {name} ...", file=sys.stderr, flush=True)
                if server.error is not None:
                    runs.setdefault(name, []).append({"error": server.error})
                    continue
                wait_until_idle(args.max_wait_idle)
                try:
                    runs.setdefault(name, []).append(drive(server, args))
                except Exception as exc:  # report it and go on
                    runs[name].append({"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    try:
        cleaned = clean_redis(args.redis, args.key_prefix)
    except Exception:  # Redis absent: nothing to clean
        cleaned = 0
    rows = [summarize(name, found) for name, found in runs.items()]
    by_name = {r["scenario"]: r for r in rows}
    found = {field: ratios(by_name, field) for field in ("best", "median", "per_cpu")}
    found["paired"] = paired(runs)
    print_table(rows, found, args)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"resource_server-{stamp}.json"
    out.write_text(json.dumps({
        "when": stamp, "args": vars(args), "targets": TARGETS, "ratios": found,
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
