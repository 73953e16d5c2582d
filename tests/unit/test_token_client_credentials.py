"""RFC 6749 §4.4 client credentials, §2.3.1 secrets, §3.3 scopes, RFC 8707 resources, RFC 9068."""

from __future__ import annotations

import base64
from dataclasses import replace
from urllib.parse import quote

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError
from gatepass.models import Client, ClientSecret

from .conftest import API, ISSUER, Harness, assert_oauth_error, basic, unverified_parts

AUTH_FAILED = "Client authentication failed"
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="gatepass"'}


def pct_all(text: str) -> str:
    """Percent-encode every byte, even unreserved ones."""
    return "".join(f"%{b:02X}" for b in text.encode())


async def refused(h: Harness, request: OAuthRequest) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        await h.token(request)
    return info.value


# --- RFC 6749 §4.4.2 / §5.1: the success response -------------------------------------------


async def test_rfc6749_s4_4_2_basic_client_gets_bearer_token(h: Harness) -> None:
    cid, secret = await h.secret_client()
    body = await h.token(h.basic_request(cid, secret, scope="read:projects"))
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read:projects"


async def test_rfc6749_s4_4_3_no_refresh_token_is_issued(h: Harness) -> None:
    cid, secret = await h.secret_client()
    body = await h.token(h.basic_request(cid, secret))
    assert "refresh_token" not in body


async def test_rfc6749_s2_3_1_client_secret_post_gets_token(h: Harness) -> None:
    cid, secret = await h.secret_client()
    req = OAuthRequest(form={"grant_type": "client_credentials", "client_id": cid,
                             "client_secret": secret})
    body = await h.token(req)
    assert body["token_type"] == "Bearer"


async def test_rfc6749_s2_3_1_basic_credentials_are_percent_decoded(h: Harness) -> None:
    cid, secret = await h.secret_client()
    header = "Basic " + base64.b64encode(f"{pct_all(cid)}:{pct_all(secret)}".encode()).decode()
    req = OAuthRequest(form={"grant_type": "client_credentials"}, authorization=header)
    assert (await h.token(req))["token_type"] == "Bearer"


async def test_rfc6749_s2_3_1_basic_credentials_use_form_encoding_plus_is_space(
    h: Harness,
) -> None:
    """Appendix B form encoding: a space is sent as '+', and ':' inside an id as %3A."""
    now = h.clock.now()
    odd_id = "team a:svc"
    secret = "gps_" + "s" * 43
    await h.rt.stores.clients.create_client(
        Client(client_id=odd_id, name="odd", created_at=now, allowed_scopes=("read:projects",)),
        [ClientSecret("s1", odd_id, h.server.hasher.digest(secret), now)],
    )
    encoded_id = quote(odd_id, safe="").replace("%20", "+")
    header = "Basic " + base64.b64encode(f"{encoded_id}:{secret}".encode()).decode()
    req = OAuthRequest(form={"grant_type": "client_credentials"}, authorization=header)
    assert (await h.token(req))["scope"] == "read:projects"


async def test_rfc6749_s3_2_1_basic_scheme_is_case_insensitive(h: Harness) -> None:
    cid, secret = await h.secret_client()
    header = basic(cid, secret).replace("Basic", "bAsIc")
    req = OAuthRequest(form={"grant_type": "client_credentials"}, authorization=header)
    assert (await h.token(req))["token_type"] == "Bearer"


# --- RFC 6749 §5.2 / §2.3: client authentication failures ------------------------------------


async def test_rfc6749_s5_2_wrong_secret_is_401_invalid_client_with_challenge(h: Harness) -> None:
    cid, secret = await h.secret_client()
    exc = await refused(h, h.basic_request(cid, secret + "x"))
    assert_oauth_error(exc, "invalid_client", 401, AUTH_FAILED)
    assert exc.headers == BASIC_CHALLENGE


async def test_rfc6749_s5_2_wrong_secret_via_post_is_invalid_client(h: Harness) -> None:
    cid, _ = await h.secret_client()
    req = OAuthRequest(form={"grant_type": "client_credentials", "client_id": cid,
                             "client_secret": "gps_wrong"})
    assert_oauth_error(await refused(h, req), "invalid_client", 401, AUTH_FAILED)


async def test_rfc6749_s5_2_unknown_client_looks_like_wrong_secret(h: Harness) -> None:
    exc = await refused(h, h.basic_request("client_nobody", "gps_whatever"))
    assert_oauth_error(exc, "invalid_client", 401, AUTH_FAILED)
    assert exc.headers == BASIC_CHALLENGE


async def test_rfc6749_s5_2_unknown_client_spends_a_digest(h: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    real = h.server.hasher.digest
    monkeypatch.setattr(h.server.hasher, "digest", lambda s: calls.append(s) or real(s))
    await refused(h, h.basic_request("client_nobody", "gps_whatever"))
    assert len(calls) == 1  # burn(): same work as a real check, against timing probes


async def test_rfc6749_s5_2_disabled_client_is_refused_and_enabled_again(h: Harness) -> None:
    cid, secret = await h.secret_client()
    await h.admin.set_status(cid, "disabled")
    exc = await refused(h, h.basic_request(cid, secret))
    assert_oauth_error(exc, "invalid_client", 401, "Client is disabled")
    await h.admin.set_status(cid, "active")
    assert (await h.token(h.basic_request(cid, secret)))["token_type"] == "Bearer"


async def test_rfc6749_s5_2_disabled_client_status_not_told_to_wrong_secret(h: Harness) -> None:
    cid, secret = await h.secret_client()
    await h.admin.set_status(cid, "suspended")
    exc = await refused(h, h.basic_request(cid, secret + "x"))
    assert_oauth_error(exc, "invalid_client", 401, AUTH_FAILED)


async def test_rfc6749_s5_2_expired_secret_is_refused(h: Harness) -> None:
    cid, secret = await h.secret_client()
    [stored] = await h.rt.stores.clients.list_secrets(cid)
    await h.rt.stores.clients.expire_secret(stored.secret_id, h.clock.now() + 10)
    h.server.directory.invalidate(cid)
    assert (await h.token(h.basic_request(cid, secret)))["token_type"] == "Bearer"
    h.clock.advance(10)
    exc = await refused(h, h.basic_request(cid, secret))
    assert_oauth_error(exc, "invalid_client", 401, AUTH_FAILED)


async def test_rfc6749_s2_3_1_rotated_secret_old_valid_during_grace_new_valid(h: Harness) -> None:
    cid, old = await h.secret_client()
    new, stored = await h.admin.rotate_secret(cid, grace_seconds=600)
    assert new != old and new.startswith("gps_")
    assert len(stored) == 2
    assert (await h.token(h.basic_request(cid, old)))["token_type"] == "Bearer"
    assert (await h.token(h.basic_request(cid, new)))["token_type"] == "Bearer"
    h.clock.advance(601)
    assert_oauth_error(await refused(h, h.basic_request(cid, old)), "invalid_client", 401)
    assert (await h.token(h.basic_request(cid, new)))["token_type"] == "Bearer"


async def test_rfc6749_s2_3_1_second_rotation_does_not_extend_first_grace(h: Harness) -> None:
    cid, first = await h.secret_client()
    await h.admin.rotate_secret(cid, grace_seconds=100)
    h.clock.advance(50)
    third, _ = await h.admin.rotate_secret(cid, grace_seconds=1000)
    h.clock.advance(51)
    assert_oauth_error(await refused(h, h.basic_request(cid, first)), "invalid_client", 401)
    assert (await h.token(h.basic_request(cid, third)))["token_type"] == "Bearer"


async def test_rfc6749_s2_3_no_client_authentication_is_401(h: Harness) -> None:
    cid, _ = await h.secret_client()
    req = OAuthRequest(form={"grant_type": "client_credentials", "client_id": cid})
    exc = await refused(h, req)
    assert_oauth_error(exc, "invalid_client", 401)
    assert exc.headers == BASIC_CHALLENGE


async def test_rfc6749_s2_3_two_auth_methods_basic_and_post_is_invalid_request(h: Harness) -> None:
    cid, secret = await h.secret_client()
    req = h.basic_request(cid, secret, client_id=cid, client_secret=secret)
    exc = await refused(h, req)
    assert_oauth_error(
        exc, "invalid_request", 400,
        "More than one client authentication method used: client_secret_basic, "
        "client_secret_post (RFC 6749 §2.3 allows one)",
    )
    assert exc.headers == {}


async def test_rfc6749_s2_3_two_auth_methods_basic_and_assertion_is_invalid_request(
    h: Harness,
) -> None:
    cid, key = await h.jwt_client()
    req = h.jwt_request(h.assertion(cid, key))
    req = replace(req, authorization=basic(cid, "gps_x"))
    assert_oauth_error(await refused(h, req), "invalid_request", 400)


async def test_rfc6749_s2_3_two_auth_methods_post_and_assertion_is_invalid_request(
    h: Harness,
) -> None:
    cid, key = await h.jwt_client()
    req = h.jwt_request(h.assertion(cid, key), client_secret="gps_x")
    assert_oauth_error(await refused(h, req), "invalid_request", 400)


async def test_rfc6749_s2_3_1_malformed_basic_header_is_invalid_request(h: Harness) -> None:
    for header in ("Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(),
                   "Basic " + base64.b64encode(b"\xff\xfe:x").decode()):
        req = OAuthRequest(form={"grant_type": "client_credentials"}, authorization=header)
        assert_oauth_error(await refused(h, req), "invalid_request", 400)


async def test_rfc6749_s2_3_1_basic_and_different_body_client_id_is_invalid_request(
    h: Harness,
) -> None:
    cid, secret = await h.secret_client()
    exc = await refused(h, h.basic_request(cid, secret, client_id="client_other"))
    assert_oauth_error(exc, "invalid_request", 400,
                       "client_id in the body differs from the one in the Basic header")
    same = await h.token(h.basic_request(cid, secret, client_id=cid))
    assert same["token_type"] == "Bearer"


async def test_rfc6749_s2_3_1_post_without_client_id_is_invalid_client(h: Harness) -> None:
    req = OAuthRequest(form={"grant_type": "client_credentials", "client_secret": "gps_x"})
    assert_oauth_error(await refused(h, req), "invalid_client", 401,
                       "client_secret_post needs both client_id and client_secret")


async def test_rfc6749_s2_3_key_client_cannot_use_a_secret(h: Harness) -> None:
    cid, _ = await h.jwt_client()
    exc = await refused(h, h.basic_request(cid, "gps_" + "A" * 43))
    assert_oauth_error(exc, "invalid_client", 401, AUTH_FAILED)


async def test_rfc6749_s2_3_bearer_authorization_header_is_not_client_auth(h: Harness) -> None:
    req = OAuthRequest(form={"grant_type": "client_credentials"}, authorization="Bearer abc")
    assert_oauth_error(await refused(h, req), "invalid_client", 401)


# --- RFC 6749 §5.2: grant_type ---------------------------------------------------------------


async def test_rfc6749_s4_4_2_missing_grant_type_is_invalid_request(h: Harness) -> None:
    cid, secret = await h.secret_client()
    req = OAuthRequest(form={}, authorization=basic(cid, secret))
    assert_oauth_error(await refused(h, req), "invalid_request", 400, "grant_type is required")


async def test_rfc6749_s5_2_unknown_grant_type_is_unsupported_grant_type(h: Harness) -> None:
    cid, secret = await h.secret_client()
    exc = await refused(h, h.basic_request(cid, secret, grant_type="password"))
    supported = ", ".join(h.server.grants)
    assert supported.startswith("client_credentials")
    assert_oauth_error(exc, "unsupported_grant_type", 400,
                       f"Unsupported grant_type 'password'; supported: {supported}")


async def test_rfc6749_s5_2_client_authenticates_before_grant_type_is_judged(h: Harness) -> None:
    cid, _ = await h.secret_client()
    req = OAuthRequest(form={"grant_type": "password"}, authorization=basic(cid, "gps_bad"))
    assert_oauth_error(await refused(h, req), "invalid_client", 401)


async def test_rfc6749_s5_2_client_without_the_grant_is_unauthorized_client(h: Harness) -> None:
    cid, secret = await h.secret_client(grant_types=())
    exc = await refused(h, h.basic_request(cid, secret))
    assert_oauth_error(exc, "unauthorized_client", 400,
                       "This client may not use the client_credentials grant")


# --- RFC 6749 §3.3: scope --------------------------------------------------------------------


async def test_rfc6749_s3_3_requested_scopes_within_allowed_are_granted(h: Harness) -> None:
    cid, secret = await h.secret_client("read:projects write:projects read:analytics")
    body = await h.token(h.basic_request(cid, secret, scope="write:projects read:projects"))
    assert body["scope"] == "write:projects read:projects"
    claims = unverified_parts(body["access_token"])[1]
    assert claims["scope"] == "write:projects read:projects"


async def test_rfc6749_s3_3_repeated_scope_token_is_granted_once(h: Harness) -> None:
    cid, secret = await h.secret_client()
    body = await h.token(h.basic_request(cid, secret, scope="read:projects  read:projects"))
    assert body["scope"] == "read:projects"


async def test_rfc6749_s3_3_no_scope_requested_gets_default_scopes(h: Harness) -> None:
    cid, secret = await h.secret_client("read:projects write:projects",
                                        default_scopes=("read:projects",))
    body = await h.token(h.basic_request(cid, secret))
    assert body["scope"] == "read:projects"


async def test_rfc6749_s3_3_no_default_scopes_means_all_allowed(h: Harness) -> None:
    cid, secret = await h.secret_client("read:projects write:projects")
    body = await h.token(h.basic_request(cid, secret, scope=""))
    assert body["scope"] == "read:projects write:projects"


async def test_rfc6749_s5_1_scope_is_always_in_the_response(h: Harness) -> None:
    cid, secret = await h.secret_client("")
    body = await h.token(h.basic_request(cid, secret))
    assert body["scope"] == ""


async def test_rfc6749_s3_3_unknown_scope_is_invalid_scope_naming_it(h: Harness) -> None:
    cid, secret = await h.secret_client()
    exc = await refused(h, h.basic_request(cid, secret, scope="read:projects read:secrets"))
    assert_oauth_error(exc, "invalid_scope", 400, "Unknown scope: read:secrets",
                       unknown_scopes=["read:secrets"])


async def test_rfc6749_s3_3_not_allowed_scope_is_invalid_scope_naming_it(h: Harness) -> None:
    cid, secret = await h.secret_client("read:projects")
    exc = await refused(h, h.basic_request(cid, secret, scope="read:projects write:projects"))
    assert_oauth_error(exc, "invalid_scope", 400,
                       "Scope not allowed for this client: write:projects",
                       denied_scopes=["write:projects"], allowed_scopes=["read:projects"])


async def test_rfc6749_s3_3_malformed_scope_token_is_invalid_scope(h: Harness) -> None:
    cid, secret = await h.secret_client()
    exc = await refused(h, h.basic_request(cid, secret, scope='read:"projects"'))
    assert_oauth_error(exc, "invalid_scope", 400, "Malformed scope token: 'read:\"projects\"'")


# --- RFC 8707 §2: resource -> aud ------------------------------------------------------------


async def _claims(h: Harness, resources: tuple[str, ...] = (), **fields: object) -> dict:  # type: ignore[type-arg]
    cid, secret = await h.secret_client(**fields)
    req = replace(h.basic_request(cid, secret), resources=resources)
    return unverified_parts((await h.token(req))["access_token"])[1]


async def test_rfc8707_s2_no_resource_audience_is_the_issuer(h: Harness) -> None:
    assert (await _claims(h))["aud"] == ISSUER


async def test_rfc8707_s2_resource_becomes_aud(h: Harness) -> None:
    assert (await _claims(h, (API,)))["aud"] == API


async def test_rfc8707_s2_two_resources_become_an_aud_list(h: Harness) -> None:
    assert (await _claims(h, (API, ISSUER, API)))["aud"] == [API, ISSUER]


async def test_rfc8707_s2_unknown_resource_is_invalid_target(h: Harness) -> None:
    cid, secret = await h.secret_client()
    req = replace(h.basic_request(cid, secret), resources=("https://evil.example",))
    assert_oauth_error(await refused(h, req), "invalid_target", 400,
                       "Resource not allowed for this client: https://evil.example")


@pytest.mark.parametrize("bad", ["", "/relative", "api.example.com", API + "#frag"])
async def test_rfc8707_s2_resource_must_be_absolute_without_fragment(h: Harness, bad: str) -> None:
    cid, secret = await h.secret_client()
    req = replace(h.basic_request(cid, secret), resources=(bad,))
    assert_oauth_error(await refused(h, req), "invalid_target", 400,
                       f"resource must be an absolute URI without a fragment: {bad!r}")


async def test_rfc8707_s2_client_allowed_resources_narrow_the_targets(h: Harness) -> None:
    other = "https://other.example.com"
    cid, secret = await h.secret_client(resources=[other])
    ok = replace(h.basic_request(cid, secret), resources=(other,))
    assert unverified_parts((await h.token(ok))["access_token"])[1]["aud"] == other
    no = replace(h.basic_request(cid, secret), resources=(API,))
    assert_oauth_error(await refused(h, no), "invalid_target", 400)


async def test_rfc8707_s2_default_audience_setting(tmp_path, clock, stores, fetcher) -> None:  # type: ignore[no-untyped-def]
    from gatepass.runtime import open_runtime

    from .conftest import make_settings

    rt = await open_runtime(make_settings(tmp_path, default_audience=API), clock=clock,
                            stores=stores, fetch_jwks=fetcher)
    try:
        hh = Harness(rt, clock, fetcher, [])
        cid, secret = await hh.secret_client()
        claims = unverified_parts(await hh.token_for(cid, secret))[1]
        assert claims["aud"] == API
    finally:
        await rt.close()


# --- RFC 9068: the JWT access token ----------------------------------------------------------


async def test_rfc9068_s2_1_header_is_at_jwt_with_kid(h: Harness) -> None:
    cid, secret = await h.secret_client()
    header, _ = unverified_parts(await h.token_for(cid, secret))
    assert header == {"typ": "at+jwt", "alg": "ES256", "kid": h.server.keyring.kid}


async def test_rfc9068_s2_2_claims(h: Harness) -> None:
    cid, secret = await h.secret_client()
    now = int(h.clock.now())
    token = await h.token_for(cid, secret, scope="read:projects")
    verified = jwt.decode(token, KeySet.import_key_set(h.server.keyring.jwks()),  # type: ignore[arg-type]
                          algorithms=["ES256"])
    claims = dict(verified.claims)
    jti = claims.pop("jti")
    assert isinstance(jti, str) and len(jti) >= 16
    assert claims == {"iss": ISSUER, "sub": cid, "aud": ISSUER, "exp": now + 3600, "iat": now,
                      "client_id": cid, "scope": "read:projects"}


async def test_rfc9068_s2_2_jti_is_unique_per_token(h: Harness) -> None:
    cid, secret = await h.secret_client()
    jtis = {unverified_parts(await h.token_for(cid, secret))[1]["jti"] for _ in range(20)}
    assert len(jtis) == 20


async def test_rfc9068_s2_2_agent_claims_present_when_set(h: Harness) -> None:
    cid, secret = await h.secret_client(agent_type="autonomous", owner="owner-1",
                                        tier="agent_standard")
    claims = unverified_parts(await h.token_for(cid, secret))[1]
    assert (claims["agent_type"], claims["owner"], claims["tier"]) == (
        "autonomous", "owner-1", "agent_standard")


async def test_rfc9068_s2_2_agent_claims_absent_when_unset(h: Harness) -> None:
    cid, secret = await h.secret_client()
    claims = unverified_parts(await h.token_for(cid, secret))[1]
    assert not {"agent_type", "owner", "tier"} & set(claims)


async def test_rfc9068_s2_2_ttl_follows_settings(tmp_path, clock, stores, fetcher) -> None:  # type: ignore[no-untyped-def]
    from gatepass.runtime import open_runtime

    from .conftest import make_settings

    rt = await open_runtime(make_settings(tmp_path, access_token_ttl=120), clock=clock,
                            stores=stores, fetch_jwks=fetcher)
    try:
        hh = Harness(rt, clock, fetcher, [])
        cid, secret = await hh.secret_client()
        body = await hh.token(hh.basic_request(cid, secret))
        claims = unverified_parts(body["access_token"])[1]
        assert body["expires_in"] == 120 == claims["exp"] - claims["iat"]
    finally:
        await rt.close()


@pytest.mark.parametrize("alg", ["RS256", "Ed25519"])
async def test_rfc9068_s2_1_other_signing_algorithms(tmp_path, clock, stores, fetcher,  # type: ignore[no-untyped-def]
                                                     alg: str) -> None:
    from gatepass.runtime import open_runtime

    from .conftest import make_settings

    rt = await open_runtime(make_settings(tmp_path, signing_alg=alg), clock=clock,
                            stores=stores, fetch_jwks=fetcher)
    try:
        hh = Harness(rt, clock, fetcher, [])
        cid, secret = await hh.secret_client()
        token = await hh.token_for(cid, secret)
        assert unverified_parts(token)[0]["alg"] == alg
        keys = KeySet.import_key_set(rt.server.keyring.jwks())  # type: ignore[arg-type]
        assert jwt.decode(token, keys, algorithms=[alg]).claims["sub"] == cid
        assert rt.server.metadata()["access_token_signing_alg_values_supported"] == [alg]
    finally:
        await rt.close()


# --- RFC 6749 §4.4: client credentials is for confidential clients only ----------------------


async def test_rfc6749_s4_4_public_client_cannot_use_client_credentials(h: Harness) -> None:
    public = Client(client_id="public-app", name="spa", created_at=h.clock.now(),
                    allowed_scopes=("read:projects",), token_endpoint_auth_method="none",
                    grant_types=("client_credentials", "authorization_code"))
    await h.rt.stores.clients.create_client(public)
    req = OAuthRequest(form={"grant_type": "client_credentials", "client_id": "public-app"})
    exc = await refused(h, req)
    assert_oauth_error(exc, "invalid_client", 401)


async def test_rfc6749_s2_1_confidential_client_cannot_pose_as_public(h: Harness) -> None:
    cid, _ = await h.secret_client()
    for grant in ("client_credentials", "refresh_token", "authorization_code"):
        req = OAuthRequest(form={"grant_type": grant, "client_id": cid, "code": "x",
                                 "refresh_token": "x"})
        assert_oauth_error(await refused(h, req), "invalid_client", 401)


async def test_rfc6749_s3_3_default_scopes_never_exceed_allowed_scopes(h: Harness) -> None:
    """Defaults are a convenience, not a grant: narrowing allowed_scopes narrows them too."""
    cid, secret = await h.secret_client("read:projects write:projects",
                                        default_scopes=("read:projects", "write:projects"))
    client = await h.rt.stores.clients.get_client(cid)
    assert client is not None
    await h.rt.stores.clients.update_client(replace(client, allowed_scopes=("read:projects",)))
    h.server.directory.invalidate(cid)
    body = await h.token(h.basic_request(cid, secret))
    assert body["scope"] == "read:projects"
