"""PyJWT's ``PyJWKClient`` verifies our RFC 9068 access tokens from the published JWKS, also
across a key rotation run with ``gatepass keys rotate`` (DESIGN §4: next -> current -> previous).

The rotation test has a server of its own (keys re-read every 0.3 s instead of 10 s) so that the
other tests never see the signing key change under them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from .conftest import GatepassServer, decode_access_token, run_server

pytestmark = pytest.mark.slow

WAIT = 10.0


def _token(server: GatepassServer, client: dict[str, Any], scope: str = "read:projects") -> str:
    resp = httpx.post(server.token_endpoint, data={"grant_type": "client_credentials",
                                                   "scope": scope},
                      auth=(client["client_id"], client["client_secret"]))
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def _published(server: GatepassServer) -> set[str]:
    return {k["kid"] for k in httpx.get(server.jwks_uri).json()["keys"]}


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"not within {WAIT}s: {what}")


def test_rfc9068_2_pyjwt_verifies_access_token(
    gatepass_server: GatepassServer, secret_client: dict[str, Any], jwks_client: jwt.PyJWKClient
) -> None:
    token = _token(gatepass_server, secret_client, "read:projects write:projects")
    header = jwt.get_unverified_header(token)
    assert header == {"typ": "at+jwt", "alg": "ES256", "kid": header["kid"]}
    assert header["kid"] in _published(gatepass_server)
    claims = decode_access_token(token, gatepass_server, jwks_client)
    assert claims["iss"] == gatepass_server.issuer
    assert claims["aud"] == gatepass_server.issuer  # no resource requested: the default audience
    assert claims["sub"] == claims["client_id"] == secret_client["client_id"]  # RFC 9068 §2.2
    assert claims["scope"] == "read:projects write:projects"
    assert claims["exp"] - claims["iat"] == 3600
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16


def test_rfc9068_4_pyjwt_refuses_wrong_audience_and_algorithm(
    gatepass_server: GatepassServer, secret_client: dict[str, Any], jwks_client: jwt.PyJWKClient
) -> None:
    token = _token(gatepass_server, secret_client)
    key = jwks_client.get_signing_key_from_jwt(token)
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key, algorithms=["ES256"], audience="https://other.example",
                   issuer=gatepass_server.issuer)
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, key, algorithms=["RS256"], audience=gatepass_server.issuer)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, key, algorithms=["ES256"], audience=gatepass_server.issuer)


@pytest.fixture(scope="module")
def rotating_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatepassServer]:
    with run_server(tmp_path_factory.mktemp("rotation"), GATEPASS_KEY_RELOAD_INTERVAL="0.3") as s:
        yield s


def _key_states(server: GatepassServer) -> dict[str, str]:
    return {k["kid"]: k["state"] for k in json.loads(server.cli("keys", "list", "--json"))}


def test_rfc9068_key_rotation_pyjwt(rotating_server: GatepassServer) -> None:
    server = rotating_server
    client = server.create_client("rotation", "read:projects")
    jwks = jwt.PyJWKClient(server.jwks_uri, cooldown_duration=0)
    old_token = _token(server, client)
    old_kid = _kid(old_token)
    decode_access_token(old_token, server, jwks)

    # Step 1 (no --force): a new key is published as `next`; it verifies but does not sign yet.
    out = server.cli("keys", "rotate")
    found = re.search(r"published (\S+) as next", out)
    assert found, out
    new_kid = found.group(1)
    assert _key_states(server) == {old_kid: "current", new_kid: "next"}
    _wait_for(lambda: new_kid in _published(server), "the next key in the JWKS")
    assert _kid(_token(server, client)) == old_kid

    # Step 2 (--force skips the publish delay): next -> current, current -> previous.
    out = server.cli("keys", "rotate", "--force")
    assert f"{new_kid} is now current" in out and f"{old_kid} is now previous" in out, out
    assert _key_states(server) == {old_kid: "previous", new_kid: "current"}
    _wait_for(lambda: _kid(_token(server, client)) == new_kid, "tokens signed by the new key")
    assert _published(server) == {old_kid, new_kid}

    new_token = _token(server, client)
    assert decode_access_token(new_token, server, jwks)["client_id"] == client["client_id"]
    # The old token stays valid: through the cached client and through a fresh one.
    assert decode_access_token(old_token, server, jwks)["client_id"] == client["client_id"]
    fresh = jwt.PyJWKClient(server.jwks_uri)
    assert decode_access_token(old_token, server, fresh)["client_id"] == client["client_id"]
    for token in (old_token, new_token):
        resp = httpx.post(server.introspection_endpoint, data={"token": token},
                          auth=(client["client_id"], client["client_secret"]))
        assert resp.json()["active"] is True
