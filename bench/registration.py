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

    .venv/bin/python bench/registration.py [--backends sqlite,postgres] [--reg-duration 4]
        [--token-duration 2.5] [--warmup 1] [--concurrency 32] [--reg-concurrency 16]

Bounded: with the defaults a run takes about 45 s on an idle 2-core machine. Writes JSON to
``bench/results/``.
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
    BENCH,
    BIN,
    RESULTS,
    base_env,
    cpu_layout,
    database,
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
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


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


def token_rate(port: int, request: bytes, args: argparse.Namespace, tmp: Path,
               cpus: frozenset[int] | None) -> dict[str, Any]:
    """One closed-loop run of ``bench/loadgen.py`` (its own process) sending ``request``."""
    req_file = tmp / f"request-{port}.bin"
    req_file.write_bytes(request)
    done = subprocess.run(
        [sys.executable, str(BENCH / "loadgen.py"), "--port", str(port), "--request-file",
         str(req_file), "--concurrency", str(args.concurrency), "--warmup", str(args.warmup),
         "--duration", str(args.token_duration)],
        capture_output=True, text=True, check=True, timeout=60 + args.token_duration,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus))
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def check_cost(repeat: int = 20_000) -> dict[str, float]:
    """µs per token request spent in scope selection (``resolve_scopes``: catalog, granted
    scopes, tier and trust ceilings) for an operator client and a self-registered agent,
    measured in-process so the machine's other load hardly matters."""
    import timeit

    from gatepass.core.access_token import resolve_scopes
    from gatepass.models import Client
    from gatepass.runtime import server_config
    from gatepass.settings import Settings

    config = server_config(Settings(issuer="http://127.0.0.1"))
    operator = Client("client_op", "op", 0.0, allowed_scopes=(SCOPE,),
                      trust_level=config.agents.max_trust)
    agent = Client("agent_x", "agent", 0.0, allowed_scopes=(SCOPE, "read:analytics"),
                   agent_type="autonomous", tier="agent_standard", trust_level=0)
    cost = {}
    for name, client in (("operator", operator), ("agent", agent)):
        def check(c: Client = client) -> None:
            resolve_scopes(c, SCOPE, config)

        best = min(timeit.repeat(check, number=repeat, repeat=5))
        cost[f"{name}_us"] = best / repeat * 1e6
    return cost


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
                     data / "server.log"):
            if layout.client_cpus is not None:
                os.sched_setaffinity(0, layout.client_cpus)
            row: dict[str, Any] = {"backend": backend, "layout": layout.text}
            row["register"] = asyncio.run(register_load(
                port, args.reg_concurrency, args.warmup, args.reg_duration))
            agent = _register_one(port)
            requests = {"operator": token_request(port, operator["client_id"],
                                                  operator["client_secret"]),
                        "agent": token_request(port, agent["client_id"], agent["client_secret"])}
            runs: dict[str, list[dict[str, Any]]] = {"operator": [], "agent": []}
            for _ in range(args.rounds):
                for who, request in requests.items():
                    runs[who].append(token_rate(port, request, args, data, layout.client_cpus))
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
    cost = check_cost()
    print(f"\nScope/trust/tier checks per token request (in-process, best of 5): operator "
          f"{cost['operator_us']:.1f} µs, agent {cost['agent_us']:.1f} µs.")
    for row in rows:
        if "error" not in row:
            per_token_us = 1e6 / row["token_operator"]["tokens_per_s"]
            print(f"  {row['backend']}: the agent's checks are "
                  f"{cost['agent_us'] / per_token_us:.2%} of a token request "
                  f"({per_token_us:,.0f} µs of server time per token in this run).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--reg-duration", type=float, default=4.0)
    parser.add_argument("--token-duration", type=float, default=2.5)
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
                               "check_cost_us": check_cost(), "results": rows}, indent=2))
    print(f"Results: {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
