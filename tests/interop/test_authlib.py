"""Authlib as the client: RFC 6749 §2.3.1 secrets, RFC 7523 ``private_key_jwt``, RFC 7662
introspection and RFC 7009 revocation against a live server.

Authlib's requests integration is the main client here. Its httpx integration warns on import
(Authlib 1.9 wants the ``httpx2`` package and deprecates plain httpx), so that import is made
under a filter for exactly that warning.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import jwt
import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

from .conftest import GatepassServer, KeyClient, decode_access_token

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

pytestmark = pytest.mark.slow

ASSERTION_LIFETIME = 120  # below assertion_max_lifetime (3600 s by default)


class BoundedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's ``PrivateKeyJWT`` with a 120 s assertion instead of Authlib's 3600 s default.

    Only ``expires_in`` differs; Authlib's own ``private_key_jwt_sign`` builds the assertion.
    """

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(private_key_jwt_sign(
            auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
            alg=self.alg, header=self.headers, expires_in=ASSERTION_LIFETIME,
        ))


def _assert_token_response(token: dict[str, Any], scope: str) -> None:
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == scope
    assert 0 < token["expires_in"] <= 3600
    assert "refresh_token" not in token  # RFC 6749 §4.4.3


def test_rfc6749_2_3_1_client_secret_basic_authlib_requests(
    gatepass_server: GatepassServer, secret_client: dict[str, Any], jwks_client: jwt.PyJWKClient
) -> None:
    with OAuth2Session(secret_client["client_id"], secret_client["client_secret"],
                       token_endpoint_auth_method="client_secret_basic",
                       scope="read:projects") as sess:
        token = sess.fetch_token(gatepass_server.token_endpoint, grant_type="client_credentials")
    _assert_token_response(token, "read:projects")
    claims = decode_access_token(token["access_token"], gatepass_server, jwks_client)
    assert claims["sub"] == claims["client_id"] == secret_client["client_id"]
    assert claims["scope"] == "read:projects"


def test_rfc6749_2_3_1_client_secret_post_authlib_httpx(
    gatepass_server: GatepassServer, secret_client: dict[str, Any], jwks_client: jwt.PyJWKClient
) -> None:
    with OAuth2Client(secret_client["client_id"], secret_client["client_secret"],
                      token_endpoint_auth_method="client_secret_post") as client:
        token = client.fetch_token(gatepass_server.token_endpoint,
                                   grant_type="client_credentials",
                                   scope="read:projects write:projects")
    _assert_token_response(token, "read:projects write:projects")
    claims = decode_access_token(token["access_token"], gatepass_server, jwks_client)
    assert claims["client_id"] == secret_client["client_id"]


def test_rfc7523_2_2_private_key_jwt_authlib_httpx(
    gatepass_server: GatepassServer, key_client: KeyClient, jwks_client: jwt.PyJWKClient
) -> None:
    auth = BoundedPrivateKeyJWT(alg=key_client.alg)  # aud = the token endpoint URL
    with OAuth2Client(key_client.client_id, key_client.key,
                      token_endpoint_auth_method=auth) as client:
        token = client.fetch_token(gatepass_server.token_endpoint,
                                   grant_type="client_credentials")
    _assert_token_response(token, "read:projects")
    claims = decode_access_token(token["access_token"], gatepass_server, jwks_client)
    assert claims["client_id"] == key_client.client_id


def test_rfc7523_3_private_key_jwt_aud_issuer_authlib_requests(
    gatepass_server: GatepassServer, key_client: KeyClient, jwks_client: jwt.PyJWKClient
) -> None:
    """``aud`` = the issuer identifier (what RFC 7523bis recommends) works as well."""
    auth = BoundedPrivateKeyJWT(token_endpoint=gatepass_server.issuer, alg=key_client.alg)
    with OAuth2Session(key_client.client_id, key_client.key,
                       token_endpoint_auth_method=auth) as sess:
        token = sess.fetch_token(gatepass_server.token_endpoint, grant_type="client_credentials")
    claims = decode_access_token(token["access_token"], gatepass_server, jwks_client)
    assert claims["sub"] == key_client.client_id


def test_rfc7523_private_key_jwt_authlib_default_lifetime(
    gatepass_server: GatepassServer, key_client: KeyClient
) -> None:
    with OAuth2Session(key_client.client_id, key_client.key,
                       token_endpoint_auth_method=PrivateKeyJWT(alg=key_client.alg)) as sess:
        token = sess.fetch_token(gatepass_server.token_endpoint, grant_type="client_credentials")
    assert token["access_token"]


def test_rfc7662_rfc7009_introspect_revoke_authlib(
    gatepass_server: GatepassServer, secret_client: dict[str, Any]
) -> None:
    with OAuth2Session(secret_client["client_id"], secret_client["client_secret"]) as sess:
        token = sess.fetch_token(gatepass_server.token_endpoint, grant_type="client_credentials",
                                 scope="read:analytics")
        access = token["access_token"]

        active = sess.introspect_token(gatepass_server.introspection_endpoint, token=access)
        assert active.status_code == 200
        body = active.json()
        assert body["active"] is True
        assert body["client_id"] == secret_client["client_id"]
        assert body["scope"] == "read:analytics"
        assert body["token_type"] == "Bearer"
        assert body["exp"] > time.time()

        revoked = sess.revoke_token(gatepass_server.revocation_endpoint, token=access,
                                    token_type_hint="access_token")
        assert revoked.status_code == 200

        after = sess.introspect_token(gatepass_server.introspection_endpoint, token=access)
        assert after.status_code == 200
        assert after.json() == {"active": False}

        # RFC 7009 §2.2: revoking an unknown or already revoked token is still a 200.
        again = sess.revoke_token(gatepass_server.revocation_endpoint, token=access)
        assert again.status_code == 200
        garbage = sess.revoke_token(gatepass_server.revocation_endpoint, token="not-a-token")
        assert garbage.status_code == 200


def test_rfc7662_introspect_private_key_jwt_authlib_httpx(
    gatepass_server: GatepassServer, key_client: KeyClient
) -> None:
    """A key-based client introspects its own token; its assertion names the token endpoint."""
    auth = BoundedPrivateKeyJWT(token_endpoint=gatepass_server.token_endpoint, alg=key_client.alg)
    with OAuth2Client(key_client.client_id, key_client.key,
                      token_endpoint_auth_method=auth) as client:
        token = client.fetch_token(gatepass_server.token_endpoint,
                                   grant_type="client_credentials")
        resp = client.introspect_token(gatepass_server.introspection_endpoint,
                                       token=token["access_token"])
    assert resp.status_code == 200
    assert resp.json()["active"] is True
    assert resp.json()["client_id"] == key_client.client_id


def test_rfc7662_introspect_private_key_jwt_aud_endpoint_authlib_is_refused(
    gatepass_server: GatepassServer, key_client: KeyClient
) -> None:
    """Authlib without a fixed ``token_endpoint`` puts the URL of the endpoint it calls in
    ``aud``; at ``/oauth/introspect`` that is not an accepted audience (issue 13, item 6: the
    issuer or the token endpoint only). Fixing ``token_endpoint`` (the test above) works."""
    with OAuth2Session(key_client.client_id, key_client.key,
                       token_endpoint_auth_method=BoundedPrivateKeyJWT(alg=key_client.alg)) as sess:
        token = sess.fetch_token(gatepass_server.token_endpoint, grant_type="client_credentials")
        resp = sess.introspect_token(gatepass_server.introspection_endpoint,
                                     token=token["access_token"])
    assert resp.status_code == 401, resp.text
    assert resp.json() == {
        "error": "invalid_client",
        "error_description": "client_assertion aud must be the issuer or the token endpoint"}
