"""TokenVerifier from both sides (RFC 9068 §4, RFC 8725 §3, RFC 7515 §4.1): forgeries fail."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, RSAKey

from gatepass.clock import FrozenClock
from gatepass.errors import InvalidToken, MissingToken, OAuthError, TokenExpired
from gatepass.rs import ResourceServerConfig, TokenVerifier

from .conftest import (
    ISSUER,
    JWKS_URI,
    NOW,
    RESOURCE,
    TOKEN_ENDPOINT,
    Issuer,
    Keys,
    Minter,
    b64url,
    base_claims,
    compact,
)


async def refused(verifier: TokenVerifier, token: str) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        await verifier.verify(token)
    return info.value


async def assert_invalid(verifier: TokenVerifier, token: str) -> InvalidToken:
    err = await refused(verifier, token)
    assert type(err) is InvalidToken, err
    assert err.error == "invalid_token" and err.http_status == 401
    return err


# --- the valid side -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
async def test_rfc9068_4_valid_token_gives_principal(
    verifier: TokenVerifier, mint: Minter, alg: str
) -> None:
    principal = await verifier.verify(mint(alg=alg))
    assert principal.client_id == "agent-123"
    assert principal.subject == "agent-123"
    assert principal.scopes == frozenset({"read:projects", "write:webhooks"})
    assert principal.issuer == ISSUER
    assert principal.audience == (RESOURCE,)
    assert principal.expires_at == NOW + 300
    assert principal.token_id == "jti-1"
    assert (principal.owner, principal.agent_type, principal.tier) == (
        "owner-7",
        "autonomous",
        "agent_standard",
    )
    assert principal.claims["scope"] == "read:projects write:webhooks"


async def test_rfc9864_ed25519_alg_allowed_by_default_refused_when_not_listed(
    config: ResourceServerConfig,
    verifier: TokenVerifier,
    mint: Minter,
    clock: FrozenClock,
    issuer_http: Any,
) -> None:
    token = mint(alg="Ed25519")  # what a Gatepass server with an Ed25519 key signs
    assert (await verifier.verify(token)).client_id == "agent-123"
    refusing = TokenVerifier(
        ResourceServerConfig(issuer=ISSUER, resource=RESOURCE, algorithms=("ES256", "EdDSA"),
                             revocation="none"),
        clock=clock,
        http_client=issuer_http,
    )
    await assert_invalid(refusing, token)


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
async def test_rfc9068_4_typ_case_insensitive(
    verifier: TokenVerifier, mint: Minter, typ: str
) -> None:
    assert await verifier.verify(mint(typ=typ))


async def test_rfc7519_4_1_3_aud_list_containing_resource(
    verifier: TokenVerifier, mint: Minter
) -> None:
    token = mint(base_claims(aud=["https://other.example", RESOURCE]))
    assert (await verifier.verify(token)).audience == ("https://other.example", RESOURCE)


async def test_pyjwt_signed_token_with_our_key_passes(verifier: TokenVerifier, keys: Keys) -> None:
    pem = keys.es256.as_pem(private=True)
    headers = {"kid": "es-1", "typ": "at+jwt"}
    token = pyjwt.encode(base_claims(), pem, algorithm="ES256", headers=headers)
    assert (await verifier.verify(token)).client_id == "agent-123"


async def test_rfc7519_4_1_leeway_applies(
    verifier: TokenVerifier, mint: Minter, clock: FrozenClock
) -> None:
    clock.set(NOW + 300 + 29)  # expired 29 s ago, leeway 30 s
    assert await verifier.verify(mint())
    clock.set(NOW - 29)  # nbf/iat 29 s ahead
    assert await verifier.verify(mint(base_claims(nbf=int(NOW), jti="jti-2")))


# --- forged or wrong tokens ---------------------------------------------------------------


async def test_rfc8725_3_1_alg_none_refused(verifier: TokenVerifier, issuer: Issuer) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": "es-1"}
    unsigned = compact(header, base_claims(), lambda m: b"")
    assert "compact" in (await assert_invalid(verifier, unsigned)).description
    signed = compact(header, base_claims(), lambda m: b"sig")
    assert "algorithm" in (await assert_invalid(verifier, signed)).description
    assert issuer.requests == []


@pytest.mark.parametrize("secret", ["pem", "jwk"])
async def test_rfc8725_3_1_hs256_with_public_key_refused(
    verifier: TokenVerifier, keys: Keys, secret: str
) -> None:
    jwk = json.dumps(keys.rs256.as_dict(private=False)).encode()
    public = keys.rs256.as_pem(private=False) if secret == "pem" else jwk
    header = {"alg": "HS256", "typ": "at+jwt", "kid": "rs-1"}
    token = compact(header, base_claims(), lambda m: hmac.new(public, m, hashlib.sha256).digest())
    assert "algorithm" in (await assert_invalid(verifier, token)).description


def test_rfc8725_3_1_hs_algorithms_cannot_be_configured() -> None:
    for algs in (("HS256",), ("ES256", "none"), ()):
        with pytest.raises(ValueError):
            ResourceServerConfig(issuer=ISSUER, resource=RESOURCE, algorithms=algs)


async def test_rfc8725_3_1_alg_from_key_not_header(
    verifier: TokenVerifier, mint: Minter, keys: Keys
) -> None:
    # ES256 header naming the RSA key: the key decides which algorithms it verifies.
    err = await assert_invalid(verifier, mint(kid="rs-1"))
    assert err.description == "The token signing algorithm does not match its key"
    # PS256 is a valid RSA algorithm but not in the allow-list.
    await assert_invalid(verifier, mint(alg="PS256", key=keys.rs256))


@pytest.mark.parametrize(
    "kid", ["unknown", "../../etc/passwd", "es-1' OR '1'='1", "x" * 300, "", None, 7, ["es-1"]]
)
async def test_rfc7515_4_1_4_wrong_or_injected_kid_refused(
    verifier: TokenVerifier, mint: Minter, kid: Any
) -> None:
    header = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
    await assert_invalid(verifier, mint.raw(header, key=mint.keys.es256, alg="ES256"))


@pytest.mark.parametrize("name", ["jku", "x5u"])
async def test_rfc8725_3_10_key_url_headers_refused_without_fetch(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer, name: str
) -> None:
    evil = "https://evil.example/jwks.json"
    err = await assert_invalid(verifier, mint(**{name: evil}))
    assert name in err.description
    assert not any("evil.example" in url for url in issuer.requests)
    assert issuer.requests == []  # refused before the JWKS is even consulted


async def test_rfc7515_4_1_3_embedded_jwk_refused(verifier: TokenVerifier, mint: Minter) -> None:
    attacker = ECKey.generate_key("P-256", parameters={"kid": "es-1"})
    token = mint(key=attacker, jwk=attacker.as_dict(private=False))
    assert "jwk header" in (await assert_invalid(verifier, token)).description


async def test_x5c_is_never_used_to_find_a_key(verifier: TokenVerifier, mint: Minter) -> None:
    attacker = ECKey.generate_key("P-256", parameters={"kid": "es-1"})
    err = await assert_invalid(verifier, mint(key=attacker, x5c=["MIIB..."]))
    assert err.description == "The token signature is invalid"


@pytest.mark.parametrize("crit", [["exp"], ["b64"], ["urn:unknown"], [], "exp", [1]])
async def test_rfc7515_4_1_11_unknown_crit_refused(
    verifier: TokenVerifier, mint: Minter, crit: Any
) -> None:
    err = await assert_invalid(verifier, mint(crit=crit, b64=False, exp=1))
    assert "critical" in err.description


async def test_rfc7515_5_2_tampered_payload_refused(verifier: TokenVerifier, mint: Minter) -> None:
    header, _, signature = mint().split(".")
    escalated = b64url(json.dumps(base_claims(scope="admin")).encode())
    err = await assert_invalid(verifier, f"{header}.{escalated}.{signature}")
    assert err.description == "The token signature is invalid"


async def test_rfc7515_5_2_tampered_signature_refused(
    verifier: TokenVerifier, mint: Minter
) -> None:
    token = mint()
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    await assert_invalid(verifier, flipped)


async def test_foreign_key_pyjwt_token_refused(verifier: TokenVerifier) -> None:
    foreign = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    headers = {"kid": "es-1", "typ": "at+jwt"}
    token = pyjwt.encode(base_claims(), foreign, algorithm="ES256", headers=headers)
    err = await assert_invalid(verifier, token)
    assert err.description == "The token signature is invalid"


async def test_foreign_key_same_kid_refused(
    verifier: TokenVerifier, mint: Minter, keys: Keys
) -> None:
    await assert_invalid(verifier, mint(key=keys.foreign_es256))


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "at+jwt2", "application/jwt", 1])
async def test_rfc9068_4_wrong_or_missing_typ_refused(
    verifier: TokenVerifier, mint: Minter, typ: Any
) -> None:
    err = await assert_invalid(verifier, mint(typ=typ))
    assert "typ" in err.description


async def test_rfc9068_4_wrong_issuer_refused(verifier: TokenVerifier, mint: Minter) -> None:
    for iss in ("https://evil.example", ISSUER + "/", ISSUER.upper(), None):
        err = await assert_invalid(verifier, mint(base_claims(iss=iss)))
        assert "(iss)" in err.description


async def test_rfc9068_4_wrong_audience_refused(verifier: TokenVerifier, mint: Minter) -> None:
    for aud in (
        "https://other.example",
        [RESOURCE + "/x"],
        [],
        None,
        [RESOURCE, 3],
        {"a": RESOURCE},
    ):
        err = await assert_invalid(verifier, mint(base_claims(aud=aud)))
        assert "(aud)" in err.description


async def test_rfc9068_4_expired_token_is_token_expired(
    verifier: TokenVerifier, mint: Minter, clock: FrozenClock
) -> None:
    clock.set(NOW + 300 + 30)
    err = await refused(verifier, mint())
    assert isinstance(err, TokenExpired) and err.http_status == 401
    assert err.body()["error"] == "token_expired"
    assert err.body()["token_endpoint"] == TOKEN_ENDPOINT


async def test_forged_expired_token_is_not_token_expired(
    verifier: TokenVerifier, mint: Minter, keys: Keys, clock: FrozenClock
) -> None:
    clock.set(NOW + 1000)
    await assert_invalid(verifier, mint(key=keys.foreign_es256))


async def test_rfc7519_4_1_5_nbf_in_future_refused(verifier: TokenVerifier, mint: Minter) -> None:
    err = await assert_invalid(verifier, mint(base_claims(nbf=int(NOW) + 31)))
    assert "(nbf)" in err.description


async def test_rfc7519_4_1_6_iat_in_future_refused(verifier: TokenVerifier, mint: Minter) -> None:
    err = await assert_invalid(verifier, mint(base_claims(iat=int(NOW) + 31)))
    assert "(iat)" in err.description


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": None},
        {"exp": "1900000000"},
        {"exp": True},
        {"exp": float("inf")},
        {"iat": None},
        {"nbf": "soon"},
        {"jti": None},
        {"sub": None},
        {"client_id": None},
        {"client_id": 5},
        {"scope": ["read:projects"]},
        {"scope": 'read:projects "quoted"'},
    ],
)
async def test_rfc9068_2_2_required_claims(
    verifier: TokenVerifier, mint: Minter, claims: dict[str, Any]
) -> None:
    await assert_invalid(verifier, mint(base_claims(**claims)))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d.e",
        "eyJhbGciOiJFUzI1NiJ9..",
        "!!!.###.$$$",
        "e30.e30.e30",
        b64url(b"[1]") + ".e30.AAAA",
        b64url(b'{"alg":"ES256","alg":"none"}') + ".e30.AAAA",
        "é.é.é",
    ],
)
async def test_rfc7515_7_1_garbage_refused(verifier: TokenVerifier, token: str) -> None:
    await assert_invalid(verifier, token)


async def test_rfc7519_4_duplicate_claims_refused(verifier: TokenVerifier, mint: Minter) -> None:
    payload = json.dumps(base_claims())[:-1] + ', "aud": "https://evil.example"}'
    await assert_invalid(verifier, mint(payload.encode()))


async def test_payload_not_an_object_refused(verifier: TokenVerifier, mint: Minter) -> None:
    await assert_invalid(verifier, mint(b"[1, 2]"))
    await assert_invalid(verifier, mint(b"not json"))


async def test_oversized_token_refused_before_decoding(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer
) -> None:
    token = mint(base_claims(padding="x" * 9000))
    err = await assert_invalid(verifier, token)
    assert "8192" in err.description
    assert issuer.requests == []


# --- verified-token cache -----------------------------------------------------------------


async def test_cache_skips_signature_work(
    verifier: TokenVerifier, mint: Minter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gatepass.rs.verifier as module

    calls: list[str] = []
    real = module.verify_signature

    def counting(*args: Any) -> None:
        calls.append("sig")
        real(*args)

    monkeypatch.setattr(module, "verify_signature", counting)
    token = mint()
    first = await verifier.verify(token)
    second = await verifier.verify(token)
    assert first is second
    assert calls == ["sig"]
    assert (verifier.stats.signature_checks, verifier.stats.cache_hits) == (1, 1)


async def test_cache_entry_ends_with_token_exp(
    verifier: TokenVerifier, mint: Minter, clock: FrozenClock
) -> None:
    token = mint()
    await verifier.verify(token)
    clock.set(NOW + 300 + 30)
    with pytest.raises(TokenExpired):
        await verifier.verify(token)
    assert len(verifier._cache) == 0


async def test_cache_is_bounded_lru(
    config: ResourceServerConfig, clock: FrozenClock, issuer_http: Any, mint: Minter
) -> None:
    from dataclasses import replace

    small = TokenVerifier(replace(config, cache_size=2), clock=clock, http_client=issuer_http)
    tokens = [mint(base_claims(jti=f"j{i}")) for i in range(3)]
    for token in tokens:
        await small.verify(token)
    assert len(small._cache) == 2
    await small.verify(tokens[2])
    assert small.stats.signature_checks == 3
    await small.verify(tokens[0])  # evicted: full verification again
    assert small.stats.signature_checks == 4


async def test_cache_key_is_the_whole_token(verifier: TokenVerifier, mint: Minter) -> None:
    token = mint()
    await verifier.verify(token)
    header, payload, _ = token.split(".")
    await assert_invalid(verifier, f"{header}.{payload}.AAAA")


async def test_header_of_a_cached_token_skips_parsing_but_not_checks(
    verifier: TokenVerifier, mint: Minter, clock: FrozenClock
) -> None:
    token = mint()
    first = await verifier.authenticate(f"Bearer {token}")
    for value in (f"bearer {token}", f"BEARER {token}", f"Bearer  {token}", f"Bearer {token} "):
        assert await verifier.authenticate(value) is first  # same entry, however it is spelled
    assert verifier.stats.signature_checks == 1
    with pytest.raises(OAuthError) as info:  # still one credential only (RFC 6750 §3.1)
        await verifier.authenticate([f"Bearer {token}", f"Bearer {token}"])
    assert info.value.error == "invalid_request"
    with pytest.raises(MissingToken):  # another scheme is not a bearer token, cached or not
        await verifier.authenticate(f"Basic {token}")
    clock.set(NOW + 300 + 30)
    with pytest.raises(TokenExpired):  # the cache entry ends with the token
        await verifier.authenticate(f"Bearer {token}")


async def test_known_finds_only_cached_tokens_in_plain_bearer_form(
    verifier: TokenVerifier, mint: Minter, clock: FrozenClock
) -> None:
    token = mint().encode()
    raw = b"Bearer " + token
    assert verifier.known(raw) is None  # not verified yet: the caller takes the full path
    first = await verifier.verify(token.decode())
    assert verifier.known(raw) is first
    assert verifier.known(b"bEaReR " + token) is first
    for other in (b"Basic " + token, b"Bearer  " + token, raw + b"x", raw[:-1],
                  raw + "\u00e9".encode("latin-1"), b"Bearer " + b"a" * 8200):  # fmt: skip
        assert verifier.known(other) is None
    assert (verifier.stats.signature_checks, verifier.stats.cache_hits) == (1, 2)
    clock.set(NOW + 300 + 30)
    assert verifier.known(raw) is None  # expired: the full path answers token_expired
    with pytest.raises(TokenExpired):
        await verifier.authenticate(raw.decode())


async def test_rsa_key_and_rs256(verifier: TokenVerifier, mint: Minter, keys: Keys) -> None:
    assert isinstance(keys.rs256, RSAKey)
    assert (await verifier.verify(mint(alg="RS256"))).token_id == "jti-1"


async def test_jwks_uri_never_leaves_issuer(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer
) -> None:
    await verifier.verify(mint())
    assert issuer.requests == [f"{ISSUER}/.well-known/oauth-authorization-server", JWKS_URI]


async def test_authenticate_accepts_one_value_or_none(
    verifier: TokenVerifier, mint: Minter
) -> None:
    assert (await verifier.authenticate(f"Bearer {mint()}")).client_id == "agent-123"
    with pytest.raises(MissingToken):
        await verifier.authenticate(None)
    with pytest.raises(MissingToken):
        await verifier.authenticate([])


async def test_forget_and_disabled_cache(
    config: ResourceServerConfig, clock: FrozenClock, issuer_http: Any, mint: Minter
) -> None:
    from dataclasses import replace

    uncached = TokenVerifier(replace(config, cache_size=0), clock=clock, http_client=issuer_http)
    token = mint()
    await uncached.verify(token)
    await uncached.verify(token)
    assert uncached.stats.signature_checks == 2 and uncached.stats.cache_hits == 0
    cached = TokenVerifier(config, clock=clock, http_client=issuer_http)
    await cached.verify(token)
    cached.forget(token)
    await cached.verify(token)
    assert cached.stats.signature_checks == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"issuer": ""}, {"resource": ""}, {"leeway": -1}, {"max_token_bytes": 0}, {"cache_size": -1}],
)
def test_config_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ResourceServerConfig(**{"issuer": ISSUER, "resource": RESOURCE, **kwargs})


async def test_rfc7517_4_3_key_ops_without_verify_refused(
    config: ResourceServerConfig, clock: FrozenClock, keys: Keys, mint: Minter
) -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    jwk = {**keys.es256.as_dict(private=False), "key_ops": ["encrypt"]}

    async def serve(request: Any) -> JSONResponse:
        return JSONResponse({"keys": [jwk]})

    app = Starlette(routes=[Route("/jwks", serve)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        from dataclasses import replace

        jwks_config = replace(config, jwks_uri=f"{ISSUER}/jwks")
        verifier = TokenVerifier(jwks_config, clock=clock, http_client=http)
        err = await assert_invalid(verifier, mint())
    assert err.description == "The token signature is invalid"
