"""The webhook billing gate: POSTs the billing token to the operator's billing service.

The service answers ``{"valid": bool, "tier": str, "account_id": str}``. A timeout (a deadline
on the whole exchange) or an unreachable service is a 503 (``temporarily_unavailable``), never
an accepted registration. It has a connection pool of its own (``create_app``).
"""

from __future__ import annotations

import asyncio

import httpx

from gatepass.core.billing import BillingDecision, fresh
from gatepass.errors import BillingRequired, TemporarilyUnavailable

__all__ = ["WebhookBillingGate"]


class WebhookBillingGate:
    """Asks a configured URL whether a billing token is good."""

    def __init__(self, client: httpx.AsyncClient, url: str, timeout: float,
                 required: BillingRequired) -> None:
        self._client = client
        self._url = url
        self._timeout = timeout
        self._required = required

    async def check(self, billing_token: str | None) -> BillingDecision:
        if not isinstance(billing_token, str) or not billing_token:
            raise fresh(self._required)
        try:
            async with asyncio.timeout(self._timeout):  # the whole exchange, not each read
                resp = await self._client.post(self._url, json={"billing_token": billing_token},
                                               timeout=self._timeout, follow_redirects=False)
            data = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, TimeoutError) as exc:
            raise TemporarilyUnavailable("The billing service is unreachable; retry later",
                                         headers={"Retry-After": "30"}) from exc
        if resp.status_code >= 500:
            raise TemporarilyUnavailable("The billing service failed; retry later",
                                         headers={"Retry-After": "30"})
        if not isinstance(data, dict) or data.get("valid") is not True:
            raise fresh(self._required)
        tier, account = data.get("tier"), data.get("account_id")
        if not isinstance(tier, str) or not isinstance(account, str):
            raise TemporarilyUnavailable("The billing service answered without tier/account_id")
        return BillingDecision(tier, account)

    async def commit(self, decision: BillingDecision) -> None:
        """The billing service counts uses itself."""
