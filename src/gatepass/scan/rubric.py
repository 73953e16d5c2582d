"""The agent-readiness rubric: eleven checks whose weights sum to 100 (``docs/readiness.md``).

A check returns findings; each finding costs a fraction (``loss``) of its check's weight, and a
check never scores below zero. The score is the floor of the sum, so 100 means nothing lost.
Every string that came from the target is cleaned (control characters dropped, length capped)
before it goes into a finding, so no report can be steered by the target's bytes.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gatepass.scan import _api_checks, _server_checks
from gatepass.scan._context import ScanContext
from gatepass.scan._model import Finding, Findings, Severity, clean

if TYPE_CHECKING:
    from gatepass.scan.runner import Fetcher

__all__ = ["CHECKS", "Check", "CheckResult", "Finding", "Findings", "Severity", "clean",
           "run_checks", "total_score"]

log = logging.getLogger("gatepass.scan")
CheckFn = Callable[[ScanContext], Awaitable[list[Finding]]]


@dataclass(frozen=True, slots=True)
class Check:
    """A rubric entry. ``last`` checks run after the others (they read the whole history)."""

    id: str
    title: str
    weight: int
    run: CheckFn = field(repr=False)
    last: bool = False


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: Check
    findings: tuple[Finding, ...]

    @property
    def score(self) -> float:
        lost = sum(f.loss for f in self.findings)
        return round(self.check.weight * max(0.0, 1.0 - lost), 2)


def total_score(results: list[CheckResult]) -> int:
    return math.floor(sum(r.score for r in results) + 1e-9)


CHECKS: tuple[Check, ...] = (
    Check("discovery", "Authorization server metadata", 15, _server_checks.discovery),
    Check("jwks", "JWKS health", 10, _server_checks.jwks),
    Check("client_credentials", "Client-credentials grant", 10,
          _server_checks.client_credentials),
    Check("registration", "Self-service registration", 10, _server_checks.registration),
    Check("llms_txt", "llms.txt", 10, _api_checks.llms_txt),
    Check("protected_resource", "Protected-resource metadata", 10,
          _api_checks.protected_resource),
    Check("error_401", "401 says where to get a token", 10, _api_checks.error_401),
    Check("error_403", "Refusals name the scopes", 5, _api_checks.error_403),
    Check("rate_limits", "Rate-limit headers and 429 bodies", 10, _api_checks.rate_limits,
          last=True),
    Check("robots_txt", "robots.txt rules for agents", 5, _api_checks.robots_txt),
    Check("openapi", "OpenAPI document", 5, _api_checks.openapi),
)
assert sum(c.weight for c in CHECKS) == 100


async def _run(check: Check, ctx: ScanContext) -> CheckResult:
    try:
        return CheckResult(check, tuple(await check.run(ctx)))
    except Exception as exc:  # a bug must cost the check, not the scan
        log.exception("check %s failed", check.id)
        lost = Finding(check.id, "error", f"Could not evaluate: {type(exc).__name__}", "", 1.0)
        return CheckResult(check, (lost,))


async def run_checks(target: str, fetcher: Fetcher,
                     progress: Callable[[str, int, int], None] | None = None
                     ) -> list[CheckResult]:
    """Run every check (concurrently, ``last`` ones afterwards), in rubric order."""
    ctx = ScanContext(target, fetcher)
    done: dict[str, CheckResult] = {}

    async def one(check: Check) -> None:
        done[check.id] = await _run(check, ctx)
        if progress is not None:
            progress(check.id, len(done), len(CHECKS))

    await asyncio.gather(*(one(c) for c in CHECKS if not c.last))
    for check in CHECKS:
        if check.last:
            await one(check)
    return [done[c.id] for c in CHECKS]
