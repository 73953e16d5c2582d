"""RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64; the server decodes them.

Every octet of the client id and secret is sent as ``%XX``, which any conforming decoder must
turn back into the original, so this proves the server percent-decodes both parts.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import jwt
import pytest

from .conftest import GatepassServer, decode_access_token

pytestmark = pytest.mark.slow

FORM = {"grant_type": "client_credentials", "scope": "read:projects"}


def _pct_all(value: str) -> str:
    return "".join(f"%{b:02X}" for b in value.encode())


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_rfc6749_2_3_1_percent_encoded_basic_credentials(
    gatepass_server: GatepassServer, secret_client: dict[str, Any], jwks_client: jwt.PyJWKClient
) -> None:
    header = _basic(_pct_all(secret_client["client_id"]), _pct_all(secret_client["client_secret"]))
    resp = httpx.post(gatepass_server.token_endpoint, data=FORM,
                      headers={"Authorization": header})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    claims = decode_access_token(resp.json()["access_token"], gatepass_server, jwks_client)
    assert claims["client_id"] == secret_client["client_id"]


def test_rfc6749_2_3_1_percent_encoded_wrong_secret_is_refused(
    gatepass_server: GatepassServer, secret_client: dict[str, Any]
) -> None:
    """Decoding happens before the check: an encoded wrong secret is still wrong (§5.2 401)."""
    wrong = secret_client["client_secret"][:-1] + ("A" if secret_client["client_secret"][-1] != "A"
                                                   else "B")
    header = _basic(_pct_all(secret_client["client_id"]), _pct_all(wrong))
    resp = httpx.post(gatepass_server.token_endpoint, data=FORM,
                      headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"
    assert resp.headers["www-authenticate"].lower().startswith("basic")
