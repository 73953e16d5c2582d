"""Where the token path spends its CPU: in-process runs of ``create_app`` without a network.

``POST /oauth/token`` (client_secret_basic) goes straight into the ASGI app through hand-made
``receive``/``send`` callables, in batches of concurrent requests, with the lifespan running (so
the audit flush and other background jobs run as in a server). CPU is read from the main
thread's and the process's CPU clocks, which other processes on the machine do not inflate.
Logging is configured as in a server process (``gatepass.http.asgi``), into a temporary file.

Two modes:

* ``--compare`` (default): CPU per request for the floor app (``floor_app.py``) and for
  Gatepass as shipped and with one thing changed at a time (monkeypatched here, never in
  ``src/``), best of ``--repeat`` runs.
* ``--profile``: cProfile (main-thread CPU clock) of Gatepass as shipped: own time by package
  and the top functions.

    .venv/bin/python bench/profile_token.py [--compare | --profile] [--requests 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from asgi_lifespan import LifespanManager

from gatepass.http.app import create_app
from gatepass.observability.logging import configure_logging
from gatepass.settings import Settings

HERE = Path(__file__).resolve().parent
ISSUER = "http://127.0.0.1:8000"
BODY = urlencode({"grant_type": "client_credentials", "scope": "read:projects"}).encode()
BREAKDOWN = [  # (label, file suffix, function): inclusive time of these functions
    ("token route handler (gatepass.http.oauth)", "gatepass/http/oauth.py", "token"),
    ("  read_oauth_request (body, form)", "gatepass/http/forms.py", "read_oauth_request"),
    ("  AuthorizationServer.token (core)", "gatepass/core/server.py", "token"),
    ("    client authentication", "gatepass/core/client_auth/__init__.py", "authenticate"),
    ("    client_credentials grant issue", "gatepass/core/grants/client_credentials.py",
     "issue"),
    ("      Keyring.sign (joserfc ES256)", "gatepass/keys/keyring.py", "sign"),
    ("    Auditor.emit (event + callbacks)", "gatepass/core/audit.py", "emit"),
    ("  json_response", "gatepass/http/responses.py", "json_response"),
    ("background: Auditor.flush (log lines, metrics, SQL)", "gatepass/core/audit.py", "flush"),
    ("background: Runtime.reload_keys", "gatepass/runtime.py", "reload_keys"),
]
GROUPS = [  # (label, substrings of the code path); first match wins
    ("joserfc + cryptography (JWT signing)", ("joserfc", "cryptography")),
    ("structlog + logging (audit log line)", ("structlog", "/logging/", "logging.py")),
    ("starlette", ("starlette",)),
    ("gatepass.http", ("gatepass/http",)),
    ("gatepass.core", ("gatepass/core",)),
    ("gatepass (other modules)", ("gatepass/",)),
    ("sqlalchemy + aiosqlite (audit flush)", ("sqlalchemy", "aiosqlite", "psycopg")),
    ("prometheus_client", ("prometheus_client",)),
    ("asyncio", ("asyncio",)),
    ("json", ("json",)),
    ("this script (ASGI glue)", ("profile_token.py",)),
]


# --- driving an ASGI app -----------------------------------------------------------------------

def http_scope(authorization: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": "/oauth/token", "raw_path": b"/oauth/token",
        "query_string": b"", "root_path": "", "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", authorization.encode()),
                    (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(BODY)).encode())],
    }


async def call(app: Any, scope: dict[str, Any]) -> int:
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


@dataclass
class Timing:
    thread_us: float  # main-thread CPU per request
    process_us: float  # all threads (aiosqlite runs SQLite in a thread of its own)
    wall_us: float


async def timed(app: Any, scope: dict[str, Any], n: int, concurrency: int,
                prof: cProfile.Profile | None = None) -> Timing:
    batches = max(1, n // concurrency)
    t0, p0, w0 = time.thread_time(), time.process_time(), time.perf_counter()
    if prof is not None:
        prof.enable()
    for _ in range(batches):
        statuses = await asyncio.gather(*(call(app, scope) for _ in range(concurrency)))
        assert set(statuses) == {200}, statuses
    if prof is not None:
        prof.disable()
    done = batches * concurrency
    return Timing((time.thread_time() - t0) / done * 1e6, (time.process_time() - p0) / done * 1e6,
                  (time.perf_counter() - w0) / done * 1e6)


# --- variants -----------------------------------------------------------------------------------

@contextlib.contextmanager
def _no_audit() -> Iterator[None]:
    """Auditor.emit does nothing: no event, no log line, no metrics, no flush."""
    from gatepass.core.audit import Auditor

    original = Auditor.emit
    Auditor.emit = lambda self, *a, **k: None  # type: ignore[assignment, method-assign]
    try:
        yield
    finally:
        Auditor.emit = original  # type: ignore[method-assign]


@dataclass
class Variant:
    name: str
    backend: str = "sqlite"
    log_level: str = "INFO"
    patch: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext
    floor: bool = False
    bare_stack: bool = False  # drop the app's own middleware (rate limit, sessions)


VARIANTS = [
    Variant("floor app (bench/floor_app.py)", floor=True),
    Variant("gatepass as shipped (SQLite, INFO)"),
    Variant("  no audit log line (log WARNING)", log_level="WARNING"),
    Variant("  memory store (no SQL at all)", backend="memory"),
    Variant("  no audit events at all", patch=_no_audit),
    Variant("  without the app's middleware", bare_stack=True),
]


def drop_user_middleware(app: Any) -> None:
    """Rebuild the Starlette stack without ``add_middleware`` entries (Starlette's own stay)."""
    app.user_middleware = []
    app.middleware_stack = app.build_middleware_stack()


@contextlib.asynccontextmanager
async def gatepass_app(tmp: Path, backend: str, log_level: str) -> Any:
    database = "memory://" if backend == "memory" else f"sqlite+aiosqlite:///{tmp}/p.db"
    settings = Settings(issuer=ISSUER, database_url=database, data_dir=tmp, development=True,
                        log_level=log_level)
    with (tmp / "server.log").open("w") as log_file:
        saved, sys.stderr = sys.stderr, log_file  # configure_logging binds sys.stderr
        try:
            configure_logging(settings.log_level)
            app = create_app(settings)
            async with LifespanManager(app):
                created = await app.state.runtime.admin.create_client("bench", ["read:projects"])
                creds = f"{created.client.client_id}:{created.secret}".encode()
                yield app, http_scope("Basic " + base64.b64encode(creds).decode())
        finally:
            sys.stderr = saved


@contextlib.asynccontextmanager
async def floor_app() -> Any:
    sys.path.insert(0, str(HERE))
    from floor_app import app as make_floor

    app = make_floor()
    async with LifespanManager(app):  # type: ignore[arg-type]
        yield app, http_scope("Basic " + base64.b64encode(b"client:secret").decode())


async def measure(variant: Variant, args: argparse.Namespace) -> Timing:
    with tempfile.TemporaryDirectory(prefix="gatepass-profile-") as tmpdir, variant.patch():
        opened = floor_app() if variant.floor else gatepass_app(Path(tmpdir), variant.backend,
                                                                 variant.log_level)
        async with opened as (app, scope):
            if variant.bare_stack:
                drop_user_middleware(app)
            await timed(app, scope, 300, args.concurrency)  # warm caches and imports
            runs = [await timed(app, scope, args.requests, args.concurrency)
                    for _ in range(args.repeat)]
    return min(runs, key=lambda t: t.process_us)


async def compare(args: argparse.Namespace) -> None:
    print(f"In-process CPU per token request: best of {args.repeat} x {args.requests} requests "
          f"in batches of {args.concurrency}; no HTTP server, no network.\n")
    print(f"{'variant':<40} {'thread us':>10} {'process us':>11} {'req/s/core':>11} "
          f"{'floor/this':>11}")
    floor_us = None
    for variant in VARIANTS:
        t = await measure(variant, args)
        floor_us = floor_us or t.process_us
        print(f"{variant.name:<40} {t.thread_us:>10.0f} {t.process_us:>11.0f} "
              f"{1e6 / t.process_us:>11,.0f} {floor_us / t.process_us:>11.1%}")


# --- cProfile -----------------------------------------------------------------------------------

def group_of(filename: str) -> str:
    for label, needles in GROUPS:
        if any(n in filename for n in needles):
            return label
    return "C functions and builtins" if filename.startswith("~") else "other Python (stdlib)"


async def profile(args: argparse.Namespace) -> None:
    prof = cProfile.Profile(time.thread_time)
    with tempfile.TemporaryDirectory(prefix="gatepass-profile-") as tmpdir:
        async with gatepass_app(Path(tmpdir), args.backend, args.log_level) as (app, scope):
            await timed(app, scope, 300, args.concurrency)
            plain = await timed(app, scope, args.requests, args.concurrency)
            profiled = await timed(app, scope, args.requests, args.concurrency, prof)
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    n = (args.requests // args.concurrency) * args.concurrency
    by_group: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in raw.items():
        by_group[group_of(filename)] += tottime
    print(f"{n} token requests, backend {args.backend}, log level {args.log_level}: "
          f"{plain.thread_us:.0f} us/request main-thread CPU without the profiler, "
          f"{profiled.thread_us:.0f} us under it.\n")
    print("Inclusive time of the main steps (% of profiled main-thread CPU, and that share of "
          "the unprofiled CPU per request):")
    top_level = 0.0
    for label, suffix, func in BREAKDOWN:
        cum = sum(v[3] for (f, _, name), v in raw.items() if f.endswith(suffix) and name == func)
        top_level += cum if not label.startswith(" ") else 0.0
        print(f"  {label:<46} {100 * cum / total:5.1f}%  ~{cum / total * plain.thread_us:5.0f} us")
    rest = total - top_level
    print(f"  {'the rest: Starlette, middleware, asyncio':<46} {100 * rest / total:5.1f}%  "
          f"~{rest / total * plain.thread_us:5.0f} us")
    print("\nOwn time by package under cProfile (% of profiled main-thread CPU; the profiler "
          "inflates Python code more than C calls):")
    for label, t in sorted(by_group.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<42} {100 * t / total:5.1f}%")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(order).print_stats(args.top)
        print(f"\nTop {args.top} functions by {order} time:")
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--compare", action="store_true", help="variants table (the default)")
    mode.add_argument("--profile", action="store_true", help="cProfile of the shipped path")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backend", choices=["sqlite", "memory"], default="sqlite",
                        help="--profile only")
    parser.add_argument("--log-level", default="INFO", help="--profile only")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    asyncio.run(profile(args) if args.profile else compare(args))


if __name__ == "__main__":
    main()
