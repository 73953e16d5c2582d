"""Issue 12 item 3 (RFC 7591 §2): both registration endpoints ignore metadata they do not
understand and list it in ``ignored_metadata``; the agent endpoint understands the RFC 7591
names alongside its own; contradictions are ``invalid_client_metadata`` and store nothing; no
body shape answers 500."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import REGISTER, Harness

DCR = "/oauth/register"


async def test_dcr_ignores_and_reports_unknown_metadata(h: Harness) -> None:
    body = {"client_name": "x", "scope": "read:projects", "billing_token": await h.billing_token(),
            "is_admin": True, "id_token_signed_response_alg": "RS256", "zz_custom": {"a": [1]}}
    ok = await h.http.post(DCR, json=body)
    assert ok.status_code == 201, ok.text
    doc = ok.json()
    assert doc["ignored_metadata"] == ["id_token_signed_response_alg", "is_admin", "zz_custom"]
    client = await h.runtime.stores.clients.get_client(doc["client_id"])
    assert client is not None and not {"is_admin", "zz_custom"} & set(client.metadata)
    read = await h.http.get(doc["registration_client_uri"].removeprefix("https://as.example.com"),
                            headers={"Authorization": f"Bearer {doc['registration_access_token']}"})
    assert read.status_code == 200 and "is_admin" not in read.json()
    plain = await h.http.post(DCR, json={"client_name": "y",
                                         "billing_token": await h.billing_token()})
    assert plain.status_code == 201 and "ignored_metadata" not in plain.json()


async def test_agent_endpoint_ignores_and_reports_unknown_fields(h: Harness) -> None:
    response = await h.register(favourite_colour="blue", is_admin=True)
    assert response.status_code == 201, response.text
    assert response.json()["ignored_metadata"] == ["favourite_colour", "is_admin"]
    assert "ignored_metadata" not in (await h.registered())


async def test_agent_endpoint_understands_rfc7591_names(h: Harness) -> None:
    body = await h.body(agent_name=None, client_name="rfc-named-agent",
                        requested_scopes=None, scope="read:projects read:analytics",
                        grant_types=["client_credentials"], response_types=[],
                        token_endpoint_auth_method="client_secret_post")
    response = await h.http.post(REGISTER, json=body)
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["agent_name"] == "rfc-named-agent" and "ignored_metadata" not in doc
    assert doc["token_endpoint_auth_method"] == "client_secret_post"
    assert doc["grant_types"] == ["client_credentials"]
    assert doc["allowed_scopes"] == ["read:projects", "read:analytics"]
    post = await h.http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": doc["client_id"],
        "client_secret": doc["client_secret"], "scope": "read:projects"})
    assert post.status_code == 200, post.text
    stored = await h.runtime.stores.clients.get_client(doc["client_id"])
    assert stored is not None and stored.token_endpoint_auth_method == "client_secret_post"
    both = await h.registered(agent_name="own-name", client_name="other-name")
    assert both["agent_name"] == "own-name"


async def test_agent_endpoint_code_flow_client_needs_no_billing(h: Harness) -> None:
    body = await h.body(billing_token=None, grant_types=["authorization_code"],
                        redirect_uris=["https://agent.example.org/cb"],
                        token_endpoint_auth_method="none")
    response = await h.http.post(REGISTER, json=body)
    assert response.status_code == 201, response.text
    assert "client_secret" not in response.json()
    assert response.json()["grant_types"] == ["authorization_code"]
    refused = await h.http.post(REGISTER, json=await h.body(billing_token=None))
    assert refused.status_code == 402  # client credentials: billing applies


@pytest.mark.parametrize(("fields", "needle"), [
    ({"grant_types": ["client_credentials"], "response_types": ["code"]}, "response_types"),
    ({"grant_types": ["authorization_code"]}, "redirect_uris"),
    ({"grant_types": ["password"]}, "grant_types"),
    ({"grant_types": "client_credentials"}, "grant_types"),
    ({"token_endpoint_auth_method": "none"}, "none"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "client_secret_jwt"),
    ({"token_endpoint_auth_signing_alg": "ES256"}, "private_key_jwt only"),
    ({"scope": "read:projects"}, "different scopes"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "redirect"),
])
async def test_agent_endpoint_contradictions_store_nothing(
    h: Harness, fields: dict[str, Any], needle: str
) -> None:
    response = await h.register(**fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
    assert needle in response.json()["error_description"]
    assert await h.clients() == []


@pytest.mark.parametrize("endpoint", [REGISTER, DCR])
async def test_no_field_shape_is_a_server_error(h: Harness, endpoint: str) -> None:
    names = ["agent_name", "client_name", "agent_type", "requested_scopes", "scope",
             "grant_types", "response_types", "redirect_uris", "token_endpoint_auth_method",
             "token_endpoint_auth_signing_alg", "jwks", "jwks_uri", "billing_token", "owner",
             "software_statement", "application_type", "contacts", "tos_accepted"]
    for name in names:
        for value in (None, 5, 1.5, True, [], [None], {}, {"keys": 5}, "x" * 600, ["\x00"]):
            body = await h.body(**{name: value}) if endpoint == REGISTER else {
                "client_name": "x", name: value}
            response = await h.http.post(endpoint, json=body)
            assert response.status_code < 500, (name, value, response.text)
            assert response.json().get("error") or response.status_code == 201
