"""POST /oauth/token over HTTP: RFC 6749 §3.2, §4.4, §5.1, §5.2; RFC 7523; RFC 8707."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from typing import Any

import pytest
from gp_http_kit import API, ISSUER, Served, basic, unverified_claims

from gatepass.http import outage
from gatepass.http.outage import FailureLog, failure_kind
from gatepass.storage.base import StorageError
from gatepass.storage.memory import MemoryClientStore, open_memory_stores

FORM_CT = "application/x-www-form-urlencoded"
AUTH_FAILED = {"error": "invalid_client", "error_description": "Client authentication failed"}


def assert_error(resp: Any, status: int, body: dict[str, Any]) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.json() == body


def assert_invalid_client(resp: Any, description: str = "Client authentication failed") -> None:
    assert_error(resp, 401, {"error": "invalid_client", "error_description": description})
    assert resp.headers["www-authenticate"] == 'Basic realm="gatepass"'


# --- success ---------------------------------------------------------------------------------


async def test_rfc6749_s5_1_success_is_json_no_store_without_refresh_token(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.token((cid, secret), scope="read:projects")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["pragma"] == "no-cache"
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600,
                                                                     "read:projects")


async def test_rfc6749_s2_3_1_client_secret_post_over_http(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.token(client_id=cid, client_secret=secret)
    assert resp.status_code == 200, resp.text


async def test_rfc6749_s2_3_1_basic_credentials_are_percent_decoded(served: Served) -> None:
    cid, secret = await served.secret_client()
    pct = lambda s: "".join(f"%{b:02X}" for b in s.encode())  # noqa: E731
    header = "Basic " + base64.b64encode(f"{pct(cid)}:{pct(secret)}".encode()).decode()
    resp = await served.post("/oauth/token", {"grant_type": "client_credentials"},
                             headers={"Authorization": header})
    assert resp.status_code == 200, resp.text


async def test_rfc7523_s2_2_private_key_jwt_over_http(served: Served) -> None:
    cid, key = await served.jwt_client()
    form = {"grant_type": "client_credentials",
            **served.assertion_form(served.assertion(cid, key))}
    resp = await served.post("/oauth/token", form)
    assert resp.status_code == 200, resp.text
    assert unverified_claims(resp.json()["access_token"])["sub"] == cid
    again = await served.post("/oauth/token", form)
    assert_invalid_client(again, "client_assertion jti has already been used")


async def test_rfc7523_s3_wrongly_addressed_assertion_over_http(served: Served) -> None:
    cid, key = await served.jwt_client()
    assertion = served.assertion(cid, key, aud="https://other.example/token")
    resp = await served.post("/oauth/token", {"grant_type": "client_credentials",
                                              **served.assertion_form(assertion)})
    assert_invalid_client(resp, "client_assertion aud must be the issuer or the token endpoint")


async def test_rfc7523_s3_jwks_uri_to_a_private_address_is_never_fetched(served: Served) -> None:
    cid, key = await served.jwt_client(jwks_uri="https://127.0.0.1/jwks.json")
    resp = await served.post("/oauth/token", {
        "grant_type": "client_credentials",
        **served.assertion_form(served.assertion(cid, key))})
    assert_invalid_client(resp, "Could not obtain the client's keys from its jwks_uri")


async def test_rfc8707_s2_repeated_resource_becomes_aud_list(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.post("/oauth/token", {"grant_type": "client_credentials",
                                              "resource": [API, ISSUER]}, auth=(cid, secret))
    assert resp.status_code == 200, resp.text
    assert unverified_claims(resp.json()["access_token"])["aud"] == [API, ISSUER]


async def test_rfc9068_s2_2_access_token_claims_over_http(served: Served) -> None:
    cid, secret = await served.secret_client(agent_type="autonomous", owner="o", tier="t")
    claims = unverified_claims(await served.access_token(cid, secret, resource=API))
    assert claims["aud"] == API and claims["iss"] == ISSUER and claims["sub"] == cid
    assert (claims["agent_type"], claims["owner"], claims["tier"]) == ("autonomous", "o", "t")


# --- client authentication failures ----------------------------------------------------------


async def test_rfc6749_s5_2_wrong_secret_is_401_with_challenge(served: Served) -> None:
    cid, secret = await served.secret_client()
    assert_invalid_client(await served.token((cid, secret[:-1] + "!")))


async def test_rfc6749_s5_2_unknown_client_is_401(served: Served) -> None:
    assert_invalid_client(await served.token(("client_nope", "gps_nope")))


async def test_rfc6749_s5_2_disabled_client_is_401(served: Served) -> None:
    cid, secret = await served.secret_client()
    await served.rt.admin.set_status(cid, "disabled")
    assert_invalid_client(await served.token((cid, secret)), "Client is disabled")


async def test_rfc6749_s5_2_rotated_secret_grace_over_http(served: Served) -> None:
    cid, old = await served.secret_client()
    new, _ = await served.rt.admin.rotate_secret(cid, grace_seconds=60)
    assert (await served.token((cid, old))).status_code == 200
    assert (await served.token((cid, new))).status_code == 200
    served.clock.advance(60)
    assert_invalid_client(await served.token((cid, old)))
    assert (await served.token((cid, new))).status_code == 200


async def test_rfc6749_s2_3_no_credentials_is_401(served: Served) -> None:
    resp = await served.token(client_id="client_x")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == 'Basic realm="gatepass"'
    assert resp.json()["error"] == "invalid_client"


async def test_rfc6749_s2_3_two_authentication_methods_is_400(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.token((cid, secret), client_id=cid, client_secret=secret)
    assert_error(resp, 400, {
        "error": "invalid_request",
        "error_description": "More than one client authentication method used: "
                             "client_secret_basic, client_secret_post (RFC 6749 §2.3 allows one)"})
    assert "www-authenticate" not in resp.headers


# --- grant_type ------------------------------------------------------------------------------


async def test_rfc6749_s5_2_missing_grant_type(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.post("/oauth/token", {"scope": "read:projects"}, auth=(cid, secret))
    assert_error(resp, 400, {"error": "invalid_request",
                             "error_description": "grant_type is required"})


async def test_rfc6749_s3_2_duplicated_grant_type(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.post("/oauth/token", {"grant_type": ["client_credentials"] * 2},
                             auth=(cid, secret))
    assert_error(resp, 400, {"error": "invalid_request", "error_description":
                             "Parameter 'grant_type' is repeated (RFC 6749 §3.2)"})


@pytest.mark.parametrize("name", ["scope", "client_id", "client_assertion"])
async def test_rfc6749_s3_2_any_repeated_parameter_is_invalid_request(served: Served,
                                                                      name: str) -> None:
    cid, secret = await served.secret_client()
    resp = await served.post("/oauth/token", {"grant_type": "client_credentials",
                                              name: ["a", "b"]}, auth=(cid, secret))
    assert_error(resp, 400, {"error": "invalid_request", "error_description":
                             f"Parameter {name!r} is repeated (RFC 6749 §3.2)"})


async def test_rfc6749_s5_2_unknown_grant_type(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.post("/oauth/token", {"grant_type": "password"}, auth=(cid, secret))
    supported = ", ".join(served.rt.server.grants)
    assert_error(resp, 400, {"error": "unsupported_grant_type", "error_description":
                             f"Unsupported grant_type 'password'; supported: {supported}"})


# --- scope and resource ----------------------------------------------------------------------


async def test_rfc6749_s5_2_invalid_scope_names_the_scope(served: Served) -> None:
    cid, secret = await served.secret_client("read:projects")
    resp = await served.token((cid, secret), scope="read:projects write:projects")
    assert_error(resp, 400, {"error": "invalid_scope",
                             "error_description": "Scope not allowed for this client: "
                                                  "write:projects",
                             "denied_scopes": ["write:projects"],
                             "allowed_scopes": ["read:projects"]})
    resp = await served.token((cid, secret), scope="read:nothing")
    assert_error(resp, 400, {"error": "invalid_scope", "error_description":
                             "Unknown scope: read:nothing", "unknown_scopes": ["read:nothing"]})


async def test_rfc6749_s3_3_default_scopes_when_none_requested(served: Served) -> None:
    cid, secret = await served.secret_client(default_scopes=("write:projects",))
    resp = await served.token((cid, secret))
    assert resp.json()["scope"] == "write:projects"


async def test_rfc8707_s2_unknown_resource_is_invalid_target(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.token((cid, secret), resource="https://unknown.example")
    assert_error(resp, 400, {"error": "invalid_target", "error_description":
                             "Resource not allowed for this client: https://unknown.example"})


# --- the form reader -------------------------------------------------------------------------


async def test_rfc6749_s3_2_json_body_is_invalid_request(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.client.post("/oauth/token", json={"grant_type": "client_credentials"},
                                    headers={"Authorization": basic(cid, secret)})
    assert_error(resp, 400, {"error": "invalid_request", "error_description":
                             f"Content-Type must be {FORM_CT}"})


async def test_rfc6749_s3_2_missing_content_type_is_invalid_request(served: Served) -> None:
    resp = await served.client.post("/oauth/token", content=b"grant_type=client_credentials")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


async def test_rfc6749_s3_2_form_with_charset_parameter_is_accepted(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.client.post(
        "/oauth/token", content=b"grant_type=client_credentials",
        headers={"Content-Type": FORM_CT + "; charset=UTF-8", "Authorization": basic(cid, secret)})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
async def test_rfc6749_s3_2_get_is_405_json(served: Served, path: str) -> None:
    resp = await served.client.get(path, params={"grant_type": "client_credentials"})
    assert_error(resp, 405, {"error": "invalid_request", "error_description":
                             f"Use POST with {FORM_CT}"})
    assert resp.headers["allow"] == "POST"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_rfc9110_s15_5_6_other_methods_are_405_json_with_allow(served: Served,
                                                                     method: str) -> None:
    resp = await served.client.request(method, "/oauth/token")
    assert resp.status_code == 405
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"error": "invalid_request",
                           "error_description": f"{method} /oauth/token: Method Not Allowed"}
    assert "POST" in resp.headers["allow"]


async def test_body_size_cap_declared_length_is_413_json(served: Served) -> None:
    resp = await served.post("/oauth/token", {"grant_type": "client_credentials",
                                              "pad": "x" * 20_000})
    assert_error(resp, 413, {"error": "invalid_request",
                             "error_description": "Request body larger than 16384 bytes"})


async def test_body_size_cap_streamed_body_is_413_json(served: Served) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b"grant_type=client_credentials&pad="
        for _ in range(40):
            yield b"x" * 1000

    resp = await served.client.post("/oauth/token", content=chunks(),
                                    headers={"Content-Type": FORM_CT})
    assert "content-length" not in resp.request.headers
    assert_error(resp, 413, {"error": "invalid_request",
                             "error_description": "Request body larger than 16384 bytes"})


async def test_body_size_cap_allows_bodies_up_to_the_limit(served: Served) -> None:
    cid, secret = await served.secret_client()
    base = "grant_type=client_credentials&pad="
    body = (base + "x" * (16_384 - len(base))).encode()
    resp = await served.client.post("/oauth/token", content=body, headers={
        "Content-Type": FORM_CT, "Authorization": basic(cid, secret)})
    assert resp.status_code == 200, resp.text


async def test_malformed_utf8_body_is_invalid_request(served: Served) -> None:
    resp = await served.client.post("/oauth/token", content=b"grant_type=\xff\xfe",
                                    headers={"Content-Type": FORM_CT})
    assert_error(resp, 400, {"error": "invalid_request", "error_description":
                             "Malformed form body"})


async def test_unknown_path_is_404_json(served: Served) -> None:
    resp = await served.client.get("/nowhere")
    assert resp.status_code == 404
    assert resp.json() == {"error": "not_found", "error_description": "GET /nowhere: Not Found"}


# --- failures inside --------------------------------------------------------------------------


class DownClients(MemoryClientStore):
    async def get_client(self, client_id: str) -> Any:
        raise StorageError("connection refused to 10.0.0.5 password=hunter2")


async def test_storage_failure_at_token_endpoint_is_503(serve: Any, clock: Any) -> None:
    stores = dataclasses.replace(open_memory_stores(clock), clients=DownClients())
    async with serve(stores=stores) as s:
        resp = await s.token(("client_x", "gps_x"))
        assert_error(resp, 503, {"error": "temporarily_unavailable",
                                 "error_description": "Storage is unavailable; retry later"})
        assert resp.headers["retry-after"] == "5"


async def test_a_storage_outage_logs_one_line_per_kind_not_a_traceback_each(
        serve: Any, clock: Any, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stores = dataclasses.replace(open_memory_stores(clock), clients=DownClients())
    monkeypatch.setattr(outage, "_failures", FailureLog(logging.getLogger("gatepass.http")))
    caplog.set_level(logging.WARNING, "gatepass.http")
    async with serve(stores=stores) as s:
        answers = [await s.token((f"client_{i}", "gps_x")) for i in range(20)]
    assert [a.status_code for a in answers] == [503] * 20
    lines = [r for r in caplog.records if r.name == "gatepass.http"]
    assert [r.getMessage() for r in lines] == [
        "storage failure (StorageError) on /oauth/token; 0 more since the last line of this kind"]
    assert lines[0].exc_info is None and "hunter2" not in caplog.text


def test_failure_lines_count_what_they_left_out() -> None:
    now = [0.0]
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("gatepass.test.outage")
    logger.addHandler(Collect())
    failures = FailureLog(logger, interval=10.0, clock=lambda: now[0])
    logged = [failures.record("A", "/x") for _ in range(5)] + [failures.record("B", "/y")]
    now[0] = 10.0
    logged.append(failures.record("A", "/x"))
    assert logged == [True, False, False, False, False, True, True]
    assert records[-1] == "storage failure (A) on /x; 4 more since the last line of this kind"
    assert failure_kind(StorageError("x")) == "StorageError"


async def test_unexpected_error_is_500_without_detail(served: Served, monkeypatch: Any) -> None:
    cid, secret = await served.secret_client()

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("internal detail: key material")

    monkeypatch.setattr(served.rt.server.issuer, "issue", boom)
    resp = await served.token((cid, secret))
    assert_error(resp, 500, {"error": "server_error", "error_description": "Internal error"})
    assert "internal detail" not in resp.text


async def test_token_response_json_is_compact_and_parseable(served: Served) -> None:
    cid, secret = await served.secret_client()
    resp = await served.token((cid, secret))
    assert json.loads(resp.content) == resp.json()
