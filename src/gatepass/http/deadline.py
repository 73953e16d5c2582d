"""Request deadlines (pure ASGI, outermost): no request holds the server past its deadline.

A request whose response has not started ``deadline`` seconds after it arrived is cut off and
answered ``503 temporarily_unavailable`` with ``Retry-After`` (a locked table, a stalled
dependency). Reading the body has its own, shorter bound, ``body_timeout`` from arrival: a
client that announces more body than it sends is answered ``408 invalid_request`` instead of
being waited on. Once the response has started the deadline no longer applies (streams run on).
The cut is a cancellation of the request's task, so no handler catches it half-way.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gatepass.errors import InvalidRequest, OAuthError, TemporarilyUnavailable
from gatepass.http.responses import error_response

__all__ = ["DeadlineMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("gatepass.http")


class DeadlineMiddleware:
    """Cut off HTTP requests at ``deadline`` (503) and body reads at ``body_timeout`` (408)."""

    def __init__(self, app: ASGIApp, *, deadline: float, body_timeout: float) -> None:
        self.app = app
        self.deadline = deadline
        self.body_timeout = min(body_timeout, deadline)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + self.deadline
        body_end = loop.time() + self.body_timeout
        started = reading = body_read = False

        async def timed_receive() -> Message:
            nonlocal reading, body_read
            if started or body_read:  # e.g. waiting for a disconnect: not a body read
                return await receive()
            reading = True
            if not cut.expired():
                cut.reschedule(min(end, body_end))
            message = await receive()  # if cut off here, ``reading`` stays set for the answer
            reading = False
            if not started and not cut.expired():
                cut.reschedule(end)
            body_read = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not cut.expired():
                    cut.reschedule(None)  # the answer is on its way: no deadline for the rest
            await send(message)

        try:
            async with asyncio.timeout_at(end) as cut:
                await self.app(scope, timed_receive, watched_send)
        except TimeoutError:
            if started:  # cannot answer twice: the connection just ends
                return
            await self._answer(scope, receive, send, reading)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, reading: bool) -> None:
        error: OAuthError
        if reading:
            error = InvalidRequest(f"Request body not received within {self.body_timeout:g} s",
                                   status=408, headers={"Connection": "close"})
        else:
            log.warning("request deadline of %gs passed on %s", self.deadline, scope["path"])
            error = TemporarilyUnavailable(
                "The server could not answer in time; retry shortly",
                headers={"Retry-After": str(max(1, math.ceil(self.deadline / 2)))})
        await error_response(error)(scope, receive, send)
