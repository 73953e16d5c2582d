"""``AgentClient``: discover, register, fetch and cache tokens, and authenticate API calls.

Every protocol step is a flow (see ``_flow``) run by a sync ``httpx.Client`` or an async
``httpx.AsyncClient`` (created on first use unless given; redirects are never followed, so
credentials never travel to another host). Tokens are cached per (scopes, resource) and
renewed ``renew_before`` seconds before they expire. The client is itself an ``httpx.Auth``;
it attaches tokens only to the origins it is configured for (``allows``): ``base_url``'s, the
issuer's, ``resource``'s, the ``origins`` listed, and resources learned from their challenges,
and over plain http only to loopback hosts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from gatepass.agent._flow import Flow, run_async, run_sync
from gatepass.agent._protocol import (
    AccessToken,
    Registration,
    RegistrationRequest,
    registration_flow,
    token_flow,
)
from gatepass.agent.auth import AgentAuth
from gatepass.agent.credentials import (
    Credentials,
    generate_key,
    load_credentials,
    public_jwks,
    save_credentials,
)
from gatepass.agent.discovery import (
    ResourceMetadata,
    ServerMetadata,
    discover_flow,
    is_loopback,
    origin,
    resource_flow,
)
from gatepass.agent.errors import CredentialsError, DiscoveryError
from gatepass.clock import Clock, SystemClock

__all__ = ["AgentClient"]

log = logging.getLogger("gatepass.agent")
T = TypeVar("T")
CacheKey = tuple[tuple[str, ...], str | None]


class AgentClient(AgentAuth):
    """An agent's view of one authorization server (``base_url``: issuer or protected API)."""

    def __init__(self, base_url: str, *, credentials: Credentials | None = None,
                 credentials_path: str | os.PathLike[str] | None = None,
                 scopes: Sequence[str] = (), resource: str | None = None,
                 http: httpx.Client | None = None, async_http: httpx.AsyncClient | None = None,
                 clock: Clock | None = None, renew_before: float = 60.0,
                 max_wait: float = 30.0, max_retries: int = 2, timeout: float = 10.0,
                 insecure: bool = False, origins: Sequence[str] = ()) -> None:
        super().__init__(self, scopes=scopes, max_wait=max_wait, max_retries=max_retries)
        self.origins = frozenset(origin(o) for o in origins)
        self.base_url = base_url.rstrip("/")
        self.credentials_path = Path(credentials_path) if credentials_path else None
        if credentials is None and self.credentials_path and self.credentials_path.exists():
            credentials = load_credentials(self.credentials_path)
        self._credentials = credentials
        self.resource, self.renew_before = resource, renew_before
        self.clock: Clock = clock or SystemClock()
        self.insecure, self._timeout = insecure, timeout
        self._http, self._async_http = http, async_http
        self._own_http, self._own_async = http is None, async_http is None
        self._metadata: ServerMetadata | None = None
        self._resources: dict[str, str] = {}
        self._tokens: dict[CacheKey, AccessToken] = {}
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            raise CredentialsError("No credentials: register first or pass credentials",
                                   error="no_credentials")
        return self._credentials

    def _sync(self, flow: Flow[T]) -> T:
        if self._http is None:
            self._http = httpx.Client(timeout=self._timeout)
        return run_sync(flow, self._http)

    async def _async(self, flow: Flow[T]) -> T:
        if self._async_http is None:
            self._async_http = httpx.AsyncClient(timeout=self._timeout)
        return await run_async(flow, self._async_http)

    def close(self) -> None:
        if self._http is not None and self._own_http:
            self._http.close()

    async def aclose(self) -> None:
        if self._async_http is not None and self._own_async:
            await self._async_http.aclose()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    # -- discovery --------------------------------------------------------------------------

    def _discovered(self, found: tuple[ServerMetadata, ResourceMetadata | None]
                    ) -> ServerMetadata:
        meta, resource = found
        if resource is not None:
            self.resource = self.resource or resource.resource
            self._resources[origin(resource.resource)] = resource.resource
        self._metadata = meta
        return meta

    def discover(self) -> ServerMetadata:
        """RFC 8414 metadata of ``base_url`` (or of the issuer a resource at it names)."""
        if self._metadata is None:
            self._discovered(self._sync(discover_flow(self.base_url, insecure=self.insecure)))
        assert self._metadata is not None
        return self._metadata

    async def adiscover(self) -> ServerMetadata:
        if self._metadata is None:
            found = await self._async(discover_flow(self.base_url, insecure=self.insecure))
            self._discovered(found)
        assert self._metadata is not None
        return self._metadata

    # -- registration -----------------------------------------------------------------------

    def _request(self, name: str, scopes: Sequence[str] | str, use_keys: bool,
                 **kw: Any) -> tuple[RegistrationRequest, dict[str, Any] | None]:
        key = generate_key() if use_keys else None
        wanted = tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes)
        jwks = public_jwks(key) if key is not None else None
        return (RegistrationRequest(name, wanted, jwks=jwks, **kw),
                key.as_dict(private=True) if key is not None else None)

    def _registered(self, result: Registration) -> Registration:
        self._credentials = result.credentials
        self._tokens.clear()
        if self.credentials_path is not None:
            save_credentials(result.credentials, self.credentials_path)
        log.info("registered agent %s (%s); scopes: %s; pending: %s",
                 result.credentials.client_id, result.credentials.auth_method,
                 " ".join(result.allowed_scopes) or "-", " ".join(result.pending_scopes) or "-")
        return result

    def register(self, name: str, scopes: Sequence[str] | str, *, use_keys: bool = False,
                 accept_tos: bool = False, billing_token: str | None = None,
                 agent_type: str = "autonomous", owner: str | None = None) -> Registration:
        """Register (agent endpoint, else RFC 7591) and keep, and save, the credentials.

        ``use_keys``: generate an ES256 key pair and register its public JWKS (no secret).
        Raises ``TermsRequiredError``, ``PaymentRequiredError``, ``RateLimitedError``, ...
        """
        request, jwk = self._request(name, scopes, use_keys, accept_tos=accept_tos,
                                     billing_token=billing_token, agent_type=agent_type,
                                     owner=owner)
        return self._registered(self._sync(registration_flow(self.discover(), request, jwk)))

    async def aregister(self, name: str, scopes: Sequence[str] | str, *, use_keys: bool = False,
                        accept_tos: bool = False, billing_token: str | None = None,
                        agent_type: str = "autonomous", owner: str | None = None
                        ) -> Registration:
        request, jwk = self._request(name, scopes, use_keys, accept_tos=accept_tos,
                                     billing_token=billing_token, agent_type=agent_type,
                                     owner=owner)
        meta = await self.adiscover()
        return self._registered(await self._async(registration_flow(meta, request, jwk)))

    # -- tokens -----------------------------------------------------------------------------

    def _key(self, scopes: Sequence[str] | None, resource: str | None) -> CacheKey:
        return tuple(sorted(self.scopes if scopes is None else scopes)), resource or self.resource

    def _fresh(self, key: CacheKey, stale: AccessToken | None) -> AccessToken | None:
        cached = self._tokens.get(key)
        if cached is None or (stale is not None and cached.value == stale.value):
            return None  # a refused token is never handed out again
        return None if self.clock.now() >= cached.renew_at(self.renew_before) else cached

    def _keep(self, key: CacheKey, token: AccessToken) -> AccessToken:
        self._tokens[key] = token
        log.debug("new access token for %s (scopes: %s, expires at %s)",
                  self.credentials.client_id, " ".join(token.scopes) or "-", token.expires_at)
        return token

    def token(self, scopes: Sequence[str] | None = None, resource: str | None = None, *,
              stale: AccessToken | None = None) -> AccessToken:
        """A valid access token from the cache, or a new one (client credentials grant)."""
        key = self._key(scopes, resource)
        with self._lock:
            cached = self._fresh(key, stale)
            if cached is not None:
                return cached
            flow = token_flow(self.credentials, key[0], key[1], self.clock.now())
            return self._keep(key, self._sync(flow))

    async def atoken(self, scopes: Sequence[str] | None = None, resource: str | None = None, *,
                     stale: AccessToken | None = None) -> AccessToken:
        key = self._key(scopes, resource)
        self._alock = self._alock or asyncio.Lock()
        async with self._alock:
            cached = self._fresh(key, stale)
            if cached is not None:
                return cached
            flow = token_flow(self.credentials, key[0], key[1], self.clock.now())
            return self._keep(key, await self._async(flow))

    def auth(self, scopes: Sequence[str] | str) -> AgentAuth:
        """An ``httpx.Auth`` sharing this client's tokens but asking for other ``scopes``."""
        wanted = scopes.split() if isinstance(scopes, str) else scopes
        return AgentAuth(self, scopes=wanted, max_wait=self.max_wait,
                         max_retries=self.max_retries)

    # -- TokenSource (used by the httpx.Auth side) ------------------------------------------

    def _learn(self, url: httpx.URL, challenge: dict[str, str]) -> Flow[None]:
        """On a 401 naming ``resource_metadata``, learn which resource the API is."""
        if "resource_metadata" not in challenge or origin(str(url)) in self._resources:
            return
        found = yield from resource_flow(str(url), insecure=self.insecure, challenge=challenge)
        if self.credentials.issuer.rstrip("/") not in {
                s.rstrip("/") for s in found.authorization_servers}:
            trusted = ", ".join(found.authorization_servers)
            raise DiscoveryError(f"{origin(str(url))} trusts {trusted}, not "
                                 f"{self.credentials.issuer}", error="foreign_resource")
        self._resources[origin(found.resource)] = found.resource

    def allows(self, url: httpx.URL) -> bool:
        """Whether a request to ``url`` may carry this agent's token: an origin it is configured
        for, over https, or over http to a loopback host."""
        if url.scheme != "https" and not (url.scheme == "http" and is_loopback(url.host)):
            return False
        wanted = origin(str(url))
        configured = {origin(self.base_url), *self.origins, *self._resources}
        if self.resource:
            configured.add(origin(self.resource))
        if self._credentials is not None:
            configured.add(origin(self._credentials.issuer))
        return wanted in configured

    def _resource_for(self, url: httpx.URL) -> str | None:
        return self._resources.get(origin(str(url)), self.resource)

    def token_for(self, url: httpx.URL, scopes: tuple[str, ...], stale: AccessToken | None,
                  challenge: dict[str, str]) -> AccessToken:
        if stale is not None:
            self._sync(self._learn(url, challenge))
        return self.token(scopes or None, self._resource_for(url), stale=stale)

    async def atoken_for(self, url: httpx.URL, scopes: tuple[str, ...],
                         stale: AccessToken | None, challenge: dict[str, str]) -> AccessToken:
        if stale is not None:
            await self._async(self._learn(url, challenge))
        return await self.atoken(scopes or None, self._resource_for(url), stale=stale)
