"""Benchmark: the demo API's ``GET /api/projects`` over HTTP, protected and not, in one run.

Five scenarios, each a fresh uvicorn process (``bench/rs_app.py``, the flags ``gatepass serve``
uses, one worker pinned to CPU 0) driven by ``bench/rs_loadgen.py`` pinned to CPU 1, with a fixed
number of keep-alive connections for a bounded time:

==========================  ====================================================================
unprotected                 the demo routes without ``gatepass.rs`` or rate limiting
protected, warm cache       ``create_demo_api``: one token, a verified-token cache hit each time
protected, cold cache       the same app, a distinct pre-minted token on every request
rate limit, memory          warm + ``RateLimitMiddleware`` on ``memory://`` (3 windows counted)
rate limit, redis           warm + ``RateLimitMiddleware`` on Redis 127.0.0.1:6379, own prefix
==========================  ====================================================================

Rounds are interleaved; each scenario's best round (other processes only ever slow a run down,
so the best is the least disturbed) and median are reported, and the targets are judged on the
best: warm ≥ 85% of unprotected; rate limit on memory ≥ 90% of warm (the same app without it).
Writes JSON to ``bench/results/``.

    .venv/bin/python bench/resource_server.py [--duration 4] [--warmup 2] [--concurrency 32]
        [--rounds 5] [--cold-pool 25000] [--redis redis://127.0.0.1:6379/0]
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
from dataclasses import dataclass
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
    Layout,
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
    return [Scenario("unprotected", "unprotected"),
            Scenario("protected, warm cache", "protected"),
            Scenario("protected, cold cache", "protected", cold=True),
            Scenario("rate limit, memory", "ratelimit", storage="memory://"),
            Scenario("rate limit, redis", "ratelimit", storage=redis_url)]


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


def drive_pool(port: int, pool: list[bytes], server: subprocess.Popen[bytes], layout: Layout,
               args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """``token_endpoint.drive`` with ``rs_loadgen.py`` and a pool of requests."""
    pool_file = tmp / f"pool-{port}.bin"
    pool_file.write_bytes(b"\0".join(pool))
    cmd = [sys.executable, str(BENCH / "rs_loadgen.py"), "--port", str(port), "--pool-file",
           str(pool_file), "--expect", '"data"', "--concurrency", str(args.concurrency),
           "--warmup", str(args.warmup), "--duration", str(args.duration)]
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
    finally:
        if gen.wait(timeout=60) != 0:
            raise RuntimeError("load generator failed")
    (t0, srv0, cli0, sys0), (t1, srv1, cli1, sys1) = samples
    wall = t1 - t0
    result["server_cpu_pct"] = 100 * (srv1 - srv0) / wall
    result["client_cpu_pct"] = 100 * (cli1 - cli0) / wall
    busy = 100 * len(os.sched_getaffinity(0)) * (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1])
    result["other_cpu_pct"] = max(0.0, busy - result["server_cpu_pct"] - result["client_cpu_pct"])
    return result


def run_scenario(sc: Scenario, key: ECKey, tokens: list[str], args: argparse.Namespace,
                 tmp: Path) -> dict[str, Any]:
    port, layout = free_port(), cpu_layout(1)
    env = base_env() | {"BENCH_MODE": sc.mode, "BENCH_ISSUER": ISSUER,
                        "BENCH_RESOURCE": RESOURCE, "BENCH_RL_STORAGE": sc.storage or "",
                        "BENCH_KEY_PREFIX": args.key_prefix,
                        "BENCH_JWKS": json.dumps({"keys": [key.as_dict(private=False)]})}
    pool = [request(port, t) for t in (tokens if sc.cold else tokens[:1])]
    if sc.mode == "unprotected":
        pool = [request(port, None)]
    app = ["rs_app:app", "--factory", "--app-dir", str(BENCH)]
    wait_until_idle(args.max_wait_idle)
    with uvicorn(app, port, 1, env, layout.server_cpus, tmp / f"rs-{port}.log") as srv:
        check = httpx.get(f"http://127.0.0.1:{port}/api/projects",
                          headers={"Authorization": f"Bearer {tokens[-1]}"})
        if check.status_code != 200:
            raise RuntimeError(f"demo API refused: {check.status_code} {check.text[:300]}")
        result = drive_pool(port, pool, srv, layout, args, tmp)
        result["verifier"] = httpx.get(f"http://127.0.0.1:{port}/bench/stats").json()
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
    return {"scenario": name, "best": best["rps"], "median": middle,
            "p50_ms": best["p50_ms"], "p99_ms": best["p99_ms"], "statuses": best["statuses"],
            "bad_bodies": best["bad_bodies"], "server_cpu_pct": best["server_cpu_pct"],
            "other_cpu_pct": best["other_cpu_pct"], "verifier": best.get("verifier"),
            "rounds": rounds}


def ratios(rows: dict[str, dict[str, Any]], field: str) -> dict[str, float | None]:
    def ratio(a: str, b: str) -> float | None:
        ra, rb = rows[a].get(field), rows[b].get(field)
        return ra / rb if ra and rb else None

    return {"warm/unprotected": ratio("protected, warm cache", "unprotected"),
            "cold/warm": ratio("protected, cold cache", "protected, warm cache"),
            "ratelimit-memory/warm": ratio("rate limit, memory", "protected, warm cache"),
            "ratelimit-redis/warm": ratio("rate limit, redis", "protected, warm cache")}


def print_table(rows: list[dict[str, Any]], best: dict[str, float | None],
                median: dict[str, float | None], args: argparse.Namespace) -> None:
    print(f"\nGET /api/projects (FastAPI demo API); {args.concurrency} keep-alive connections, "
          f"{args.warmup:g} s warm-up + {args.duration:g} s measured, {args.rounds} interleaved "
          f"round(s); uvicorn {' '.join(UVICORN_FLAGS)}; {cpu_layout(1).text}. Latency and CPU "
          "of the best round.\n")
    fmt = "{:<24} {:>11} {:>13} {:>7} {:>7} {:>7} {:>7} {:>6} {:>15}"
    print(fmt.format("scenario", "best req/s", "median req/s", "p50 ms", "p99 ms", "non-2xx",
                     "srv CPU", "other", "sig checks/hits"))
    for row in rows:
        if "error" in row:
            print(f"{row['scenario']:<24} skipped: {row['error']}")
            continue
        bad = sum(v for k, v in row["statuses"].items() if not k.startswith("2"))
        ver = row.get("verifier") or {}
        checks = f"{ver.get('signature_checks', '-')}/{ver.get('cache_hits', '-')}"
        print(fmt.format(row["scenario"], f"{row['best']:,.0f}", f"{row['median']:,.0f}",
                         f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", bad,
                         f"{row['server_cpu_pct']:.0f}%", f"{row['other_cpu_pct']:.0f}%", checks))
    print(f"\n{'ratio':<24} {'best':>7} {'median':>7}")
    for name, value in best.items():
        target = TARGETS.get(name)
        verdict = "" if target is None or value is None else (
            f"  target >= {target:.0%}: {'met' if value >= target else 'NOT met'} (best)")
        print(f"{name:<24} {_pct(value):>7} {_pct(median.get(name)):>7}{verdict}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per scenario")
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
    with tempfile.TemporaryDirectory(prefix="gatepass-rs-bench-") as tmpdir:
        for n in range(args.rounds):
            for sc in scenarios(args.redis):
                print(f"round {n + 1}: {sc.name} ...", file=sys.stderr, flush=True)
                try:
                    result = run_scenario(sc, key, tokens, args, Path(tmpdir))
                except Exception as exc:  # report it and go on
                    result = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                runs.setdefault(sc.name, []).append(result)
    try:
        cleaned = clean_redis(args.redis, args.key_prefix)
    except Exception:  # Redis absent: nothing to clean
        cleaned = 0
    rows = [summarize(name, found) for name, found in runs.items()]
    by_name = {r["scenario"]: r for r in rows}
    best, median = ratios(by_name, "best"), ratios(by_name, "median")
    print_table(rows, best, median, args)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"resource_server-{stamp}.json"
    out.write_text(json.dumps({
        "when": stamp, "args": vars(args), "targets": TARGETS, "ratios_best": best,
        "ratios_median": median,
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
