"""Closed-loop load on several servers in turn, in short slices, so scenarios are compared
moments apart.

Each target (``--target PORT POOL_FILE``) gets ``--concurrency`` keep-alive connections. One
target is driven at a time for ``--slice`` seconds: every connection sends its next request as
soon as the previous answer is complete; when the slice is over the connections stop sending,
the requests in flight finish, and the next target's slice starts. A cycle gives every target
one slice, every other cycle in reverse order. The first ``--warmup`` seconds of cycles are not
measured. A slice's throughput is its 2xx answers over the time from its first request to its
last answer, so two adjacent slices (a pair of scenarios) see the machine in the same state; a
slow spell of this shared machine, which moves a 3-second run by ±10 %, hits both.

The pool file holds raw requests separated by NUL bytes, sent in order and cycling (a pool of
distinct bearer tokens larger than the server's verified-token cache makes every request carry a
token the server has not seen recently: the "cold cache" case); one body per target is checked
for ``--expect``. Prints ``start`` and ``end`` around the measured cycles (the parent samples
CPU use there), then one JSON line: per target, every measured slice and latency percentiles.

    python bench/rs_loadgen.py --target 8001 a.bin --target 8002 b.bin --expect '"data"' \
        --concurrency 32 --slice 0.5 --warmup 3 --cycles 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import loadgen


class Target:
    """One server: its connections, its request pool, and what its slices measured."""

    def __init__(self, port: int, requests: list[bytes], expect: bytes) -> None:
        self.port, self.requests, self.expect = port, requests, expect
        self.sent = 0
        self.connections: list[RotatingConnection] = []
        self.active = False
        self.measuring = False
        self.busy = 0
        self.drained: asyncio.Future[None] | None = None
        self.started = self.last_done = 0
        self.ok = 0
        self.slices: list[tuple[int, float]] = []  # measured: (2xx answers, seconds)
        self.statuses: Counter[int] = Counter()
        self.latencies_ns: list[int] = []
        self.sample_body = b""
        self.bad_bodies = 0
        self.lost_connections = 0

    def next_request(self) -> bytes:
        request = self.requests[self.sent % len(self.requests)]
        self.sent += 1
        return request

    def answered(self, status: int, latency_ns: int, body: bytes, done: int) -> None:
        self.last_done = done
        if 200 <= status < 300:
            self.ok += 1
        if not self.measuring:
            return
        self.statuses[status] += 1
        if 200 <= status < 300:
            self.latencies_ns.append(latency_ns)
            if not self.sample_body:
                self.sample_body = body
                self.bad_bodies += self.expect not in body

    def idle(self) -> None:
        self.busy -= 1
        if self.busy == 0 and self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    async def run_slice(self, seconds: float, measuring: bool) -> None:
        """Drive every connection for ``seconds``, then let the requests in flight finish."""
        loop = asyncio.get_running_loop()
        self.measuring, self.active, self.ok = measuring, True, 0
        self.drained = loop.create_future()
        self.started = self.last_done = time.perf_counter_ns()
        live = [c for c in self.connections if c.open]
        self.busy = len(live)
        for connection in live:
            connection.resume()
        await asyncio.sleep(seconds)
        self.active = False
        if self.busy:
            await asyncio.wait_for(self.drained, timeout=30)
        if measuring:
            self.slices.append((self.ok, (self.last_done - self.started) / 1e9))

    def result(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ns)
        ok = sum(n for n, _ in self.slices)
        seconds = sum(s for _, s in self.slices)
        return {
            "port": self.port, "slices": self.slices, "ok": ok, "seconds": seconds,
            "rps": ok / seconds if seconds else 0.0, "requests": sum(self.statuses.values()),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "bad_bodies": self.bad_bodies, "lost_connections": self.lost_connections,
            "pool_size": len(self.requests), "pool_sent": self.sent,
            "p50_ms": loadgen.percentile(lat, 50), "p90_ms": loadgen.percentile(lat, 90),
            "p99_ms": loadgen.percentile(lat, 99), "max_ms": lat[-1] / 1e6 if lat else math.nan,
        }  # fmt: skip


class RotatingConnection(loadgen.Connection):
    """A loadgen connection that sends its target's next request only while the target's slice
    runs, and otherwise goes idle (open, nothing in flight)."""

    def __init__(self, target: Target, stopping: asyncio.Event,
                 closed: asyncio.Future[None]) -> None:
        super().__init__(b"", loadgen.Stats(), stopping, closed)
        self._target = target
        self.open = self.waiting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  (uvloop's is not a subclass)
        self.open = True

    def resume(self) -> None:
        self.waiting = True
        self._request = self._target.next_request()
        super()._send()

    def _send(self) -> None:  # after each answer (loadgen.Connection.data_received)
        self.waiting = False
        if self._target.active:
            self.resume()
        else:
            self._target.idle()

    def _record(self, done: int) -> None:
        body = bytes(self._buf[self._body_at:self._need]) if not self._target.sample_body else b""
        self._target.answered(self._status, done - self._sent_at, body, done)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self._stopping.is_set():
            self._target.lost_connections += 1
        if self.waiting:  # its request will never be answered
            self.waiting = False
            self._target.idle()
        super().connection_lost(exc)


async def run(targets: list[Target], concurrency: int, slice_s: float, warmup: float,
              cycles: int) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    closed: list[asyncio.Future[None]] = []
    for target in targets:
        for _ in range(concurrency):
            fut: asyncio.Future[None] = loop.create_future()
            closed.append(fut)
            _, protocol = await loop.create_connection(
                lambda t=target, f=fut: RotatingConnection(t, stopping, f),
                "127.0.0.1", target.port)  # fmt: skip
            target.connections.append(protocol)
    warm_cycles = math.ceil(warmup / (slice_s * len(targets))) if warmup > 0 else 0
    for n in range(warm_cycles + cycles):
        if n == warm_cycles:
            print("start", flush=True)
        for target in targets if n % 2 == 0 else targets[::-1]:
            await target.run_slice(slice_s, measuring=n >= warm_cycles)
    print("end", flush=True)
    stopping.set()
    for target in targets:
        for connection in target.connections:
            if connection.open and connection._transport is not None:
                connection._transport.close()
    await asyncio.wait_for(asyncio.gather(*closed), timeout=30)
    return [target.result() for target in targets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", nargs=2, action="append", required=True,
                        metavar=("PORT", "POOL_FILE"), help="repeatable; driven in this order")
    parser.add_argument("--expect", default="", help="bytes one OK body must contain")
    parser.add_argument("--concurrency", type=int, default=32, help="connections per target")
    parser.add_argument("--slice", type=float, default=0.5, help="seconds per target per cycle")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--cycles", type=int, default=40, help="measured cycles")
    args = parser.parse_args()
    targets = [Target(int(port), [r for r in Path(pool).read_bytes().split(b"\0") if r],
                      args.expect.encode()) for port, pool in args.target]  # fmt: skip
    import uvloop

    results = uvloop.run(run(targets, args.concurrency, args.slice, args.warmup, args.cycles))
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
