"""Benchmark: agent registrations per second, and what trust/approval checks add to /oauth/token.

For each backend (SQLite file, PostgreSQL) one uvicorn server (``gatepass.http.asgi:app``, the
flags of ``gatepass serve``, pinned to one CPU) runs with a free tier configured and the per-IP
registration limit raised. Then:

1. ``POST /api/v1/agents/register``, every request a new agent (distinct ``agent_name``, so no
   dedup), from ``--reg-concurrency`` keep-alive httpx connections in this process (pinned to
   another CPU): registrations/s, p50/p99, non-201 answers.
2. ``POST /oauth/token`` with the load generator of ``token_endpoint.py`` for an operator client
   (``gatepass clients create``: top trust, no tier) and for a self-registered agent (trust 0,
   a tier: the ceiling checks run for every scope), alternating A/B/A/B; the ratio of their
   tokens/s is the cost of the checks.

    .venv/bin/python bench/registration.py [--backends sqlite,postgres] [--reg-duration 5]
        [--token-duration 3] [--warmup 1] [--concurrency 32] [--reg-concurrency 16]

Bounded: with the defaults a run takes about 50 s. Writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from token_endpoint import (  # bench/ is on sys.path when run as a script
    BIN,
    RESULTS,
    base_env,
    cpu_layout,
    database,
    drive,
    free_port,
    token_request,
    uvicorn,
)

SCOPE = "read:projects"
REGISTER = "/api/v1/agents/register"
PER_IP_LIMIT = 10_000  # the moving window's ceiling; far above what one run sends


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


async def register_load(port: int, concurrency: int, warmup: float, duration: float
                        ) -> dict[str, Any]:
    """Closed-loop registrations of new agents; counts only the measured window."""
    counter = iter(range(10**9))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    start = time.perf_counter()
    window = (start + warmup, start + warmup + duration)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(http: httpx.AsyncClient) -> None:
        while (sent := time.perf_counter()) < window[1]:
            body = {"agent_name": f"bench-agent-{next(counter)}", "agent_type": "autonomous",
                    "requested_scopes": [SCOPE], "tos_accepted": True}
            response = await http.post(REGISTER, json=body)
            done = time.perf_counter()
            if window[0] <= sent and done <= window[1]:
                statuses[response.status_code] += 1
                latencies.append((done - sent) * 1000)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    ok = statuses.get(201, 0)
    return {"registrations_per_s": ok / duration, "ok": ok,
            "non_201": {str(k): v for k, v in statuses.items() if k != 201},
            "p50_ms": _percentile(latencies, 50), "p99_ms": _percentile(latencies, 99)}


def _register_one(port: int) -> dict[str, Any]:
    response = httpx.post(f"http://127.0.0.1:{port}{REGISTER}", json={
        "agent_name": "bench-token-agent", "agent_type": "autonomous",
        "requested_scopes": ["read:projects", "read:analytics", "read:billing"],
        "tos_accepted": True})
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    port = free_port()
    layout = cpu_layout(1)
    data = tmp / backend
    data.mkdir()
    with database(backend, data) as url:
        env = base_env() | {
            "GATEPASS_ISSUER": f"http://127.0.0.1:{port}", "GATEPASS_DATABASE_URL": url,
            "GATEPASS_DATA_DIR": str(data), "GATEPASS_DEVELOPMENT": "true",
            "GATEPASS_LOG_LEVEL": args.server_log_level,
            "GATEPASS_AGENTS__FREE_TIER": "agent_standard",
            "GATEPASS_AGENTS__REGISTRATIONS_PER_IP_PER_HOUR": str(PER_IP_LIMIT),
        }
        operator = json.loads(subprocess.run(
            [str(BIN / "gatepass"), "clients", "create", "--name", "bench-operator", "--scope",
             SCOPE, "--json"], env=env, check=True, capture_output=True, text=True,
            timeout=120).stdout)
        env["GATEPASS_MIGRATE"] = "0"
        with uvicorn(["gatepass.http.asgi:app", "--factory"], port, 1, env, layout.server_cpus,
                     data / "server.log") as srv:
            if layout.client_cpus is not None:
                os.sched_setaffinity(0, layout.client_cpus)
            row: dict[str, Any] = {"backend": backend, "layout": layout.text}
            row["register"] = asyncio.run(register_load(
                port, args.reg_concurrency, args.warmup, args.reg_duration))
            agent = _register_one(port)
            token_args = argparse.Namespace(concurrency=args.concurrency, warmup=args.warmup,
                                            duration=args.token_duration)
            requests = {"operator": token_request(port, operator["client_id"],
                                                  operator["client_secret"]),
                        "agent": token_request(port, agent["client_id"], agent["client_secret"])}
            runs: dict[str, list[dict[str, Any]]] = {"operator": [], "agent": []}
            for _ in range(args.rounds):
                for who, request in requests.items():
                    runs[who].append(drive(port, request, srv, layout, token_args, tmp))
            for who, results in runs.items():
                row[f"token_{who}"] = {
                    "tokens_per_s": sum(r["rps"] for r in results) / len(results),
                    "p50_ms": sum(r["p50_ms"] for r in results) / len(results),
                    "non_200": sum(sum(r["non_200"].values()) for r in results),
                    "runs": [round(r["rps"], 1) for r in results]}
            row["agent_vs_operator"] = (row["token_agent"]["tokens_per_s"]
                                        / row["token_operator"]["tokens_per_s"])
            return row


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\nRegistrations: POST {REGISTER}, new agent each time, free tier, "
          f"{args.reg_concurrency} httpx connections, {args.warmup:g} s warm-up + "
          f"{args.reg_duration:g} s measured.")
    print(f"Token endpoint: client_secret_basic, scope {SCOPE}, {args.concurrency} connections, "
          f"{args.rounds} x ({args.warmup:g} + {args.token_duration:g} s) per client kind, "
          "alternating.\n")
    fmt = "{:<9} {:>10} {:>8} {:>8} {:>7} {:>12} {:>12} {:>12}"
    print(fmt.format("backend", "reg/s", "p50 ms", "p99 ms", "non201", "op tok/s",
                     "agent tok/s", "agent/op"))
    for row in rows:
        if "error" in row:
            print(f"{row['backend']:<9} skipped: {row['error']}")
            continue
        reg, op, ag = row["register"], row["token_operator"], row["token_agent"]
        print(fmt.format(row["backend"], f"{reg['registrations_per_s']:,.0f}",
                         f"{reg['p50_ms']:.1f}", f"{reg['p99_ms']:.1f}",
                         sum(reg["non_201"].values()), f"{op['tokens_per_s']:,.0f}",
                         f"{ag['tokens_per_s']:,.0f}", f"{row['agent_vs_operator']:.1%}"))
    print(f"\n{rows[0].get('layout', '')}" if rows else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--reg-duration", type=float, default=5.0)
    parser.add_argument("--token-duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds of token runs")
    parser.add_argument("--concurrency", type=int, default=32, help="token load connections")
    parser.add_argument("--reg-concurrency", type=int, default=16)
    parser.add_argument("--server-log-level", default="INFO")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gatepass-regbench-") as tmpdir:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"{backend} ...", file=sys.stderr, flush=True)
            try:
                rows.append(run_backend(backend, args, Path(tmpdir)))
            except Exception as exc:  # report it and go on with the next backend
                rows.append({"backend": backend, "error": f"{type(exc).__name__}: {exc}"[:300]})
    print_table(rows, args)
    print(f"Total time: {time.monotonic() - started:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"registration-{stamp}.json"
    out.write_text(json.dumps({"when": stamp, "args": vars(args), "cpus": os.cpu_count(),
                               "results": rows}, indent=2))
    print(f"Results: {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
