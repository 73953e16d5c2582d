"""RFC 7591 dynamic registration and RFC 7592 management, from both sides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ISSUER, Harness, agent_settings, bearer, es256_key, running

REGISTER = "/oauth/register"


@pytest.fixture
async def dcr(tmp_path: Path) -> AsyncIterator[Harness]:
    """A server with a free tier, so plain RFC 7591 clients need no billing token."""
    async with running(agent_settings(tmp_path, agents={"free_tier": "agent_free"})) as h:
        yield h


async def _register(h: Harness, **meta: Any) -> dict[str, Any]:
    body = {"client_name": "mcp-client", "scope": "read:projects", **meta}
    response = await h.http.post(REGISTER, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_rfc7591_s3_2_1_client_information_response(dcr: Harness) -> None:
    response = await dcr.http.post(REGISTER, json={
        "client_name": "mcp-client", "scope": "read:projects write:projects",
        "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post",
        "client_uri": "https://agent.example.org", "contacts": ["ops@example.org"]})
    assert response.status_code == 201
    doc = response.json()
    assert response.headers["location"] == doc["registration_client_uri"]
    assert response.headers["cache-control"] == "no-store"
    assert doc["registration_client_uri"] == f"{ISSUER}/oauth/register/{doc['client_id']}"
    assert doc["client_secret"].startswith("gps_")
    assert doc["client_secret_expires_at"] == 0
    assert doc["registration_access_token"].startswith("gpr_")
    assert doc["grant_types"] == ["client_credentials"]
    assert doc["token_endpoint_auth_method"] == "client_secret_post"
    assert doc["scope"] == "read:projects write:projects"
    assert doc["client_uri"] == "https://agent.example.org"
    assert doc["contacts"] == ["ops@example.org"]
    assert isinstance(doc["client_id_issued_at"], int)
    token = await dcr.http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": doc["client_id"],
        "client_secret": doc["client_secret"], "scope": "write:projects"})
    assert token.status_code == 200


async def test_rfc7591_s3_billing_gate_applies(h: Harness) -> None:
    refused = await h.http.post(REGISTER, json={"client_name": "x", "scope": "read:projects"})
    assert refused.status_code == 402
    assert refused.json()["error"] == "billing_required"
    paid = await h.http.post(REGISTER, json={"client_name": "x", "scope": "read:projects",
                                             "billing_token": await h.billing_token()})
    assert paid.status_code == 201


async def test_rfc7591_s2_private_key_jwt_client_has_no_secret(dcr: Harness) -> None:
    key = es256_key()
    doc = await _register(dcr, token_endpoint_auth_method="private_key_jwt",
                          jwks={"keys": [key.as_dict(private=False)]})
    assert "client_secret" not in doc
    assert doc["jwks"]["keys"][0]["kid"] == "agent-key"


@pytest.mark.parametrize(("meta", "error", "needle"), [
    ({"token_endpoint_auth_method": "none"}, "invalid_client_metadata", "none"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata",
     "client_secret_jwt"),
    ({"grant_types": ["authorization_code"]}, "invalid_client_metadata", "grant_types"),
    ({"grant_types": []}, "invalid_client_metadata", "grant_types"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "jwks"),
    ({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}},
     "invalid_client_metadata", "private_key_jwt"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "EC"}]},
      "jwks_uri": "https://example.com/jwks"}, "invalid_client_metadata", "not both"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://example.com/j"},
     "invalid_client_metadata", "https"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://192.168.1.5/j"},
     "invalid_client_metadata", "non-public"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://127.0.0.1/j"},
     "invalid_client_metadata", "non-public"),
    ({"redirect_uris": ["https://10.0.0.1/cb"]}, "invalid_redirect_uri", "redirect_uri"),
    ({"redirect_uris": ["https://example.com/cb#frag"]}, "invalid_redirect_uri",
     "redirect_uri"),
    ({"redirect_uris": "https://example.com/cb"}, "invalid_client_metadata", "redirect_uris"),
    ({"client_id": "my-own-id"}, "invalid_client_metadata", "chosen by the server"),
    ({"client_secret": "my-own-secret"}, "invalid_client_metadata", "chosen by the server"),
    ({"client_name": 5}, "invalid_client_metadata", "client_name"),
    ({"client_name": "x" * 501}, "invalid_client_metadata", "client_name"),
    ({"client_name": "a\x00b"}, "invalid_client_metadata", "printable"),
    ({"scope": "read:projects delete:world"}, "invalid_scope", "delete:world"),
    ({"scope": "gatepass:admin"}, "invalid_scope", "gatepass:admin"),
    ({"software_statement": "eyJhbGciOiJub25lIn0.e30."}, "invalid_software_statement",
     "trusted"),
])
async def test_rfc7591_s3_2_2_refusals_store_nothing(
    dcr: Harness, meta: dict[str, Any], error: str, needle: str
) -> None:
    body = {"client_name": "mcp-client", "scope": "read:projects", **meta}
    response = await dcr.http.post(REGISTER, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert needle in response.json()["error_description"]
    assert await dcr.clients() == []


@pytest.mark.parametrize(("content", "status"), [
    (b"{oops", 400), (b"[]", 400), (b"{}" + b" " * 20_000, 413)])
async def test_rfc7591_s3_malformed_bodies(dcr: Harness, content: bytes, status: int) -> None:
    response = await dcr.http.post(REGISTER, content=content,
                                   headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"


async def test_rfc7591_s3_identical_registration_is_409_without_credentials(h: Harness) -> None:
    token = await h.billing_token()
    first = await _register(h, billing_token=token)
    again = await h.http.post(REGISTER, json={"client_name": "mcp-client",
                                              "scope": "read:projects", "billing_token": token})
    assert again.status_code == 409
    assert again.json() == {"error": "invalid_client_metadata",
                            "error_description": again.json()["error_description"],
                            "client_id": first["client_id"]}
    assert len(await h.clients()) == 1
    assert (await h.token(first["client_id"], first["client_secret"])).status_code == 200
    changed = await _register(h, client_name="another", billing_token=await h.billing_token())
    assert changed["client_id"] != first["client_id"]


async def test_rfc7591_s3_secretless_bodies_are_never_merged(dcr: Harness) -> None:
    """A body without a secret (free tier, no statement) could be replayed by anyone behind the
    same address: merging it would hand them the first client's credentials."""
    first = await _register(dcr)
    second = await _register(dcr)
    assert first["client_id"] != second["client_id"]  # strangers behind one address
    assert (await dcr.token(first["client_id"], first["client_secret"])).status_code == 200


async def test_rfc7591_s3_initial_access_token(tmp_path: Path) -> None:
    settings = agent_settings(tmp_path, agents={"free_tier": "agent_free",
                                                "initial_access_token": "iat-s3cr3t-value"})
    async with running(settings) as h:
        body = {"client_name": "x", "scope": "read:projects"}
        for headers in ({}, bearer("wrong"), {"Authorization": "Basic aWF0OnM="}):
            refused = await h.http.post(REGISTER, json=body, headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"] == "invalid_token"
            assert refused.headers["www-authenticate"].startswith("Bearer")
        ok = await h.http.post(REGISTER, json=body, headers=bearer("iat-s3cr3t-value"))
        assert ok.status_code == 201
        assert len(await h.clients()) == 1


async def test_rfc7592_s2_1_read(dcr: Harness) -> None:
    doc = await _register(dcr)
    uri = f"/oauth/register/{doc['client_id']}"
    read = await dcr.http.get(uri, headers=bearer(doc["registration_access_token"]))
    assert read.status_code == 200
    assert read.json()["client_id"] == doc["client_id"]
    assert read.json()["client_name"] == "mcp-client"
    assert "client_secret" not in read.json()
    assert "registration_access_token" not in read.json()


async def test_rfc7592_s2_1_bad_token_or_unknown_client_is_401(dcr: Harness) -> None:
    doc = await _register(dcr)
    other = await _register(dcr, client_name="other")
    uri = f"/oauth/register/{doc['client_id']}"
    cases = [({}, uri), (bearer("gpr_forged"), uri), (bearer(doc["client_secret"]), uri),
             (bearer(other["registration_access_token"]), uri),
             (bearer(doc["registration_access_token"]), "/oauth/register/agent_unknown")]
    for headers, path in cases:
        for method in ("GET", "PUT", "DELETE"):
            body = {"client_id": doc["client_id"]} if method == "PUT" else None
            response = await dcr.http.request(method, path, headers=headers, json=body)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"] == "invalid_token"
            assert response.headers["www-authenticate"].startswith('Bearer realm="gatepass"')
    assert len(await dcr.clients()) == 2


async def test_rfc7592_s2_2_update(dcr: Harness) -> None:
    doc = await _register(dcr)
    uri, auth = f"/oauth/register/{doc['client_id']}", bearer(doc["registration_access_token"])
    updated = await dcr.http.put(uri, headers=auth, json={
        "client_id": doc["client_id"], "client_name": "renamed",
        "scope": "read:projects read:analytics agent:autonomous-deploy"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["client_name"] == "renamed"
    assert updated.json()["scope"] == "read:projects read:analytics"
    assert updated.json()["pending_scopes"] == ["agent:autonomous-deploy"]
    reread = await dcr.http.get(uri, headers=auth)
    assert reread.json()["client_name"] == "renamed"


async def test_rfc7592_s2_2_update_refusals_change_nothing(dcr: Harness) -> None:
    doc = await _register(dcr)
    uri, auth = f"/oauth/register/{doc['client_id']}", bearer(doc["registration_access_token"])
    for body, error in [
        ({"client_id": "agent_other", "client_name": "x"}, "invalid_request"),
        ({"client_name": "x"}, "invalid_request"),
        ({"client_id": doc["client_id"], "grant_types": ["password"]}, "invalid_client_metadata"),
        ({"client_id": doc["client_id"], "jwks_uri": "https://127.0.0.1/jwks",
          "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
        ({"client_id": doc["client_id"], "scope": "nope:nope"}, "invalid_scope"),
    ]:
        response = await dcr.http.put(uri, headers=auth, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"] == error
    reread = (await dcr.http.get(uri, headers=auth)).json()
    assert reread["client_name"] == "mcp-client"
    assert reread["scope"] == "read:projects"


async def test_rfc7592_s2_3_delete(dcr: Harness) -> None:
    doc = await _register(dcr)
    uri, auth = f"/oauth/register/{doc['client_id']}", bearer(doc["registration_access_token"])
    deleted = await dcr.http.delete(uri, headers=auth)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await dcr.http.get(uri, headers=auth)).status_code == 401
    token = await dcr.token(doc["client_id"], doc["client_secret"])
    assert token.status_code == 401
    assert await dcr.clients() == []
    events = [e["event"] for e in await dcr.events(doc["client_id"])]
    assert "client.deleted" in events


async def test_rfc7591_wrong_method_is_json_405(dcr: Harness) -> None:
    response = await dcr.http.get(REGISTER)
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"
