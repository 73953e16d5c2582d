"""Console harness: the whole app through httpx's ASGI transport with the lifespan entered.

Settings: memory stores, ``development=True`` (http cookies), a free tier so agents register
without billing, and two extra scopes that need an owner's approval but no trust level.
``Browser`` is an httpx client with a cookie jar that reads CSRF tokens out of pages.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, Type
from asgi_lifespan import LifespanManager
from cryptography.fernet import Fernet
from starlette.types import ASGIApp

import gatepass.core.owners as owners_module
from gatepass.core.owners import Owners
from gatepass.http.app import create_app
from gatepass.models import Owner
from gatepass.runtime import Runtime
from gatepass.scopes import DEFAULT_SCOPES
from gatepass.settings import Settings

ISSUER = "https://gatepass.test"
REGISTER = "/api/v1/agents/register"
PASSWORD = "correct horse battery"
APPROVAL_SCOPES = ("agent:payments", "agent:email-send")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_settings(tmp_path: Path, **overrides: Any) -> Settings:
    catalog = [{"name": s.name, "description": s.description,
                "requires_approval": s.requires_approval, "min_tier": s.min_tier,
                "min_trust": s.min_trust, "internal": s.internal} for s in DEFAULT_SCOPES]
    catalog += [{"name": n, "description": f"Test scope {n}", "requires_approval": True}
                for n in APPROVAL_SCOPES]
    values: dict[str, Any] = {
        "issuer": ISSUER, "database_url": "memory://", "data_dir": tmp_path,
        "development": True, "client_cache_ttl": 0, "scopes": catalog,
        "key_encryption_keys": [Fernet.generate_key().decode()],
        "secret_pepper": secrets.token_hex(32),
        "agents": {"free_tier": "agent_standard", "registrations_per_ip_per_hour": 1000},
    }
    values.update(overrides)
    return Settings(**values)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()
                                                         ).decode()}


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


class Browser:
    """A signed-in (or not) console visitor: cookies kept, redirects not followed."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path)

    async def csrf(self, path: str = "/console/login") -> str:
        response = await self.http.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return csrf_of(response.text)

    async def post(self, path: str, data: dict[str, Any] | None = None, *,
                   csrf_from: str = "/console/login") -> httpx.Response:
        """A form post carrying the session's CSRF token (read from ``csrf_from``)."""
        form = {"csrf": await self.csrf(csrf_from), **(data or {})}
        return await self.http.post(path, data=form)

    async def login(self, email: str, password: str = PASSWORD, nxt: str | None = None
                    ) -> httpx.Response:
        data = {"email": email, "password": password}
        if nxt is not None:
            data["next"] = nxt
        return await self.post("/console/login", data)


@dataclass
class Harness:
    app: ASGIApp
    runtime: Runtime
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, ip: str = "198.51.100.7") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40_000))
        http = httpx.AsyncClient(transport=transport, base_url=ISSUER)
        self._clients.append(http)
        return http

    def browser(self, ip: str = "198.51.100.7") -> Browser:
        return Browser(self.client(ip))

    async def signed_in(self, email: str, ip: str = "198.51.100.7") -> Browser:
        browser = self.browser(ip)
        response = await browser.login(email)
        assert response.status_code == 303, response.text
        return browser

    @property
    def owners(self) -> Owners:
        return Owners(self.runtime.server, self.runtime.stores.owners)

    async def owner(self, email: str, *, operator: bool = False) -> Owner:
        return await self.owners.create(email, PASSWORD, operator=operator, actor="test")

    async def register(self, name: str = "data-analyst-agent", scopes: tuple[str, ...] = (
            "read:projects",), owner: str | None = None, ip: str = "203.0.113.9"
                       ) -> dict[str, Any]:
        body: dict[str, Any] = {"agent_name": name, "agent_type": "autonomous",
                                "requested_scopes": list(scopes), "tos_accepted": True}
        if owner is not None:
            body["owner"] = owner
        response = await self.client(ip).post(REGISTER, json=body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def owned_agent(self, owner: Owner, name: str = "agent-x",
                          scopes: tuple[str, ...] = ("read:projects",)) -> dict[str, Any]:
        """A registered agent already confirmed by ``owner``."""
        agent = await self.register(name, scopes, owner=owner.email)
        await self.owners.confirm(owner, agent["client_id"])
        return agent

    async def token(self, client_id: str, secret: str, scope: str | None = None
                    ) -> httpx.Response:
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        return await self.client().post("/oauth/token", data=data,
                                        headers=basic(client_id, secret))

    async def events(self, client_id: str | None = None) -> list[Any]:
        await self.runtime.server.audit.flush()
        return await self.runtime.stores.audit.recent(1000, client_id)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Harness]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:  # migrations under load
        harness = Harness(manager.app, app.state.runtime)
        try:
            yield harness
        finally:
            for http in harness._clients:
                await http.aclose()


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with tiny costs: the production parameters take ~0.5 s per hash on CI
    machines. ``test_outdated_hashes_are_upgraded_at_sign_in`` checks the real ones."""
    monkeypatch.setattr(owners_module, "password_hasher", lambda: PasswordHasher(
        time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID))


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(console_settings(tmp_path)) as harness:
        yield harness
