"""The server as ``gatepass serve`` builds it (``create_app`` with development settings, demo API
mounted at ``/api``), driven through httpx's ASGI transport with the lifespan entered.

``serve(**overrides)`` opens one; ``gp`` is the default (memory store, system clock). Tokens are
fetched from ``POST /oauth/token``; ``client(scopes)`` creates a client the way the CLI does.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.fernet import Fernet

from gatepass.http.app import create_app
from gatepass.runtime import Runtime
from gatepass.settings import Settings

ISSUER = "http://127.0.0.1:8000"
ALL_SCOPES = "read:projects write:projects read:analytics execute:deployments " \
             "agent:webhook-management"
WELL_KNOWN = "/.well-known/oauth-protected-resource"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def dev_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": ISSUER, "database_url": "memory://", "data_dir": tmp_path,
        "development": True, "key_encryption_keys": [Fernet.generate_key().decode()],
        "secret_pepper": secrets.token_hex(32), "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Gatepass:
    """A running server and helpers that speak HTTP to it."""

    http: httpx.AsyncClient
    runtime: Runtime
    settings: Settings

    async def client(self, scopes: str = ALL_SCOPES, **fields: Any) -> tuple[str, str]:
        fields.setdefault("agent_type", "autonomous")
        fields.setdefault("owner", "owner-" + secrets.token_hex(4))
        created = await self.runtime.admin.create_client("demo-test", scopes, **fields)
        assert created.secret is not None
        return created.client.client_id, created.secret

    async def token(self, scopes: str | None = None, *, creds: tuple[str, str] | None = None,
                    **form: str) -> str:
        client_id, secret = creds or await self.client(scopes or ALL_SCOPES)
        data = {"grant_type": "client_credentials", **form}
        if scopes is not None:
            data["scope"] = scopes
        response = await self.http.post("/oauth/token", data=data,
                                        headers=basic(client_id, secret))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


ServeFactory = Callable[..., AbstractAsyncContextManager[Gatepass]]


@pytest.fixture
def serve(tmp_path: Path) -> ServeFactory:
    """``async with serve(**settings_overrides) as gp``."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Gatepass]:
        settings = dev_settings(tmp_path, **overrides)
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 40_000))
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
                yield Gatepass(http, app.state.runtime, settings)

    return run


@pytest.fixture
async def gp(serve: ServeFactory) -> AsyncIterator[Gatepass]:
    async with serve() as running:
        yield running
