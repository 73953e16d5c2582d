"""Unit-test harness: the protocol core on the memory store with a frozen clock and no I/O.

``h`` is a ``Harness``: a runtime opened with ``open_runtime`` on memory stores, plus helpers
to create clients, build requests and sign client assertions.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from gatepass.clock import FrozenClock
from gatepass.core.client_auth.private_key_jwt import ASSERTION_TYPE
from gatepass.core.requests import OAuthRequest
from gatepass.models import AuditEvent
from gatepass.runtime import Runtime, open_runtime
from gatepass.settings import Settings
from gatepass.storage.base import Stores
from gatepass.storage.memory import MemoryClientStore, open_memory_stores

ISSUER = "https://as.example.com"
TOKEN_ENDPOINT = ISSUER + "/oauth/token"
API = "https://api.example.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, without verifying it."""
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))),
            json.loads(base64.urlsafe_b64decode(pad(body))))


def make_settings(tmp_path: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "database_url": "memory://",
        "data_dir": tmp_path,
        "resources": [API],
        "key_encryption_keys": [Fernet.generate_key().decode()],
        "secret_pepper": secrets.token_hex(32),
    }
    values.update(overrides)
    return Settings(**values)


class FakeFetcher:
    """An injected ``jwks_uri`` fetcher: documents by URL; records calls; may fail. A refresh
    answers ``rotated[url]`` when there is one (the signer's new keys), fails when
    ``refresh_fails``, else answers as before."""

    def __init__(self) -> None:
        self.documents: dict[str, Mapping[str, Any]] = {}
        self.rotated: dict[str, Mapping[str, Any]] = {}
        self.calls: list[str] = []
        self.refreshes: list[str] = []
        self.refresh_fails = False

    async def __call__(self, url: str, *, refresh: bool = False) -> Mapping[str, Any]:
        self.calls.append(url)
        if refresh:
            self.refreshes.append(url)
            if self.refresh_fails:
                raise OSError(f"cannot fetch {url} again")
            if url in self.rotated:
                return self.rotated[url]
        if url not in self.documents:
            raise OSError(f"cannot fetch {url}")
        return self.documents[url]


class ClientKey:
    """A client's key pair for private_key_jwt, and assertion signing."""

    def __init__(self, alg: str = "ES256", kid: str | None = None) -> None:
        self.alg = alg
        params = {"kid": kid or secrets.token_hex(4), "alg": alg, "use": "sig"}
        if alg.startswith("ES"):
            self.key: Any = ECKey.generate_key("P-256", parameters=params, private=True)
        elif alg in ("RS256", "PS256"):
            self.key = RSAKey.generate_key(2048, parameters=params, private=True)
        else:
            self.key = OKPKey.generate_key("Ed25519", parameters=params, private=True)
        self.kid = params["kid"]

    @property
    def public_jwk(self) -> dict[str, Any]:
        return self.key.as_dict(private=False)

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def sign(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
        hdr = {"alg": self.alg, "kid": self.kid, **(header or {})}
        return jwt.encode(hdr, dict(claims), self.key, algorithms=[hdr["alg"]])


class Harness:
    """Drives ``AuthorizationServer`` directly."""

    def __init__(self, rt: Runtime, clock: FrozenClock, fetcher: FakeFetcher,
                 events: list[AuditEvent]) -> None:
        self.rt = rt
        self.server = rt.server
        self.admin = rt.admin
        self.clock = clock
        self.fetcher = fetcher
        self.events = events

    @property
    def client_store(self) -> MemoryClientStore:
        store = self.rt.stores.clients
        assert isinstance(store, MemoryClientStore)
        return store

    async def secret_client(self, scopes: str = "read:projects write:projects",
                            **fields: Any) -> tuple[str, str]:
        fields.setdefault("operator", "gatepass:" in scopes)  # internal scopes: operator clients
        created = await self.admin.create_client("svc", scopes, **fields)
        assert created.secret is not None
        return created.client.client_id, created.secret

    async def jwt_client(self, scopes: str = "read:projects", key: ClientKey | None = None,
                         jwks_uri: str | None = None, **fields: Any) -> tuple[str, ClientKey]:
        key = key or ClientKey()
        if jwks_uri is not None:
            self.fetcher.documents[jwks_uri] = key.jwks
            created = await self.admin.create_client("agent", scopes, jwks_uri=jwks_uri, **fields)
        else:
            created = await self.admin.create_client("agent", scopes, jwks=key.jwks, **fields)
        return created.client.client_id, key

    def assertion_claims(self, client_id: str, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock.now())
        claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": TOKEN_ENDPOINT,
                                  "exp": now + 60, "iat": now, "jti": secrets.token_hex(8)}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def assertion(self, client_id: str, key: ClientKey, **overrides: Any) -> str:
        return key.sign(self.assertion_claims(client_id, **overrides))

    @staticmethod
    def basic_request(cid: str, secret: str, /, **form: str) -> OAuthRequest:
        return OAuthRequest(form={"grant_type": "client_credentials", **form},
                            authorization=basic(cid, secret))

    @staticmethod
    def jwt_request(assertion: str, **form: str) -> OAuthRequest:
        return OAuthRequest(form={"grant_type": "client_credentials",
                                  "client_assertion_type": ASSERTION_TYPE,
                                  "client_assertion": assertion, **form})

    async def token(self, request: OAuthRequest) -> dict[str, Any]:
        return await self.server.token(request)

    async def token_for(self, client_id: str, secret: str, **form: str) -> str:
        body = await self.server.token(self.basic_request(client_id, secret, **form))
        return str(body["access_token"])

    def find(self, event: str) -> list[AuditEvent]:
        return [e for e in self.events if e.event == event]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def stores(clock: FrozenClock) -> Stores:
    return open_memory_stores(clock)


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def fetcher() -> FakeFetcher:
    return FakeFetcher()


HarnessFactory = Callable[..., AbstractAsyncContextManager[Harness]]


@pytest.fixture
def make_harness(tmp_path: Any, clock: FrozenClock, fetcher: FakeFetcher) -> HarnessFactory:
    """``async with make_harness(stores=..., **settings_overrides) as h``."""

    @asynccontextmanager
    async def make(stores: Stores | None = None, **overrides: Any) -> AsyncIterator[Harness]:
        events: list[AuditEvent] = []
        rt = await open_runtime(make_settings(tmp_path, **overrides), clock=clock,
                                stores=stores or open_memory_stores(clock), fetch_jwks=fetcher,
                                on_audit=events.append)
        try:
            yield Harness(rt, clock, fetcher, events)
        finally:
            await rt.close()

    return make


@pytest.fixture
async def h(settings: Settings, clock: FrozenClock, stores: Stores,
            fetcher: FakeFetcher) -> AsyncIterator[Harness]:
    events: list[AuditEvent] = []
    rt = await open_runtime(settings, clock=clock, stores=stores, fetch_jwks=fetcher,
                            on_audit=events.append)
    try:
        yield Harness(rt, clock, fetcher, events)
    finally:
        await rt.close()


def assert_oauth_error(exc: Exception, error: str, status: int, description: str | None = None,
                       **extra: Any) -> None:
    """An ``OAuthError`` with this code, status and (when given) exact description."""
    from gatepass.errors import OAuthError

    assert isinstance(exc, OAuthError), repr(exc)
    assert exc.error == error
    assert exc.http_status == status
    body = exc.body()
    assert set(body) == {"error", "error_description", *extra}
    if description is not None:
        assert body["error_description"] == description
    for name, value in extra.items():
        assert body[name] == value
