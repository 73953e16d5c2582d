"""A stand-in for an operator's billing service (run by uvicorn in a subprocess)."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

ANSWERS = {
    "btok_good": {"valid": True, "tier": "agent_premium", "account_id": "acct_webhook"},
    "btok_bad": {"valid": False},
    "btok_notier": {"valid": True},
}


async def check(request: Request) -> Response:
    token = (await request.json()).get("billing_token")
    if token == "btok_slow":
        await asyncio.sleep(3)
        return JSONResponse(ANSWERS["btok_good"])
    if token == "btok_500":
        return JSONResponse({"error": "boom"}, status_code=500)
    if token == "btok_html":
        return PlainTextResponse("<html>maintenance</html>")
    return JSONResponse(ANSWERS.get(str(token), {"valid": False}))


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/check", check, methods=["POST"]),
                        Route("/health", health)])
