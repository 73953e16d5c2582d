"""The console in a real browser: Playwright driving headless Chromium against uvicorn.

An agent registers asking for ``agent:autonomous-deploy`` and names its owner; the owner signs
in, confirms the agent, approves the scope (and raises trust to the level the scope needs),
after which the agent's token request succeeds; the owner suspends it and the next request
fails with 401 ``invalid_client``. A screenshot of the agents list goes to pytest's tmp dir.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from gatepass.core.owners import Owners
from gatepass.http.app import create_app
from gatepass.runtime import Runtime

from .conftest import PASSWORD, basic, console_settings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCOPE = "agent:autonomous-deploy"
T = TypeVar("T")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"needs Debian's chromium at {CHROMIUM} (.ci/run installs it)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving the app in a thread with its own event loop."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(console_settings(tmp_path, issuer=self.url))
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", ws="none")
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop (where its stores live)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def __enter__(self) -> LiveServer:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            if not self.thread.is_alive():
                break
            threading.Event().wait(0.02)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(tmp_path) as server:
        yield server


@pytest.fixture
async def page(live: LiveServer) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            yield await context.new_page()
        finally:
            await browser.close()


async def token(http: httpx.AsyncClient, agent: dict[str, Any]) -> httpx.Response:
    return await http.post("/oauth/token", data={"grant_type": "client_credentials",
                                                  "scope": SCOPE},
                           headers=basic(agent["client_id"], agent["client_secret"]))


async def test_owner_approves_then_suspends_in_the_browser(live: LiveServer, page: Any,
                                                            tmp_path: Path) -> None:
    owners = Owners(live.runtime.server, live.runtime.stores.owners)
    live.call(owners.create("owner@example.com", PASSWORD, actor="test"))
    async with httpx.AsyncClient(base_url=live.url) as http:
        registered = await http.post("/api/v1/agents/register", json={
            "agent_name": "deploy-bot", "agent_type": "autonomous", "tos_accepted": True,
            "requested_scopes": ["read:projects", SCOPE], "owner": "owner@example.com"})
        assert registered.status_code == 201, registered.text
        agent = registered.json()
        assert agent["pending_scopes"] == [SCOPE]
        assert (await token(http, agent)).status_code == 400  # not approved yet

        # Signed out: the console sends us to the login page, then back.
        await page.goto(f"{live.url}/console/approvals")
        assert "/console/login?next=" in page.url
        await page.fill("input[name=email]", "owner@example.com")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button:has-text('Sign in')")
        await page.wait_for_url(f"{live.url}/console/approvals")

        # The agent named us: confirm it, then its pending approval is ours to decide.
        await page.goto(f"{live.url}/console")
        await page.click("button:has-text('Confirm')")
        await page.wait_for_selector("text=is now yours")
        await page.click("text=1 approval request waiting for a decision")
        card = page.locator("section.approval", has_text="deploy-bot")
        assert await card.locator(f"input[value='{SCOPE}']").is_checked()
        await page.screenshot(path=str(tmp_path / "console-approvals.png"), full_page=True)
        await card.locator("button:has-text('Approve selected')").click()
        await page.wait_for_selector(f"text=granted: {SCOPE}")

        # The scope also needs trust level 2 ("trusted"): promote on the agent's page.
        await page.goto(f"{live.url}/console/agents/{agent['client_id']}")
        await page.select_option("select[name=level]", "2")
        await page.click("button:has-text('Set trust level')")
        await page.wait_for_selector("text=Trust level is now 2")

        issued = await token(http, agent)
        assert issued.status_code == 200, issued.text
        assert issued.json()["scope"] == SCOPE

        await page.goto(f"{live.url}/console")
        row = page.locator("table.agents tr", has_text="deploy-bot")
        assert await row.locator("td.num").first.inner_text() == "1"
        assert await page.locator("svg.chart rect.bar.issued").count() == 24
        shot = tmp_path / "console-agents.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")

        # The kill switch.
        await page.goto(f"{live.url}/console/agents/{agent['client_id']}")
        await page.fill("form[action$='/suspend'] input[name=reason]", "misbehaving")
        await page.click("button:has-text('Suspend (kill switch)')")
        await page.wait_for_selector("text=1 outstanding token(s) revoked")
        assert await page.locator("h1 .status").inner_text() == "suspended"
        await page.screenshot(path=str(tmp_path / "console-agent.png"), full_page=True)

        refused = await token(http, agent)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
