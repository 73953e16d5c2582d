"""requests-oauthlib as the client: ``BackendApplicationClient`` (RFC 6749 §4.4) + ``fetch_token``.

oauthlib refuses plain http unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set; the test server
listens on loopback http, so the tests set it (as oauthlib's documentation says for local use).
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from .conftest import GatepassServer, decode_access_token

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.mark.parametrize("include_client_id", [False, True], ids=["basic", "post"])
def test_rfc6749_4_4_backend_application_client(
    gatepass_server: GatepassServer,
    secret_client: dict[str, Any],
    jwks_client: jwt.PyJWKClient,
    include_client_id: bool,
) -> None:
    """``include_client_id=False`` sends HTTP Basic; ``True`` puts the credentials in the body."""
    # The scope goes on the oauthlib client: OAuth2Session(scope=...) is not sent by fetch_token.
    client = BackendApplicationClient(client_id=secret_client["client_id"],
                                      scope=["read:projects", "read:analytics"])
    with OAuth2Session(client=client) as sess:
        token = sess.fetch_token(
            token_url=gatepass_server.token_endpoint,
            client_id=secret_client["client_id"],
            client_secret=secret_client["client_secret"],
            include_client_id=include_client_id,
        )
    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["read:projects", "read:analytics"]  # oauthlib splits it
    assert token["expires_in"] == 3600
    claims = decode_access_token(token["access_token"], gatepass_server, jwks_client)
    assert claims["client_id"] == secret_client["client_id"]
    assert claims["scope"] == "read:projects read:analytics"


def test_rfc6749_5_2_wrong_secret_backend_application_client(
    gatepass_server: GatepassServer, secret_client: dict[str, Any]
) -> None:
    """oauthlib turns our RFC 6749 §5.2 error body into its ``InvalidClientError``."""
    from oauthlib.oauth2.rfc6749.errors import InvalidClientError

    client = BackendApplicationClient(client_id=secret_client["client_id"])
    with OAuth2Session(client=client) as sess, pytest.raises(InvalidClientError) as err:
        sess.fetch_token(token_url=gatepass_server.token_endpoint,
                         client_id=secret_client["client_id"], client_secret="gps_wrong")
    assert err.value.status_code == 401
