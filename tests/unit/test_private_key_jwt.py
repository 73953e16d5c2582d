"""RFC 7523 §2.2 / §3 client assertions (``private_key_jwt``), on the memory store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from gatepass.core.client_auth.private_key_jwt import ASSERTION_TYPE
from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError
from gatepass.runtime import open_runtime

from .conftest import (
    ISSUER,
    TOKEN_ENDPOINT,
    ClientKey,
    Harness,
    assert_oauth_error,
    b64url,
    make_settings,
    unverified_parts,
)


async def refused(h: Harness, request: OAuthRequest) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        await h.token(request)
    return info.value


async def assert_refused(h: Harness, assertion: str, description: str | None = None,
                         **form: str) -> None:
    exc = await refused(h, h.jwt_request(assertion, **form))
    assert_oauth_error(exc, "invalid_client", 401, description)


def raw_jws(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                     b64url(signature)])


# --- success ---------------------------------------------------------------------------------


async def test_rfc7523_s2_2_valid_assertion_authenticates_the_client(h: Harness) -> None:
    cid, key = await h.jwt_client()
    body = await h.token(h.jwt_request(h.assertion(cid, key), scope="read:projects"))
    assert body["scope"] == "read:projects"
    assert unverified_parts(body["access_token"])[1]["client_id"] == cid


@pytest.mark.parametrize("aud", [ISSUER, TOKEN_ENDPOINT, [ISSUER], [ISSUER, TOKEN_ENDPOINT]])
async def test_rfc7523_s3_aud_may_be_issuer_or_token_endpoint(h: Harness, aud: Any) -> None:
    cid, key = await h.jwt_client()
    body = await h.token(h.jwt_request(h.assertion(cid, key, aud=aud)))
    assert body["token_type"] == "Bearer"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "Ed25519"])
async def test_rfc7523_s3_allowed_algorithms_are_accepted(h: Harness, alg: str) -> None:
    cid, key = await h.jwt_client(key=ClientKey(alg))
    assert (await h.token(h.jwt_request(h.assertion(cid, key))))["token_type"] == "Bearer"


async def test_rfc7523_s2_2_client_id_in_body_matching_iss_is_accepted(h: Harness) -> None:
    cid, key = await h.jwt_client()
    body = await h.token(h.jwt_request(h.assertion(cid, key), client_id=cid))
    assert body["token_type"] == "Bearer"


async def test_rfc7523_s3_assertion_without_kid_tries_registered_keys(h: Harness) -> None:
    first, second = ClientKey(), ClientKey()
    created = await h.admin.create_client(
        "two-keys", "read:projects", jwks={"keys": [first.public_jwk, second.public_jwk]})
    cid = created.client.client_id
    claims = h.assertion_claims(cid)
    token = jwt.encode({"alg": "ES256"}, claims, second.key, algorithms=["ES256"])
    assert (await h.token(h.jwt_request(token)))["token_type"] == "Bearer"


async def test_rfc7523_s3_keys_come_from_jwks_uri_through_the_fetcher(h: Harness) -> None:
    uri = "https://agent.example/jwks.json"
    cid, key = await h.jwt_client(jwks_uri=uri)
    assert (await h.token(h.jwt_request(h.assertion(cid, key))))["token_type"] == "Bearer"
    assert h.fetcher.calls == [uri]


async def test_rfc7523_s3_unreachable_jwks_uri_is_invalid_client(h: Harness) -> None:
    uri = "https://agent.example/jwks.json"
    cid, key = await h.jwt_client(jwks_uri=uri)
    del h.fetcher.documents[uri]
    await assert_refused(h, h.assertion(cid, key),
                         "Could not obtain the client's keys from its jwks_uri")


async def test_rfc7523_s3_jwks_uri_serving_other_keys_is_refused(h: Harness) -> None:
    uri = "https://agent.example/jwks.json"
    cid, key = await h.jwt_client(jwks_uri=uri)
    h.fetcher.documents[uri] = ClientKey().jwks
    await assert_refused(h, h.assertion(cid, key),
                         "client_assertion rejected: signature does not verify with any "
                         "registered key")
    assert h.fetcher.refreshes == [uri]  # asked once more for newer keys, then refused


async def test_rfc7523_s3_a_rotated_key_is_found_by_fetching_the_jwks_uri_again(
        h: Harness) -> None:
    uri = "https://agent.example/jwks.json"
    cid, old = await h.jwt_client(jwks_uri=uri)
    new = ClientKey()
    h.fetcher.rotated[uri] = new.jwks  # the client published its new key since the last fetch
    assert (await h.token(h.jwt_request(h.assertion(cid, new))))["token_type"] == "Bearer"
    assert h.fetcher.calls == [uri, uri] and h.fetcher.refreshes == [uri]
    assert (await h.token(h.jwt_request(h.assertion(cid, old))))["token_type"] == "Bearer"
    assert h.fetcher.refreshes == [uri]  # the cached document still verifies the old key


async def test_rfc7523_s3_refresh_failing_keeps_the_first_answer(h: Harness) -> None:
    uri = "https://agent.example/jwks.json"
    cid, _ = await h.jwt_client(jwks_uri=uri)
    h.fetcher.documents[uri] = ClientKey().jwks
    h.fetcher.refresh_fails = True
    await assert_refused(h, h.assertion(cid, ClientKey()),
                         "client_assertion rejected: signature does not verify with any "
                         "registered key")
    assert h.fetcher.refreshes == [uri]


async def test_rfc7523_s3_an_assertion_refused_for_its_form_fetches_nothing_more(
        h: Harness) -> None:
    uri = "https://agent.example/jwks.json"
    cid, _ = await h.jwt_client(jwks_uri=uri)
    forged = jwt.encode({"alg": "HS256"}, h.assertion_claims(cid), OctKey.import_key(b"k" * 32),
                        algorithms=["HS256"])
    await assert_refused(h, forged, "client_assertion rejected: algorithm 'HS256' not allowed")
    assert h.fetcher.refreshes == []


# --- RFC 7523 §3: iss, sub, aud --------------------------------------------------------------


async def test_rfc7523_s3_sub_must_equal_iss(h: Harness) -> None:
    cid, key = await h.jwt_client()
    await assert_refused(h, h.assertion(cid, key, sub="someone-else"),
                         "client_assertion iss and sub must both be the client_id")


async def test_rfc7523_s3_missing_sub_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    claims = h.assertion_claims(cid)
    del claims["sub"]
    await assert_refused(h, key.sign(claims),
                         "client_assertion iss and sub must both be the client_id")


async def test_rfc7523_s3_missing_iss_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    claims = h.assertion_claims(cid)
    del claims["iss"]
    await assert_refused(h, key.sign(claims), "client_assertion is not a JWT with an iss")


@pytest.mark.parametrize("aud", ["https://evil.example/oauth/token", ISSUER + "/", [], 42,
                                 ISSUER + "/oauth/authorize", ISSUER + "/oauth/introspect",
                                 ISSUER + "/oauth/revoke", ["https://other.example", ISSUER],
                                 [ISSUER, 42]])
async def test_rfc7523_s3_wrongly_addressed_assertion_is_refused(h: Harness, aud: Any) -> None:
    cid, key = await h.jwt_client()
    await assert_refused(h, h.assertion(cid, key, aud=aud),
                         "client_assertion aud must be the issuer or the token endpoint")


async def test_rfc7523_s3_missing_aud_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    await assert_refused(h, h.assertion(cid, key, aud=None),
                         "client_assertion aud must be the issuer or the token endpoint")


async def test_rfc7523_s2_2_client_id_in_body_must_match_iss(h: Harness) -> None:
    cid, key = await h.jwt_client()
    other, _ = await h.jwt_client()
    await assert_refused(h, h.assertion(cid, key), "client_id differs from the assertion's iss/sub",
                         client_id=other)


# --- RFC 7523 §3: exp, nbf, jti --------------------------------------------------------------


async def test_rfc7523_s3_exp_is_required(h: Harness) -> None:
    cid, key = await h.jwt_client()
    await assert_refused(h, h.assertion(cid, key, exp=None), "client_assertion has no exp")


@pytest.mark.parametrize("exp", ["1800000060", True])
async def test_rfc7523_s3_exp_must_be_a_number(h: Harness, exp: Any) -> None:
    cid, key = await h.jwt_client()
    await assert_refused(h, h.assertion(cid, key, exp=exp), "client_assertion has no exp")


async def test_rfc7523_s3_expired_assertion_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    now = int(h.clock.now())
    await assert_refused(h, h.assertion(cid, key, exp=now - 31), "client_assertion has expired")


async def test_rfc7523_s3_exp_within_clock_skew_leeway_is_accepted(h: Harness) -> None:
    cid, key = await h.jwt_client()
    now = int(h.clock.now())
    body = await h.token(h.jwt_request(h.assertion(cid, key, exp=now - 29)))
    assert body["token_type"] == "Bearer"


async def test_rfc7523_s3_exp_is_bounded_by_assertion_max_lifetime(h: Harness) -> None:
    cid, key = await h.jwt_client()
    now = int(h.clock.now())
    await assert_refused(h, h.assertion(cid, key, exp=now + 3601),
                         "client_assertion exp is more than 3600s ahead")
    body = await h.token(h.jwt_request(h.assertion(cid, key, exp=now + 3600)))
    assert body["token_type"] == "Bearer"


async def test_rfc7523_s3_assertion_max_lifetime_follows_settings(tmp_path, clock, stores,  # type: ignore[no-untyped-def]
                                                                 fetcher) -> None:
    rt = await open_runtime(make_settings(tmp_path, assertion_max_lifetime=30), clock=clock,
                            stores=stores, fetch_jwks=fetcher)
    try:
        hh = Harness(rt, clock, fetcher, [])
        cid, key = await hh.jwt_client()
        now = int(clock.now())
        await assert_refused(hh, hh.assertion(cid, key, exp=now + 31),
                             "client_assertion exp is more than 30s ahead")
    finally:
        await rt.close()


@pytest.mark.parametrize("exp", ["NaN", "Infinity", "-Infinity"])
async def test_rfc7523_s3_non_finite_exp_is_refused(h: Harness, exp: str) -> None:
    """Python's JSON reads NaN/Infinity; a NaN exp compares false with everything."""
    cid, key = await h.jwt_client()
    claims = h.assertion_claims(cid, exp=float(exp))
    await assert_refused(h, key.sign(claims))
    # and it must not become a replayable assertion either
    await assert_refused(h, key.sign(claims))


async def test_rfc7523_s3_nbf_in_the_future_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    now = int(h.clock.now())
    await assert_refused(h, h.assertion(cid, key, nbf=now + 31),
                         "client_assertion is not yet valid (nbf)")
    ok = await h.token(h.jwt_request(h.assertion(cid, key, nbf=now + 29)))
    assert ok["token_type"] == "Bearer"


async def test_rfc7523_s3_jti_is_required(h: Harness) -> None:
    cid, key = await h.jwt_client()
    await assert_refused(h, h.assertion(cid, key, jti=None), "client_assertion has no jti")
    await assert_refused(h, h.assertion(cid, key, jti=""), "client_assertion has no jti")


async def test_rfc7523_s3_replayed_assertion_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    assertion = h.assertion(cid, key)
    assert (await h.token(h.jwt_request(assertion)))["token_type"] == "Bearer"
    await assert_refused(h, assertion, "client_assertion jti has already been used")
    # a replay with a fresh signature but the same jti is a replay too
    jti = unverified_parts(assertion)[1]["jti"]
    await assert_refused(h, h.assertion(cid, key, jti=jti),
                         "client_assertion jti has already been used")


async def test_rfc7523_s3_jti_stays_used_until_the_assertion_expires(h: Harness) -> None:
    cid, key = await h.jwt_client()
    now = int(h.clock.now())
    assertion = h.assertion(cid, key, exp=now + 60)
    await h.token(h.jwt_request(assertion))
    h.clock.advance(60 + 29)
    await assert_refused(h, assertion, "client_assertion jti has already been used")
    h.clock.advance(2)
    await assert_refused(h, assertion, "client_assertion has expired")


async def test_rfc7523_s3_jti_is_scoped_per_client(h: Harness) -> None:
    a, key_a = await h.jwt_client()
    b, key_b = await h.jwt_client()
    await h.token(h.jwt_request(h.assertion(a, key_a, jti="same")))
    assert (await h.token(h.jwt_request(h.assertion(b, key_b, jti="same"))))["scope"]


async def test_rfc7523_s3_refused_assertion_does_not_use_up_its_jti(h: Harness) -> None:
    cid, key = await h.jwt_client()
    await assert_refused(h, ClientKey().sign(h.assertion_claims(cid, jti="j1")))
    await assert_refused(h, h.assertion(cid, key, jti="j1", aud="https://elsewhere"))
    assert (await h.token(h.jwt_request(h.assertion(cid, key, jti="j1"))))["token_type"]


# --- RFC 7523 §3 / RFC 8725: signature and algorithm -----------------------------------------


async def test_rfc7523_s3_signature_by_unregistered_key_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    forged = ClientKey(kid=key.kid).sign(h.assertion_claims(cid))
    await assert_refused(h, forged, "client_assertion rejected: signature does not verify with "
                                    "any registered key")


async def test_rfc7523_s3_another_clients_key_is_refused(h: Harness) -> None:
    cid, _ = await h.jwt_client()
    _, other_key = await h.jwt_client()
    await assert_refused(h, other_key.sign(h.assertion_claims(cid)))


async def test_rfc7523_s3_tampered_claims_are_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    head, _, sig = h.assertion(cid, key).split(".")
    body = b64url(json.dumps(h.assertion_claims(cid, jti="other")).encode())
    await assert_refused(h, f"{head}.{body}.{sig}")


async def test_rfc8725_s3_1_alg_none_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    token = raw_jws({"alg": "none", "kid": key.kid}, h.assertion_claims(cid))
    await assert_refused(h, token, "client_assertion rejected: algorithm 'none' not allowed")


async def test_rfc8725_s3_1_hs256_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    # the classic confusion: HMAC keyed with the client's *public* key
    secret = OctKey.import_key(json.dumps(key.public_jwk).encode())
    token = jwt.encode({"alg": "HS256", "kid": key.kid}, h.assertion_claims(cid), secret,
                       algorithms=["HS256"])
    await assert_refused(h, token, "client_assertion rejected: algorithm 'HS256' not allowed")


async def test_rfc8725_s3_1_hs256_refused_even_if_configured_and_registered(
    tmp_path, clock, stores, fetcher  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(tmp_path, assertion_algorithms=["ES256", "HS256"])
    rt = await open_runtime(settings, clock=clock, stores=stores, fetch_jwks=fetcher)
    try:
        hh = Harness(rt, clock, fetcher, [])
        secret = OctKey.import_key(b"k" * 32, {"kid": "s"})
        created = await hh.admin.create_client(
            "sym", "read:projects", jwks={"keys": [secret.as_dict(private=True)]})
        cid = created.client.client_id
        token = jwt.encode({"alg": "HS256", "kid": "s"}, hh.assertion_claims(cid), secret,
                           algorithms=["HS256"])
        await assert_refused(hh, token)
    finally:
        await rt.close()


async def test_rfc8725_s3_1_algorithm_outside_the_allow_list_is_refused(
    tmp_path, clock, stores, fetcher  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(tmp_path, assertion_algorithms=["ES256"])
    rt = await open_runtime(settings, clock=clock, stores=stores, fetch_jwks=fetcher)
    try:
        hh = Harness(rt, clock, fetcher, [])
        cid, key = await hh.jwt_client(key=ClientKey("RS256"))
        await assert_refused(hh, hh.assertion(cid, key),
                             "client_assertion rejected: algorithm 'RS256' not allowed")
    finally:
        await rt.close()


async def test_rfc8725_s3_1_alg_must_fit_the_registered_key(h: Harness) -> None:
    cid, key = await h.jwt_client()  # an ES256 key
    rsa = ClientKey("RS256", kid=key.kid)
    await assert_refused(h, rsa.sign(h.assertion_claims(cid)))


async def test_rfc7515_s4_1_3_key_embedded_in_header_is_never_trusted(h: Harness) -> None:
    cid, key = await h.jwt_client()
    attacker = ClientKey(kid=key.kid)
    token = attacker.sign(h.assertion_claims(cid), header={"jwk": attacker.public_jwk})
    await assert_refused(h, token, "client_assertion rejected: key material in the JWS header "
                                   "is not accepted")


async def test_rfc7523_s3_kid_naming_no_registered_key_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    token = key.sign(h.assertion_claims(cid), header={"kid": "unknown"})
    await assert_refused(h, token)


# --- malformed requests ----------------------------------------------------------------------


async def test_rfc7523_s2_2_wrong_assertion_type_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    req = h.jwt_request(h.assertion(cid, key), client_assertion_type="urn:x")
    assert_oauth_error(await refused(h, req), "invalid_client", 401,
                       f"client_assertion_type must be {ASSERTION_TYPE}")


async def test_rfc7523_s2_2_assertion_type_without_assertion_is_refused(h: Harness) -> None:
    req = OAuthRequest(form={"grant_type": "client_credentials",
                             "client_assertion_type": ASSERTION_TYPE})
    assert_oauth_error(await refused(h, req), "invalid_client", 401,
                       "client_assertion is missing or too large")


async def test_rfc7523_s2_2_oversized_assertion_is_refused(h: Harness) -> None:
    await assert_refused(h, "a" * 8193, "client_assertion is missing or too large")


@pytest.mark.parametrize("junk", ["not-a-jwt", "a.!!!.c", "a." + b64url(b"\xff\xfe") + ".c"])
async def test_rfc7523_s2_2_assertion_that_is_not_a_jwt_is_refused(h: Harness, junk: str) -> None:
    await assert_refused(h, junk, "client_assertion is not a JWT with an iss")


async def test_rfc7523_s2_2_deeply_nested_assertion_payload_is_refused_not_500(
    h: Harness,
) -> None:
    junk = b64url(b'{"alg":"ES256"}') + "." + b64url(b"[" * 5000) + ".c"
    await assert_refused(h, junk, "client_assertion is not a JWT with an iss")


async def test_rfc7523_s3_unknown_client_is_refused(h: Harness) -> None:
    key = ClientKey()
    await assert_refused(h, key.sign(h.assertion_claims("client_nobody")),
                         "Client authentication failed")


async def test_rfc7523_s3_secret_client_cannot_use_an_assertion(h: Harness) -> None:
    cid, _ = await h.secret_client()
    await assert_refused(h, ClientKey().sign(h.assertion_claims(cid)),
                         "Client authentication failed")


async def test_rfc7523_s3_disabled_key_client_is_refused(h: Harness) -> None:
    cid, key = await h.jwt_client()
    await h.admin.set_status(cid, "disabled")
    await assert_refused(h, h.assertion(cid, key), "Client is disabled")


async def test_rfc7523_s3_malformed_registered_jwk_is_invalid_client_not_500(h: Harness) -> None:
    key = ClientKey()
    broken = {"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA", "kid": key.kid}
    created = await h.admin.create_client("broken", "read:projects", jwks={"keys": [broken]})
    cid = created.client.client_id
    await assert_refused(h, h.assertion(cid, key))
