"""``AgentAuth``: an ``httpx.Auth`` that reacts to what a protected API answers.

* 401 (``token_expired``, ``invalid_token``, ...): one renewal per request, then the retry;
  a ``resource_metadata`` challenge (RFC 9728 §5.1) first teaches the token source which
  resource (RFC 8707 audience) the API is.
* 429: wait ``Retry-After`` / ``retry_after`` when it is at most ``max_wait`` seconds, then
  retry (at most ``max_retries`` times); otherwise ``RateLimitedError``.
* 403 ``insufficient_scope``: ``InsufficientScopeError`` naming the missing scopes.
* 402 / ``tos_required``: ``PaymentRequiredError`` / ``TermsRequiredError`` with the options.

Error bodies are read only for those statuses, so successful responses may stream. Tokens are
fetched with the sync client in ``sync_auth_flow`` and the async one in ``async_auth_flow``.

A token is attached only where the source ``allows`` it (``AgentClient``: the origins it is
configured for); any other request is sent as it is, with no ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import Literal, Protocol

import httpx

from gatepass.agent._flow import bearer_challenge, error_body, raise_for_known, retry_after
from gatepass.agent._protocol import AccessToken
from gatepass.agent.errors import RateLimitedError

__all__ = ["AgentAuth", "TokenSource"]

log = logging.getLogger("gatepass.agent")
Step = tuple[Literal["renew", "wait", "done"], float]
_READ = frozenset({400, 401, 402, 403, 429})


class TokenSource(Protocol):
    """Where ``AgentAuth`` gets tokens. ``stale`` is the value the API just refused; ``allows``
    says whether a request to ``url`` may carry a token at all."""

    def allows(self, url: httpx.URL) -> bool: ...

    def token_for(self, url: httpx.URL, scopes: tuple[str, ...], stale: AccessToken | None,
                  challenge: dict[str, str]) -> AccessToken: ...

    async def atoken_for(self, url: httpx.URL, scopes: tuple[str, ...],
                         stale: AccessToken | None, challenge: dict[str, str]) -> AccessToken: ...


def _where(url: httpx.URL) -> str:
    """The URL without query or credentials, for log lines."""
    return f"{url.scheme}://{url.host}{':' + str(url.port) if url.port else ''}{url.path}"


class AgentAuth(httpx.Auth):
    """Bearer auth with bounded renewal and bounded rate-limit waits."""

    requires_request_body = True  # so a retried request can be re-sent

    def __init__(self, source: TokenSource, *, scopes: Sequence[str] = (),
                 max_wait: float = 30.0, max_retries: int = 2,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._source = source
        self.scopes = tuple(scopes)
        self.max_wait = max_wait
        self.max_retries = max_retries
        self._sleep = sleep

    def _step(self, response: httpx.Response, token: AccessToken, renewed: bool,
              waited: int) -> Step:
        status = response.status_code
        if status == 401 and not renewed:
            log.info("%s refused the access token (401); renewing once", _where(response.url))
            return "renew", 0.0
        if status == 429 and waited < self.max_retries:
            wait = retry_after(response, error_body(response))
            if wait is not None and wait <= self.max_wait:
                log.info("rate limited by %s; retrying in %.1fs", _where(response.url), wait)
                return "wait", wait
            if wait is not None:
                body = error_body(response)
                raise RateLimitedError(
                    f"Rate limited for {wait:g}s, longer than the {self.max_wait:g}s cap",
                    retry_after=wait, status=429, body=body,
                    upgrade_url=body.get("upgrade_url") if isinstance(
                        body.get("upgrade_url"), str) else None)
        if status in _READ:
            raise_for_known(response, token.scopes)
        return "done", 0.0

    @staticmethod
    def _authorize(request: httpx.Request, token: AccessToken) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token.value}"
        return request

    def sync_auth_flow(self, request: httpx.Request
                       ) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._source.allows(request.url):
            yield request
            return
        token = self._source.token_for(request.url, self.scopes, None, {})
        response = yield self._authorize(request, token)
        renewed, waited = False, 0
        while True:
            if response.status_code in _READ:
                response.read()
            action, wait = self._step(response, token, renewed, waited)
            if action == "done":
                return
            if action == "renew":
                renewed = True
                token = self._source.token_for(request.url, self.scopes, token,
                                               bearer_challenge(response))
            else:
                waited += 1
                self._sleep(wait)
            response = yield self._authorize(request, token)

    async def async_auth_flow(self, request: httpx.Request
                              ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self._source.allows(request.url):
            yield request
            return
        token = await self._source.atoken_for(request.url, self.scopes, None, {})
        response = yield self._authorize(request, token)
        renewed, waited = False, 0
        while True:
            if response.status_code in _READ:
                await response.aread()
            action, wait = self._step(response, token, renewed, waited)
            if action == "done":
                return
            if action == "renew":
                renewed = True
                token = await self._source.atoken_for(request.url, self.scopes, token,
                                                      bearer_challenge(response))
            else:
                waited += 1
                await asyncio.sleep(wait)
            response = yield self._authorize(request, token)
