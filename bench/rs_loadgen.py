"""``loadgen.py`` with a pool of requests: each connection sends the pool's next request.

The pool is shared and read in order (cycling), so a pool of distinct bearer tokens larger than
the server's verified-token cache makes every request carry a token the server has not seen
recently (the "cold cache" case); a pool of one request is exactly ``loadgen.py``. Connections,
timing and the JSON result are ``loadgen.py``'s; a 2xx (not only 200) counts as OK, and one body
is checked for ``--expect``.

    python bench/rs_loadgen.py --port 8000 --pool-file pool.bin --expect '"data"' \
        --concurrency 32 --warmup 2 --duration 10

The pool file holds the raw requests separated by NUL bytes; ``--offset`` starts that far into
it (so a later run against the same server does not replay tokens it still has cached).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import loadgen


class Pool:
    """The requests, handed out in order, cycling."""

    def __init__(self, requests: list[bytes], offset: int = 0) -> None:
        self.requests, self.offset, self.sent = requests, offset, 0

    def next(self) -> bytes:
        request = self.requests[(self.offset + self.sent) % len(self.requests)]
        self.sent += 1
        return request


class PooledConnection(loadgen.Connection):
    """A loadgen connection that takes each request from the shared pool."""

    def __init__(self, pool: Pool, expect: bytes, stats: loadgen.Stats, stopping: asyncio.Event,
                 closed: asyncio.Future[None]) -> None:
        super().__init__(b"", stats, stopping, closed)
        self._pool, self._expect = pool, expect

    def _send(self) -> None:
        self._request = self._pool.next()
        super()._send()

    def _record(self, done: int) -> None:
        stats = self._stats
        start, end = stats.window
        if not start <= done < end:
            stats.warmup_requests += done < start
            return
        stats.statuses[self._status] += 1
        if 200 <= self._status < 300:
            stats.latencies_ns.append(done - self._sent_at)
            if not stats.sample_body:
                stats.sample_body = bytes(self._buf[self._body_at:self._need])
                stats.bad_bodies += self._expect not in stats.sample_body


async def run(port: int, pool: Pool, expect: bytes, concurrency: int, warmup: float,
              duration: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats, stopping = loadgen.Stats(), asyncio.Event()
    closed: list[asyncio.Future[None]] = []
    now = time.perf_counter_ns()
    stats.window = (now + int(warmup * 1e9), now + int((warmup + duration) * 1e9))
    for _ in range(concurrency):
        fut: asyncio.Future[None] = loop.create_future()
        closed.append(fut)
        await loop.create_connection(
            lambda f=fut: PooledConnection(pool, expect, stats, stopping, f), "127.0.0.1", port)
    await asyncio.sleep(max(0.0, (stats.window[0] - time.perf_counter_ns()) / 1e9))
    print("start", flush=True)
    await asyncio.sleep(max(0.0, (stats.window[1] - time.perf_counter_ns()) / 1e9))
    print("end", flush=True)
    stopping.set()
    await asyncio.wait_for(asyncio.gather(*closed), timeout=30)
    lat = sorted(stats.latencies_ns)
    measured = (stats.window[1] - stats.window[0]) / 1e9
    return {
        "concurrency": concurrency, "warmup_s": warmup, "duration_s": measured,
        "warmup_requests": stats.warmup_requests, "requests": sum(stats.statuses.values()),
        "ok": len(lat), "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "bad_bodies": stats.bad_bodies, "lost_connections": stats.lost_connections,
        "pool_size": len(pool.requests), "pool_sent": pool.sent, "rps": len(lat) / measured,
        "p50_ms": loadgen.percentile(lat, 50), "p90_ms": loadgen.percentile(lat, 90),
        "p99_ms": loadgen.percentile(lat, 99), "max_ms": lat[-1] / 1e6 if lat else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-file", type=Path, required=True)
    parser.add_argument("--expect", default="", help="bytes one OK body must contain")
    parser.add_argument("--offset", type=int, default=0, help="start this far into the pool")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    pool = Pool([r for r in args.pool_file.read_bytes().split(b"\0") if r], args.offset)
    import uvloop

    result = uvloop.run(run(args.port, pool, args.expect.encode(), args.concurrency,
                            args.warmup, args.duration))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
