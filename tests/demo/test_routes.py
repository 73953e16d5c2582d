"""Every demo route from both sides (RFC 6750 §3, §3.1; RFC 9728 §5.1), plus the error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from gatepass.demo import ROUTE_SCOPES

from .conftest import ISSUER, WELL_KNOWN, Gatepass, bearer

METADATA_URL = ISSUER + WELL_KNOWN
GOOD_HOOK = {"url": "https://hooks.example.com/in", "events": ["project.created"]}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                "x-ratelimit-tier", "ratelimit", "ratelimit-policy")


async def _body(gp: Gatepass, path: str, token: str) -> dict[str, Any] | None:
    """A valid body for ``path`` (deployments need a project of the caller's tenant)."""
    if path == "/projects":
        return {"name": "hermes", "description": "Agent gateway"}
    if path == "/webhooks":
        return GOOD_HOOK
    if path == "/deployments":
        listed = (await gp.http.get("/api/projects", headers=bearer(token))).json()
        return {"project_id": listed["data"][0]["id"], "ref": "v1.2.3"}
    return None


@pytest.mark.parametrize(("method", "path"), list(ROUTE_SCOPES))
async def test_rfc6750_3_1_no_token_is_401_missing_token(gp: Gatepass, method: str,
                                                         path: str) -> None:
    response = await gp.http.request(method, "/api" + path, json={})
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "missing_token" and body["error_description"]
    assert body["token_endpoint"] == ISSUER + "/oauth/token"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "error=" not in challenge
    assert f'resource_metadata="{METADATA_URL}"' in challenge
    assert f"{ROUTE_SCOPES[method, path]}" in challenge  # scope="... every scope we take ..."


@pytest.mark.parametrize(("method", "path"), list(ROUTE_SCOPES))
async def test_rfc6750_3_1_wrong_scope_is_403_listing_required_and_granted(
    gp: Gatepass, method: str, path: str
) -> None:
    needed = ROUTE_SCOPES[method, path]
    other = "read:analytics" if needed != "read:analytics" else "read:projects"
    token = await gp.token(other)
    body = {"project_id": "proj_000000000000"} if path == "/deployments" else None
    response = await gp.http.request(method, "/api" + path, headers=bearer(token),
                                     json=body or await _body(gp, path, token))
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "insufficient_scope" and body["error_description"]
    assert body["required_scopes"] == [needed] and body["granted_scopes"] == [other]
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{needed}"' in challenge
    assert f'resource_metadata="{METADATA_URL}"' in challenge


@pytest.mark.parametrize(("method", "path"), list(ROUTE_SCOPES))
async def test_right_scope_succeeds_with_rate_limit_headers(
    gp: Gatepass, method: str, path: str
) -> None:
    token = await gp.token(f"{ROUTE_SCOPES[method, path]} read:projects")
    response = await gp.http.request(method, "/api" + path, headers=bearer(token),
                                     json=await _body(gp, path, token))
    assert response.status_code in (200, 201, 202), response.text
    assert all(h in response.headers for h in RATE_HEADERS)
    assert response.headers["cache-control"] == "no-store"
    if path == "/deployments":
        assert response.json()["status"] == "queued"
        assert response.json()["id"].startswith("dep_")
    if path == "/webhooks":
        hook = response.json()
        assert hook["secret"].startswith("whsec_") and hook["events"] == ["project.created"]


async def test_write_projects_implies_read_projects(gp: Gatepass) -> None:
    token = await gp.token("write:projects")
    assert (await gp.http.get("/api/projects", headers=bearer(token))).status_code == 200
    refused = await gp.http.get("/api/analytics", headers=bearer(token))
    assert refused.json()["granted_scopes"] == ["write:projects"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/webhooks", {"url": "http://hooks.example.com/x", "events": ["project.created"]}, "url"),
    ("/webhooks", {"url": "ftp://hooks.example.com/x", "events": ["project.created"]}, "url"),
    ("/webhooks", {"url": "https://u:p@hooks.example.com/", "events": ["project.created"]},
     "url"),
    ("/webhooks", {"url": "not a url", "events": ["project.created"]}, "url"),
    ("/webhooks", {"url": "https://hooks.example.com/x", "events": []}, "events"),
    ("/webhooks", {"url": "https://hooks.example.com/x", "events": ["user.deleted"]}, "events"),
    ("/webhooks", {"events": ["project.created"]}, "url"),
    ("/webhooks", {**GOOD_HOOK, "secret": "mine"}, "secret"),
    ("/projects", {"name": "Bad Name!"}, "name"),
    ("/projects", {"name": "x" * 65}, "name"),
    ("/deployments", {"project_id": "proj_1", "environment": "qa"}, "project_id"),
])
async def test_invalid_bodies_are_422_json(gp: Gatepass, path: str, body: dict[str, Any],
                                           field: str) -> None:
    token = await gp.token()
    response = await gp.http.post("/api" + path, headers=bearer(token), json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "invalid_request" and field in error["error_description"]
    assert field in [f["field"] for f in error["invalid_fields"]]


async def test_loopback_http_webhook_is_accepted(gp: Gatepass) -> None:
    hook = {"url": "http://127.0.0.1:9000/hook", "events": ["project.created"] * 2}
    response = await gp.http.post("/api/webhooks", headers=bearer(await gp.token()), json=hook)
    assert response.status_code == 201 and response.json()["events"] == ["project.created"]


async def test_malformed_json_unknown_project_archived_and_duplicates(gp: Gatepass) -> None:
    headers = bearer(await gp.token())
    garbage = await gp.http.post("/api/projects", headers={**headers, "content-type":
                                 "application/json"}, content=b"{nope")
    assert garbage.status_code == 422 and garbage.json()["error"] == "invalid_request"
    missing = await gp.http.post("/api/deployments", headers=headers,
                                 json={"project_id": "proj_000000000000"})
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    archived = (await gp.http.get("/api/projects?status=archived", headers=headers)).json()
    stale = await gp.http.post("/api/deployments", headers=headers,
                               json={"project_id": archived["data"][0]["id"]})
    assert (stale.status_code, stale.json()["error"]) == (409, "conflict")
    duplicate = await gp.http.post("/api/projects", headers=headers, json={"name": "apollo"})
    assert (duplicate.status_code, duplicate.json()["error"]) == (409, "conflict")
    paged = (await gp.http.get("/api/projects?limit=1", headers=headers)).json()
    assert paged["count"] == 1 and paged["has_more"] is True


async def test_unknown_path_wrong_method_bad_query_and_large_body_are_json(gp: Gatepass) -> None:
    headers = bearer(await gp.token())
    cases = [("GET", "/api/nothing", None, 404, "not_found"),
             ("DELETE", "/api/projects", None, 405, "method_not_allowed"),
             ("GET", "/api/analytics?days=365", None, 422, "invalid_request"),
             ("POST", "/api/projects", b"{" + b" " * 20_000 + b"}", 413, "invalid_request")]
    for method, path, content, status, code in cases:
        response = await gp.http.request(method, path, headers=headers, content=content)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"] == code and response.json()["error_description"]


async def test_tenants_do_not_see_each_other(gp: Gatepass) -> None:
    alice, bob = bearer(await gp.token()), bearer(await gp.token())
    await gp.http.post("/api/projects", headers=alice, json={"name": "alice-only"})
    names = [p["name"] for p in (await gp.http.get("/api/projects", headers=bob)).json()["data"]]
    assert "alice-only" not in names and len(names) == 3
