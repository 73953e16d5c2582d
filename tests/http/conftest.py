"""HTTP harness: ``create_app`` driven through ``httpx.ASGITransport`` with the lifespan entered.

``serve`` opens an app (optionally with injected stores or settings overrides) and yields a
``Served`` handle; ``served`` is the default one.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from gp_http_kit import Served, make_http_settings

from gatepass.clock import FrozenClock
from gatepass.http.app import create_app
from gatepass.storage.base import Stores
from gatepass.storage.memory import open_memory_stores

ServeFactory = Callable[..., AbstractAsyncContextManager[Served]]
_TLS = ssl.create_default_context()


class _SharedTlsClient(httpx.AsyncClient):
    """The app's outbound client with one shared, default-verifying TLS context: loading the CA
    bundle for every app costs ~30 ms, which would dominate this suite's run time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("verify", _TLS)
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def _fast_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpx, "AsyncClient", _SharedTlsClient)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def serve(tmp_path: Any, clock: FrozenClock) -> ServeFactory:
    """``async with serve(stores=..., **settings_overrides) as s``."""

    @asynccontextmanager
    async def run(stores: Stores | None = None, **overrides: Any) -> AsyncIterator[Served]:
        settings = make_http_settings(tmp_path, **overrides)
        app = create_app(settings, clock=clock, stores=stores or open_memory_stores(clock))
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as client:
                yield Served(client, app.state.runtime, clock, settings)

    return run


@pytest.fixture
async def served(serve: ServeFactory) -> AsyncIterator[Served]:
    async with serve() as s:
        yield s
