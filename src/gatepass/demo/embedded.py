"""The demo API inside the authorization server's process (``settings.demo_api``, mounted at /api).

* **Audience.** The demo's resource identifier is ``settings.audience``: the server's default
  audience, which is the issuer unless ``default_audience`` says otherwise. A token from
  ``POST /oauth/token`` without ``resource`` therefore works on ``/api/*``, as the guide's
  tokens (``aud`` = the API base) do; RFC 8707 ``resource=<issuer>`` gives the same ``aud``.
  Its RFC 9728 document is at ``/.well-known/oauth-protected-resource`` (path-inserted as well
  when the audience has a path, e.g. ``default_audience = "<issuer>/api"``).
* **Keys** come from the in-process keyring (``runtime.server.keyring.jwks()``): no HTTP call to
  ourselves. They are re-read at least every 60 s and when an unknown ``kid`` shows up (at most
  once a second), so a rotation (published as ``next`` before it signs) is seen in time.
* **Revocation.** ``StoreRevocationFeed`` reads ``revocations.revoked_since`` every 0.25 s: one
  query per interval, none per request, and every worker sees the shared store, so a revoked
  token is refused within ~0.25 s (bound stated: 1 s). With ``redis_url`` the Redis push
  listener is added, which refuses within milliseconds; the poll stays as the safety net.
* **Rate limits.** Redis when ``redis_url`` is set (key prefix ``gatepass:api``), else memory;
  the default tiers (those discovery advertises); 429 ``upgrade_url`` is the first billing option.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Route

from gatepass.clock import Clock
from gatepass.demo.app import create_demo_api, demo_parts
from gatepass.ratelimit import Limiter
from gatepass.rs import (
    ClientCutoffs,
    MemoryRevocationList,
    RedisRevocationListener,
    RevocationChecker,
    RevocationDenylist,
    metadata_paths,
)
from gatepass.runtime import Runtime

__all__ = ["DEMO_PREFIX", "EmbeddedDemo", "StoreRevocationFeed"]

log = logging.getLogger("gatepass.demo")
DEMO_PREFIX = "/api"
RevokedSince = Callable[[float], Awaitable[Sequence[tuple[str, float]]]]
Cutoffs = Callable[[float], Awaitable[Sequence[tuple[str, float, float]]]]


class StoreRevocationFeed(MemoryRevocationList):
    """A deny-list kept current by polling ``revoked_since`` (overlapping reads, merged) and,
    when given, the client cutoffs (``client_cutoffs``: few rows, read whole)."""

    def __init__(
        self, revoked_since: RevokedSince, *, clock: Clock, interval: float = 0.25,
        overlap: float = 5.0, cutoffs: Cutoffs | None = None,
    ) -> None:  # fmt: skip
        super().__init__(clock=clock)
        self._read, self._clock, self._cutoffs_read = revoked_since, clock, cutoffs
        self.interval, self._overlap = interval, overlap
        self._since = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load every current revocation, then keep polling in the background."""
        if self._task is None:
            await self.poll()
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def poll(self) -> int:
        """Read revocations since the last poll (minus the overlap); how many rows were read."""
        started = self._clock.now()
        try:
            rows = await self._read(self._since)
            cuts = await self._cutoffs_read(started) if self._cutoffs_read else ()
        except Exception as exc:  # keep the current list; the next poll tries again
            log.warning("revocation poll failed: %s", exc)
            return 0
        for jti, exp in rows:
            self.revoke(jti, exp)
        for client_id, before, exp in cuts:
            self.revoke_client(client_id, before, exp)
        self._since = started - self._overlap
        return len(rows)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.poll()


class _AnyRevoked:
    """Revoked if any checker says so; a checker that cannot start is left out (logged)."""

    def __init__(self, *checkers: RevocationChecker) -> None:
        self._checkers = list(checkers)
        self._denials = self._synchronous()
        self._cutters = self._cutoffs()

    def _cutoffs(self) -> list[Callable[[str, float | None], bool]]:
        """Each ``ClientCutoffs`` checker's ``cuts_off`` (found once, not per request)."""
        return [c.cuts_off for c in self._checkers if isinstance(c, ClientCutoffs)]

    def cuts_off(self, client_id: str, issued_at: float | None) -> bool:
        """A client cutoff any checker knows (``ClientCutoffs``)."""
        return any(cut(client_id, issued_at) for cut in self._cutters)

    def _synchronous(self) -> list[Callable[[str], bool | None] | None]:
        """Each checker's ``denies``, None for one that must be awaited (the
        ``RevocationDenylist`` protocol is checked here once, not per request)."""
        found: list[Callable[[str], bool | None] | None] = []
        for checker in self._checkers:
            found.append(checker.denies if isinstance(checker, RevocationDenylist) else None)
        return found

    def denies(self, jti: str) -> bool | None:
        """Revoked by a checker that answers from memory; None when one of them cannot."""
        answer: bool | None = False
        for deny in self._denials:
            found = None if deny is None else deny(jti)
            if found:
                return True
            if found is None:
                answer = None
        return answer

    async def is_revoked(self, jti: str, *, token: str | None = None) -> bool:
        for checker in self._checkers:
            if await checker.is_revoked(jti, token=token):
                return True
        return False

    async def start(self) -> None:
        for checker in list(self._checkers):
            try:
                await checker.start()
            except Exception as exc:
                log.warning("revocation checker %s unavailable: %s", type(checker).__name__, exc)
                self._checkers.remove(checker)
        self._denials = self._synchronous()
        self._cutters = self._cutoffs()

    async def stop(self) -> None:
        for checker in self._checkers:
            await checker.stop()


def _revocation(runtime: Runtime) -> RevocationChecker:
    clock = runtime.server.clock
    revocations = runtime.stores.revocations
    feed = StoreRevocationFeed(revocations.revoked_since, clock=clock,
                               cutoffs=revocations.client_cutoffs)
    url = runtime.settings.redis_url
    return _AnyRevoked(RedisRevocationListener(url, clock=clock), feed) if url else feed


def _upgrade_url(runtime: Runtime) -> str:
    agents = runtime.settings.agents
    url = agents.billing_options[0]["endpoint"] if agents.billing_options else agents.tos_url
    return url if "://" in url else runtime.settings.issuer + url


class EmbeddedDemo:
    """The demo app, the server routes that reach it, and its start/stop."""

    def __init__(self, runtime: Runtime,
                 on_fail_open: Callable[[str], None] | None = None) -> None:
        settings, server = runtime.settings, runtime.server

        async def jwks() -> Mapping[str, Any]:
            return server.keyring.jwks()  # read each time: reload_keys replaces the keyring

        self.limiter = Limiter(settings.redis_url or "memory://", key_prefix="gatepass:api")
        self.app = create_demo_api(
            settings.issuer, settings.audience, prefix=DEMO_PREFIX, clock=server.clock,
            jwks_source=jwks, revocation=_revocation(runtime), limiter=self.limiter,
            upgrade_url=_upgrade_url(runtime), documentation_url=settings.endpoint("/api/docs"),
            jwks_refetch_cooldown=1.0, jwks_max_age=60.0, on_fail_open=on_fail_open,
        )  # fmt: skip
        paths = metadata_paths(settings.audience)
        self.routes: list[BaseRoute] = [Route(DEMO_PREFIX + "/{path:path}", self.app),
                                        *(Route(p, self.app) for p in paths)]  # fmt: skip

    @classmethod
    async def open(cls, runtime: Runtime,
                   on_fail_open: Callable[[str], None] | None = None) -> EmbeddedDemo:
        """Build the demo and start its verifier (revocation feed / listener)."""
        demo = cls(runtime, on_fail_open)
        try:
            await demo_parts(demo.app).verifier.start()
        except BaseException:
            await demo.limiter.aclose()
            raise
        return demo

    async def aclose(self) -> None:
        try:
            await demo_parts(self.app).verifier.stop()
        finally:
            await self.limiter.aclose()
