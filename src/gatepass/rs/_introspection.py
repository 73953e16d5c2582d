"""Revocation by introspection (RFC 7662 §2.1-2.2, RFC 6749 §2.3.1): ``active: false`` = revoked.

The resource server authenticates with ``client_secret_basic`` (client id and secret
form-urlencoded before Basic encoding, as RFC 6749 §2.3.1 asks). Answers are cached per ``jti``
for ``cache_ttl`` seconds. When the endpoint cannot answer, a fail-closed checker raises
``TemporarilyUnavailable`` (503); a fail-open one logs and treats the token as not revoked.
"""

from __future__ import annotations

import base64
import logging
from collections import OrderedDict
from urllib.parse import quote

import httpx

from gatepass.clock import Clock, SystemClock
from gatepass.errors import TemporarilyUnavailable

__all__ = ["IntrospectionChecker", "basic_authorization"]

_log = logging.getLogger(__name__)


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The ``client_secret_basic`` header value (RFC 6749 §2.3.1)."""
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class IntrospectionChecker:
    """Asks the authorization server whether each token is still active (RFC 7662)."""

    def __init__(
        self,
        endpoint: str,
        *,
        client_id: str,
        client_secret: str,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        cache_ttl: float = 5.0,
        max_entries: int = 10_000,
        fail_closed: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self._authorization = basic_authorization(client_id, client_secret)
        self._http, self._owns_http = http_client, http_client is None
        self._clock: Clock = clock or SystemClock()
        self._ttl, self._max, self._fail_closed = cache_ttl, max_entries, fail_closed
        self._cache: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self.requests = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def is_revoked(self, jti: str, *, token: str | None = None) -> bool:
        """``True`` when the server says the token is not active; needs the ``token`` itself."""
        now = self._clock.now()
        cached = self._cache.get(jti)
        if cached is not None and cached[1] > now:
            return cached[0]
        if token is None:
            return False
        try:
            body = await self._post(token)
        except Exception as exc:  # the endpoint is down or answered nonsense: not cached
            return self._unavailable(exc)
        revoked = body.get("active") is not True
        self._remember(jti, revoked, now + self._ttl)
        return revoked

    def _remember(self, jti: str, revoked: bool, until: float) -> None:
        self._cache[jti] = (revoked, until)
        self._cache.move_to_end(jti)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    def _unavailable(self, exc: Exception) -> bool:
        _log.warning("Token introspection at %s failed: %s", self.endpoint, exc)
        if self._fail_closed:
            raise TemporarilyUnavailable(
                "Token introspection is unavailable; retry shortly",
                headers={"Retry-After": "1"},
            ) from None
        return False

    async def _post(self, token: str) -> dict[str, object]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5.0)
        self.requests += 1
        response = await self._http.post(
            self.endpoint,
            data={"token": token, "token_type_hint": "access_token"},
            headers={"Authorization": self._authorization, "Accept": "application/json"},
        )
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("The introspection response is not a JSON object")
        return body
