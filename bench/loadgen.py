"""Closed-loop HTTP/1.1 load generator: N keep-alive connections, one request in flight on each.

Raw asyncio protocols (uvloop when installed) with one pre-built request, so the client costs a
few microseconds per request and is never the bottleneck. Run as its own process by
``token_endpoint.py``; prints ``start`` and ``end`` lines when the measured window opens and
closes (so the parent can sample CPU use), then one JSON line with the results.

    python bench/loadgen.py --port 8000 --request-file req.bin --concurrency 32 \
        --warmup 2 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Stats:
    window: tuple[int, int] = (0, 0)  # perf_counter_ns bounds of the measured window
    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    warmup_requests: int = 0
    bad_bodies: int = 0
    lost_connections: int = 0  # closed by the server before the run ended
    sample_body: bytes = b""


class Connection(asyncio.Protocol):
    """One keep-alive connection that sends the request again as soon as a response ends."""

    def __init__(self, request: bytes, stats: Stats, stopping: asyncio.Event,
                 closed: asyncio.Future[None]) -> None:
        self._request = request
        self._stats = stats
        self._stopping = stopping
        self._closed = closed
        self._buf = bytearray()
        self._need = -1
        self._body_at = 0
        self._status = 0
        self._sent_at = 0
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  (uvloop's is not a subclass)
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        self._buf.clear()
        self._need = -1
        self._sent_at = time.perf_counter_ns()
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._need < 0:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buf[:end]).lower() + b"\r\n"
            self._status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                raise RuntimeError("response without content-length")
            length = int(head[at + 17:head.find(b"\r\n", at + 17)])
            self._body_at = end + 4
            self._need = self._body_at + length
        if len(self._buf) < self._need:
            return
        self._record(time.perf_counter_ns())
        if self._stopping.is_set():
            assert self._transport is not None
            self._transport.close()
        else:
            self._send()

    def _record(self, done: int) -> None:
        stats = self._stats
        start, end = stats.window
        if not start <= done < end:
            if done < start:
                stats.warmup_requests += 1
            return
        stats.statuses[self._status] += 1
        if self._status == 200:
            stats.latencies_ns.append(done - self._sent_at)
            if not stats.sample_body:  # check one body: a token response, not just any 200
                stats.sample_body = bytes(self._buf[self._body_at:self._need])
                if b'"access_token"' not in stats.sample_body:
                    stats.bad_bodies += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._stopping.is_set():
            self._stats.lost_connections += 1
        if not self._closed.done():
            self._closed.set_result(None)


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of an ascending list (ns -> ms)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank] / 1e6


async def run(host: str, port: int, request: bytes, concurrency: int, warmup: float,
              duration: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    stopping = asyncio.Event()
    closed: list[asyncio.Future[None]] = []
    now = time.perf_counter_ns()
    stats.window = (now + int(warmup * 1e9), now + int((warmup + duration) * 1e9))
    for _ in range(concurrency):
        fut: asyncio.Future[None] = loop.create_future()
        closed.append(fut)
        await loop.create_connection(lambda f=fut: Connection(request, stats, stopping, f),
                                     host, port)
    await asyncio.sleep(max(0.0, (stats.window[0] - time.perf_counter_ns()) / 1e9))
    print("start", flush=True)
    await asyncio.sleep(max(0.0, (stats.window[1] - time.perf_counter_ns()) / 1e9))
    print("end", flush=True)
    stopping.set()
    await asyncio.wait_for(asyncio.gather(*closed), timeout=30)
    lat = sorted(stats.latencies_ns)
    ok = stats.statuses.get(200, 0)
    measured = (stats.window[1] - stats.window[0]) / 1e9
    return {
        "concurrency": concurrency,
        "warmup_s": warmup,
        "duration_s": measured,
        "warmup_requests": stats.warmup_requests,
        "requests": sum(stats.statuses.values()),
        "ok": ok,
        "non_200": {str(k): v for k, v in sorted(stats.statuses.items()) if k != 200},
        "bad_bodies": stats.bad_bodies,
        "lost_connections": stats.lost_connections,
        "rps": ok / measured,
        "mean_ms": (sum(lat) / len(lat) / 1e6) if lat else float("nan"),
        "p50_ms": percentile(lat, 50),
        "p90_ms": percentile(lat, 90),
        "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1] / 1e6 if lat else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--request-file", type=Path, required=True,
                        help="the raw HTTP/1.1 request to send, bytes as they go on the wire")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    result = runner(run(args.host, args.port, args.request_file.read_bytes(), args.concurrency,
                        args.warmup, args.duration))
    result["loop"] = "uvloop" if runner is not asyncio.run else "asyncio"
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
