"""The billing gate of agent registration: a port with prepaid and free-tier implementations.

A gate first ``check``s a billing token (no side effect) and, once every other check passed,
``commit``s its use. The webhook gate lives in the HTTP shell (it makes outbound calls).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol

from gatepass.clock import Clock
from gatepass.errors import BillingRequired
from gatepass.models import BillingToken
from gatepass.storage.base import BillingStore

__all__ = [
    "BillingDecision",
    "BillingGate",
    "FreeTierGate",
    "PrepaidBillingGate",
    "fresh",
    "issue_billing_token",
]

BILLING_PREFIX = "btok_"


@dataclass(frozen=True, slots=True)
class BillingDecision:
    """A valid billing method: the tier it buys and the account it belongs to."""

    tier: str
    account_id: str
    token_digest: str | None = None


class BillingGate(Protocol):
    async def check(self, billing_token: str | None) -> BillingDecision:
        """The decision, or ``BillingRequired`` (402) / ``TemporarilyUnavailable`` (503)."""

    async def commit(self, decision: BillingDecision) -> None:
        """Count one registration against the billing method; ``BillingRequired`` if used up."""


def fresh(error: BillingRequired) -> BillingRequired:
    """A new copy of the configured 402 (re-raising one instance grows its traceback forever)."""
    return BillingRequired(error.description, status=error.http_status, headers=error.headers,
                           extra=error.extra)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_billing_token(
    store: BillingStore, clock: Clock, *, tier: str, account_id: str | None = None,
    max_uses: int | None = 1, ttl: float | None = None,
) -> tuple[str, BillingToken]:
    """Create a prepaid billing token (shown once; stored as a SHA-256 digest)."""
    token = BILLING_PREFIX + secrets.token_urlsafe(24)
    now = clock.now()
    record = BillingToken(
        token_id=secrets.token_hex(8), digest=_digest(token), tier=tier,
        account_id=account_id or "acct_" + secrets.token_hex(6), created_at=now,
        max_uses=max_uses, expires_at=None if ttl is None else now + ttl,
    )
    await store.add_billing_token(record)
    return token, record


class PrepaidBillingGate:
    """Billing tokens the operator issued: single-use or reusable per account."""

    def __init__(self, store: BillingStore, clock: Clock, required: BillingRequired) -> None:
        self._store = store
        self._clock = clock
        self._required = required

    async def check(self, billing_token: str | None) -> BillingDecision:
        if not isinstance(billing_token, str) or not billing_token:
            raise fresh(self._required)
        digest = _digest(billing_token)
        now = self._clock.now()
        tok = await self._store.get_billing_token(digest)
        if tok is None or (tok.expires_at is not None and tok.expires_at <= now):
            raise fresh(self._required)
        if tok.max_uses is not None and tok.uses >= tok.max_uses:
            raise fresh(self._required)
        return BillingDecision(tok.tier, tok.account_id, digest)

    async def commit(self, decision: BillingDecision) -> None:
        if decision.token_digest is None:
            return
        if await self._store.use_billing_token(decision.token_digest, self._clock.now()) is None:
            raise fresh(self._required)


class FreeTierGate:
    """Lets registrations without a billing token through at ``tier``; others go to ``inner``."""

    def __init__(self, inner: BillingGate, tier: str) -> None:
        self._inner = inner
        self._tier = tier

    async def check(self, billing_token: str | None) -> BillingDecision:
        if not billing_token:
            return BillingDecision(self._tier, "free")
        return await self._inner.check(billing_token)

    async def commit(self, decision: BillingDecision) -> None:
        await self._inner.commit(decision)
