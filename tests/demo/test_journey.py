"""The guide's "Putting it all together", against the server as ``gatepass serve`` builds it.

Four HTTP requests after registration: discover, token, ``GET /api/projects``,
``GET /api/analytics``; no ``resource`` parameter, so the token carries the default audience.
"""

from __future__ import annotations

import pytest

from gatepass.cli.serve import _first_start
from gatepass.core.billing import issue_billing_token

from .conftest import ISSUER, Gatepass, ServeFactory, bearer


async def test_guide_four_requests_end_to_end(gp: Gatepass) -> None:
    billing, _ = await issue_billing_token(gp.runtime.stores.billing, gp.runtime.server.clock,
                                           tier="agent_standard")
    # 1. Discover
    config = (await gp.http.get(ISSUER + "/.well-known/openid-configuration")).json()
    token_endpoint, registration = config["token_endpoint"], config["agent_registration_url"]
    # 2. Register (first time only)
    reg = await gp.http.post(registration, json={
        "agent_name": "data-analyst-agent", "agent_type": "autonomous",
        "requested_scopes": ["read:projects", "read:analytics"], "tos_accepted": True,
        "billing_token": billing})
    assert reg.status_code == 201, reg.text
    client_id, client_secret = reg.json()["client_id"], reg.json()["client_secret"]
    # 3. Get an access token (client_secret_post, as in the guide)
    token_resp = (await gp.http.post(token_endpoint, data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": client_secret, "scope": "read:projects read:analytics"})).json()
    headers = bearer(token_resp["access_token"])
    # 4. Use the API
    projects = await gp.http.get(ISSUER + "/api/projects", headers=headers)
    analytics = await gp.http.get(ISSUER + "/api/analytics", headers=headers)

    assert projects.status_code == 200, projects.text
    listed = projects.json()
    assert listed["count"] == len(listed["data"]) == 3 and listed["has_more"] is False
    assert {"id", "name", "status", "created_at"} <= set(listed["data"][0])
    assert analytics.status_code == 200, analytics.text
    daily = analytics.json()["daily"]
    assert len(daily) == 7 and daily[-1]["date"] == analytics.json()["to"]
    assert {"api_calls", "unique_agents", "deployments", "error_rate"} <= set(daily[0])
    assert projects.headers["x-ratelimit-tier"] == "agent_standard"


async def test_demo_client_of_first_start_reaches_every_route(gp: Gatepass) -> None:
    first = await _first_start(gp.runtime)  # what `gatepass serve` prints on first start
    assert first is not None and first.billing_token is not None
    created = first.created
    assert created.secret is not None
    assert not any(s.startswith("gatepass:") for s in created.client.allowed_scopes)
    token = await gp.token(creds=(created.client.client_id, created.secret))  # default scopes
    headers = bearer(token)
    project = await gp.http.post("/api/projects", headers=headers, json={"name": "zeus"})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    calls = [
        ("GET", "/api/projects", None, 200),
        ("GET", "/api/analytics?days=30", None, 200),
        ("POST", "/api/deployments", {"project_id": project_id, "environment": "production"}, 202),
        ("POST", "/api/webhooks", {"url": "https://hooks.example.com/gp",
                                   "events": ["deployment.queued"]}, 201),
    ]
    for method, path, body, status in calls:
        response = await gp.http.request(method, path, headers=headers, json=body)
        assert response.status_code == status, (path, response.text)
    listed = (await gp.http.get("/api/projects", headers=headers)).json()
    assert "zeus" in [p["name"] for p in listed["data"]]


@pytest.mark.parametrize("alg", ["ES256", "RS256", "Ed25519"])
async def test_every_signing_algorithm_of_the_server_verifies(serve: ServeFactory,
                                                              alg: str) -> None:
    async with serve(signing_alg=alg) as gp:
        assert gp.runtime.server.keyring.alg == alg
        token = await gp.token("read:projects")
        response = await gp.http.get("/api/projects", headers=bearer(token))
        assert response.status_code == 200, response.text


async def test_sqlite_backend_as_make_run(serve: ServeFactory, tmp_path: object) -> None:
    async with serve(database_url=f"sqlite+aiosqlite:///{tmp_path}/gp.db") as gp:
        token = await gp.token("read:analytics")
        response = await gp.http.get("/api/analytics", headers=bearer(token))
        assert response.status_code == 200, response.text
