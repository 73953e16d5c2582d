"""Issue 13 item 10: the agent library attaches tokens only to the origins it is configured for.

Real servers on loopback (uvicorn): the authorization server, the protected API and a third-party
server that records every ``Authorization`` header it receives. ``httpx.Client(auth=agent)``
sends the token to the configured API and to nobody else; plain http is refused for any host
but a loopback one, even one listed explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from agent.conftest import free_port, resource_app, serve, settings
from gatepass.agent import AgentClient
from gatepass.http.app import create_app

pytestmark = pytest.mark.slow


@dataclass
class Recorder:
    """A third-party ASGI server: answers 200 and keeps each request's Authorization header."""

    seen: list[str | None] = field(default_factory=list)

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        value = headers.get(b"authorization")
        self.seen.append(value.decode() if value is not None else None)
        body = json.dumps({"ok": True}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


@dataclass
class Live:
    issuer: str
    api: str
    third_party: str
    recorder: Recorder
    agent_dir: Path


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    as_port, api_port, other_port = free_port(), free_port(), free_port()
    issuer, api = f"http://127.0.0.1:{as_port}", f"http://127.0.0.1:{api_port}"
    recorder = Recorder()
    with serve(create_app(settings(tmp_path, issuer, api)), as_port), \
            serve(resource_app(issuer, api), api_port), serve(recorder, other_port) as other:
        yield Live(issuer, api, other, recorder, tmp_path)


def _registered(live: Live, **kw: object) -> AgentClient:
    agent = AgentClient(live.issuer, **kw)  # type: ignore[arg-type]
    agent.register("origin-test", "read:projects", accept_tos=True)
    return agent


def test_a_third_party_origin_gets_no_authorization_header(live: Live) -> None:
    with _registered(live, origins=[live.api]) as agent, httpx.Client(auth=agent) as http:
        assert http.get(f"{live.third_party}/steal").status_code == 200
        assert http.get(f"{live.api}/projects").status_code == 200  # the configured API does
    assert live.recorder.seen == [None]


def test_the_configured_api_gets_the_token(live: Live) -> None:
    with _registered(live, origins=[live.api]) as agent, httpx.Client(auth=agent) as http:
        response = http.get(f"{live.api}/projects")
        assert response.status_code == 200, response.text
        assert response.request.headers["authorization"].startswith("Bearer ey")


def test_an_origin_listed_explicitly_gets_the_token(live: Live) -> None:
    with _registered(live, origins=[live.api, live.third_party]) as agent, \
            httpx.Client(auth=agent) as http:
        http.get(f"{live.third_party}/listed")
    (sent,) = live.recorder.seen
    assert sent is not None and sent.startswith("Bearer ey")


def test_the_api_without_configuration_gets_no_token_and_a_401(live: Live) -> None:
    """Nothing configured for the API's origin: the request goes out bare (the API answers
    401 missing_token) and the agent does not send its token in reaction."""
    with _registered(live) as agent, httpx.Client(auth=agent) as http:
        response = http.get(f"{live.api}/projects")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert "authorization" not in response.request.headers


def test_plain_http_to_a_non_loopback_host_never_carries_the_token(live: Live) -> None:
    """Even listed explicitly, http://api.example.com gets no token; https to it does."""
    seen: list[httpx.Request] = []

    def edge(request: httpx.Request) -> httpx.Response:  # the network edge, not a server
        seen.append(request)
        return httpx.Response(200, json={})

    listed = ["http://api.example.com", "https://api.example.com", live.api]
    with _registered(live, origins=listed) as agent, \
            httpx.Client(auth=agent, transport=httpx.MockTransport(edge)) as http:
        http.get("http://api.example.com/data")
        http.get("https://api.example.com/data")
        http.get("https://api.example.com:8443/data")  # another origin (port)
    assert [r.headers.get("authorization", "").startswith("Bearer ey") for r in seen] == [
        False, True, False]


def test_origins_are_compared_canonically() -> None:
    agent = AgentClient("https://as.example.com", origins=["HTTPS://API.example.com:443/base"])
    assert agent.allows(httpx.URL("https://api.example.com/x"))
    assert agent.allows(httpx.URL("https://as.example.com/oauth/token"))
    assert not agent.allows(httpx.URL("https://api.example.com.evil.example/x"))
    assert not agent.allows(httpx.URL("https://user@evil.example/x"))
    assert not agent.allows(httpx.URL("http://as.example.com/x"))  # http, not loopback
    assert AgentClient("http://[::1]:8000").allows(httpx.URL("http://[::1]:8000/api"))
