"""Issue 13 item 15 (last bullet): registration JSON that repeats a member is refused with
``invalid_client_metadata`` (the last value must not silently win); the same body without the
repeat registers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.agents.conftest import Harness, agent_settings, running

DCR = "/oauth/register"
AGENTS = "/api/v1/agents/register"
JSON = {"content-type": "application/json"}


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(agent_settings(tmp_path, agents={"free_tier": "agent_free"})) as harness:
        yield harness


@pytest.mark.parametrize(("endpoint", "good", "bad"), [
    (DCR, b'{"client_name": "a", "scope": "read:projects"}',
     b'{"client_name": "a", "scope": "read:projects", "scope": "write:projects"}'),
    (DCR, b'{"client_name": "a", "jwks": null}',
     b'{"client_name": "a", "contacts": [{"x": 1, "x": 2}]}'),  # nested object
    (AGENTS, b'{"agent_name": "a", "tos_accepted": true, "requested_scopes": ["read:projects"]}',
     b'{"agent_name": "a", "tos_accepted": true, "requested_scopes": ["read:projects"],'
     b' "requested_scopes": ["write:projects"]}'),
    (AGENTS, b'{"agent_name": "a", "tos_accepted": true}',
     b'{"agent_name": "a", "agent_name": "b", "tos_accepted": true}'),
])
async def test_duplicate_keys_are_refused(h: Harness, endpoint: str, good: bytes,
                                          bad: bytes) -> None:
    refused = await h.http.post(endpoint, content=bad, headers=JSON)
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["error"] == "invalid_client_metadata"
    assert "repeats the member" in body["error_description"]
    assert refused.headers["cache-control"] == "no-store"
    assert await h.clients() == []
    accepted = await h.http.post(endpoint, content=good, headers=JSON)
    assert accepted.status_code == 201, accepted.text


async def test_duplicate_keys_refused_on_rfc7592_update(h: Harness) -> None:
    created = (await h.http.post(DCR, json={"client_name": "a"})).json()
    path = created["registration_client_uri"].removeprefix("https://as.example.com")
    auth = {"Authorization": f"Bearer {created['registration_access_token']}", **JSON}
    body = f'{{"client_id": "{created["client_id"]}", "client_name": "b", "client_name": "c"}}'
    refused = await h.http.put(path, content=body.encode(), headers=auth)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata"
    stored = await h.runtime.stores.clients.get_client(created["client_id"])
    assert stored is not None and stored.name == "a"
    ok = await h.http.put(path, json={"client_id": created["client_id"], "client_name": "b"},
                          headers={"Authorization": auth["Authorization"]})
    assert ok.status_code == 200 and ok.json()["client_name"] == "b"


async def test_deep_nesting_is_a_client_error(h: Harness) -> None:
    deep = b'{"client_name": "a", "contacts": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = await h.http.post(DCR, content=deep, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_client_metadata")
