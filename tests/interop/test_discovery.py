"""RFC 8414 metadata checked by an independent validator: Authlib's AuthorizationServerMetadata.

With the authorization code flow enabled, ``response_types_supported`` is ``["code"]`` and the
document passes Authlib's full ``validate()``; every member is also validated one by one.
"""

from __future__ import annotations

import httpx
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from .conftest import GatepassServer

pytestmark = pytest.mark.slow

WELL_KNOWN = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]


def _metadata(server: GatepassServer, path: str) -> AuthorizationServerMetadata:
    resp = httpx.get(server.base_url + path)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    return AuthorizationServerMetadata(resp.json())


@pytest.mark.parametrize("path", WELL_KNOWN)
def test_rfc8414_2_members_authlib_validator(gatepass_server: GatepassServer, path: str) -> None:
    meta = _metadata(gatepass_server, path)
    for key in meta.REGISTRY_KEYS:
        getattr(meta, f"validate_{key}")()
    assert meta["response_types_supported"] == ["code"]


@pytest.mark.parametrize("path", WELL_KNOWN)
def test_rfc8414_3_3_issuer_and_endpoints(gatepass_server: GatepassServer, path: str) -> None:
    meta = _metadata(gatepass_server, path)
    assert meta["issuer"] == gatepass_server.issuer  # §3.3: identical to the issuer
    assert meta["token_endpoint"] == gatepass_server.token_endpoint
    assert meta["introspection_endpoint"] == gatepass_server.introspection_endpoint
    assert meta["revocation_endpoint"] == gatepass_server.revocation_endpoint
    assert meta["jwks_uri"] == gatepass_server.jwks_uri
    assert meta["grant_types_supported"] == [
        "client_credentials", "authorization_code", "refresh_token"]
    assert meta["authorization_endpoint"] == gatepass_server.base_url + "/oauth/authorize"
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert set(meta["revocation_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]
    assert "none" not in meta["token_endpoint_auth_signing_alg_values_supported"]


def test_rfc8414_2_authlib_full_validate(gatepass_server: GatepassServer) -> None:
    _metadata(gatepass_server, WELL_KNOWN[0]).validate()
