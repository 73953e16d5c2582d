"""``GET /billing/prepaid``: how an agent obtains a prepaid billing token (the guide's 402 link).

Prepaid tokens are issued by the operator (``gatepass billing issue``); an agent sends one as
``billing_token`` when it registers.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gatepass.http.api._shared import GuardedRoute, RuntimeDep
from gatepass.http.responses import json_response

__all__ = ["router"]

router = APIRouter(prefix="/billing", tags=["billing"], route_class=GuardedRoute)


@router.get("/prepaid")
async def prepaid(rt: RuntimeDep) -> Response:
    """The prepaid billing option, the tiers it can buy and how to use a token."""
    config = rt.server.config
    policy = config.agents
    return json_response({
        "type": "prepaid",
        "description": "A prepaid billing token (btok_...) is issued by the operator of this "
                       "server on request; it buys a tier and may be single-use or reusable "
                       "per billing account.",
        "how_to_obtain": "Ask the operator, who runs: gatepass billing issue --tier <tier>",
        "tiers": list(policy.tier_order),
        "free_tier": policy.free_tier,
        "usage": {"endpoint": config.issuer + config.agent_registration_path,
                  "field": "billing_token"},
        "registrations_per_account_per_day": rt.settings.agents.registrations_per_account_per_day,
    }, cache="public, max-age=300")
