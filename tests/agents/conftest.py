"""Agent registration over HTTP: the whole app through httpx's ASGI transport, lifespan entered.

``h`` is a :class:`Harness` on memory stores with billing required (prepaid tokens) and a high
per-IP limit (the flood tests set their own). ``running(settings)`` builds one for any settings.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.types import ASGIApp

from gatepass.clock import Clock
from gatepass.core.billing import issue_billing_token
from gatepass.http.app import create_app
from gatepass.runtime import Runtime
from gatepass.settings import ScopeSetting, Settings

ISSUER = "https://as.example.com"
API = "https://api.example.com"
TOKEN_ENDPOINT = ISSUER + "/oauth/token"
REGISTER = "/api/v1/agents/register"
AGENT_IP = "203.0.113.7"


def agent_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for these tests; ``agents`` overrides are merged into the defaults here."""
    agents = {"registrations_per_ip_per_hour": 1000, **overrides.pop("agents", {})}
    values: dict[str, Any] = {
        "issuer": ISSUER, "database_url": "memory://", "data_dir": tmp_path,
        "resources": [API], "key_encryption_keys": [Fernet.generate_key().decode()],
        "secret_pepper": secrets.token_hex(32), "agents": agents,
        "scopes": [ScopeSetting(**s) for s in CATALOG],
    }
    values.update(overrides)
    return Settings(**values)


CATALOG: list[dict[str, Any]] = [  # these tests' own catalog, independent of the defaults
    {"name": "read:projects"}, {"name": "write:projects"}, {"name": "read:analytics"},
    {"name": "write:webhooks"},
    {"name": "read:billing", "min_trust": 1},
    {"name": "execute:deployments", "min_trust": 1},
    {"name": "agent:batch-operations", "min_tier": "agent_standard"},
    {"name": "agent:autonomous-deploy", "requires_approval": True, "min_trust": 2},
    {"name": "write:deploys", "requires_approval": True},
    {"name": "write:billing", "requires_approval": True},
    {"name": "gatepass:admin", "internal": True},
    {"name": "gatepass:introspect", "internal": True},
]


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def es256_key(kid: str = "agent-key") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"},
                              private=True)


def client_assertion(client_id: str, key: ECKey, now: float, audience: str = TOKEN_ENDPOINT
                     ) -> str:
    """An RFC 7523 §3 client assertion signed with ``key``."""
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": int(now),
              "exp": int(now) + 60, "jti": secrets.token_urlsafe(12)}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


@dataclass
class Harness:
    """The running app, its runtime, and helpers that speak HTTP to it."""

    app: ASGIApp
    runtime: Runtime
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, ip: str = AGENT_IP) -> httpx.AsyncClient:
        """An HTTP client whose requests come from ``ip`` (closed with the harness)."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40_000))
        http = httpx.AsyncClient(transport=transport, base_url=ISSUER)
        self._clients.append(http)
        return http

    @property
    def http(self) -> httpx.AsyncClient:
        return self._clients[0] if self._clients else self.client()

    async def billing_token(self, tier: str = "agent_standard", **kw: Any) -> str:
        token, _ = await issue_billing_token(self.runtime.stores.billing,
                                             self.runtime.server.clock, tier=tier, **kw)
        return token

    async def body(self, **fields: Any) -> dict[str, Any]:
        """A valid registration body (a fresh single-use billing token unless given)."""
        body: dict[str, Any] = {
            "agent_name": "data-analyst-agent", "agent_type": "autonomous",
            "requested_scopes": ["read:projects", "read:analytics"], "tos_accepted": True,
        }
        if "billing_token" not in fields:
            body["billing_token"] = await self.billing_token()
        body.update(fields)
        return {k: v for k, v in body.items() if v is not None}

    async def register(self, ip: str = AGENT_IP, **fields: Any) -> httpx.Response:
        return await self.client(ip).post(REGISTER, json=await self.body(**fields))

    async def registered(self, **fields: Any) -> dict[str, Any]:
        response = await self.register(**fields)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def token(self, client_id: str, secret: str, scope: str | None = None,
                    **form: str) -> httpx.Response:
        data = {"grant_type": "client_credentials", **form}
        if scope is not None:
            data["scope"] = scope
        return await self.http.post("/oauth/token", data=data, headers=basic(client_id, secret))

    async def admin_token(self, scope: str = "gatepass:admin") -> str:
        """An access token of an operator client holding ``scope``."""
        created = await self.runtime.admin.create_client("ops", scope, operator=True)
        assert created.secret is not None
        response = await self.token(created.client.client_id, created.secret, scope)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def clients(self) -> list[str]:
        return [c.client_id for c in await self.runtime.stores.clients.list_clients()]

    async def events(self, client_id: str | None = None) -> list[Mapping[str, Any]]:
        await self.runtime.server.audit.flush()
        found = await self.runtime.stores.audit.recent(1000, client_id)
        return [{"event": e.event, "actor": e.actor, "reason": e.reason, **e.details}
                for e in found]


@asynccontextmanager
async def running(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Harness]:
    app = create_app(settings, clock=clock)
    async with LifespanManager(app) as manager:
        harness = Harness(manager.app, app.state.runtime)
        try:
            yield harness
        finally:
            for http in harness._clients:
                await http.aclose()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(agent_settings(tmp_path)) as harness:
        yield harness
