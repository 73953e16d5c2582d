"""JWKS cache (RFC 7517 §4-5, RFC 8414 §3, RFC 8725 §3.1): discovery, cooldown, stale, filters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, OctKey, OKPKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gatepass.clock import FrozenClock
from gatepass.errors import InvalidToken
from gatepass.rs import JWKSCache, ResourceServerConfig, TokenVerifier
from gatepass.rs.jwks_cache import parse_jwks

from .conftest import (
    ISSUER,
    JWKS_URI,
    NOW,
    RESOURCE,
    Issuer,
    Keys,
    Minter,
    b64url,
    base_claims,
)

METADATA_URL = f"{ISSUER}/.well-known/oauth-authorization-server"


async def test_rfc8414_3_jwks_uri_discovered_from_metadata(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer
) -> None:
    await verifier.verify(mint())
    assert issuer.requests == [METADATA_URL, JWKS_URI]
    assert verifier.jwks.kids == frozenset({"es-1", "rs-1", "ed-1"})


async def test_configured_jwks_uri_skips_discovery(
    config: ResourceServerConfig,
    clock: FrozenClock,
    issuer_http: httpx.AsyncClient,
    issuer: Issuer,
    mint: Minter,
) -> None:
    verifier = TokenVerifier(
        replace(config, jwks_uri=JWKS_URI), clock=clock, http_client=issuer_http
    )
    await verifier.verify(mint())
    assert issuer.requests == [JWKS_URI]


async def test_rfc8414_3_3_metadata_issuer_mismatch_gives_no_keys(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer
) -> None:
    issuer.metadata["issuer"] = "https://evil.example"
    with pytest.raises(InvalidToken):
        await verifier.verify(mint())
    assert JWKS_URI not in issuer.requests


async def test_unknown_kid_refetches_once_per_cooldown(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer, clock: FrozenClock
) -> None:
    await verifier.verify(mint())
    assert issuer.jwks_requests == 1
    unknown = mint(kid="rotated-in")
    with pytest.raises(InvalidToken):
        await verifier.verify(unknown)
    assert issuer.jwks_requests == 1  # the set was fetched just now: no refetch yet
    clock.advance(30)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await verifier.verify(unknown)
    assert issuer.jwks_requests == 2  # two unknown-kid tokens, one refetch
    clock.advance(29)
    with pytest.raises(InvalidToken):
        await verifier.verify(unknown)
    assert issuer.jwks_requests == 2
    clock.advance(1)
    with pytest.raises(InvalidToken):
        await verifier.verify(unknown)
    assert issuer.jwks_requests == 3


async def test_rotation_new_kid_found_by_refetch(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer, clock: FrozenClock
) -> None:
    await verifier.verify(mint())
    new = ECKey.generate_key("P-256", parameters={"kid": "es-2"})
    issuer.jwks["keys"].append(new.as_dict(private=False))
    clock.advance(30)
    assert (await verifier.verify(mint(key=new))).client_id == "agent-123"
    assert issuer.jwks_requests == 2


async def test_issuer_down_cached_keys_keep_working_unknown_refused(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer, clock: FrozenClock
) -> None:
    await verifier.verify(mint())
    issuer.down = True
    clock.advance(3600 + 60)  # past the max age: a refresh is due but fails
    stale_ok = mint(base_claims(iat=int(clock.now()), exp=int(clock.now()) + 60))
    assert await verifier.verify(stale_ok)
    with pytest.raises(InvalidToken):
        await verifier.verify(mint(kid="unknown"))
    assert verifier.jwks.kids == frozenset({"es-1", "rs-1", "ed-1"})


async def test_issuer_unreachable_from_start_is_invalid_token(
    config: ResourceServerConfig, clock: FrozenClock, mint: Minter
) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as http:
        verifier = TokenVerifier(config, clock=clock, http_client=http)
        with pytest.raises(InvalidToken):
            await verifier.verify(mint())
        assert verifier.jwks.fetch_attempts == 1
        with pytest.raises(InvalidToken):
            await verifier.verify(mint())
        assert verifier.jwks.fetch_attempts == 1  # cooldown applies to failures too


async def test_key_removed_from_jwks_is_refused_after_refresh(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer, clock: FrozenClock
) -> None:
    await verifier.verify(mint())
    issuer.jwks["keys"] = [k for k in issuer.jwks["keys"] if k["kid"] != "es-1"]
    clock.advance(3600)
    token = mint(base_claims(iat=int(clock.now()), exp=int(clock.now()) + 60))
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"keys": "nope"}',
        b'{"keys": []}',
        b'{"keys": [{"kty": "oct"}]}',
        b'{"keys": [], "pad": "' + b"x" * 600_000 + b'"}',
    ],
)
async def test_bad_jwks_documents_keep_old_keys(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer, clock: FrozenClock, body: bytes
) -> None:
    await verifier.verify(mint())

    async def bad(request: Request) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/jwks.json", bad)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        verifier.jwks._http = http
        assert await verifier.jwks.refresh() is False
        verifier.jwks._http = None
    assert verifier.jwks.kids == frozenset({"es-1", "rs-1", "ed-1"})


def test_rfc7517_4_unusable_keys_are_ignored(keys: Keys) -> None:
    ok = keys.es256.as_dict(private=False)
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    weak = {"kty": "RSA", "kid": "weak", "n": b64url(numbers.n.to_bytes(128, "big")), "e": "AQAB"}
    document: dict[str, Any] = {
        "keys": [
            ok,
            {k: v for k, v in keys.rs256.as_dict(private=False).items() if k != "kid"},
            {**keys.ed25519.as_dict(private=False), "use": "enc"},
            {**OctKey.generate_key(256).as_dict(), "kid": "oct"},
            {**ECKey.generate_key("P-256").as_dict(private=True), "kid": "private"},
            {**keys.rs256.as_dict(private=False), "kid": "mismatch", "alg": "ES256"},
            {**OKPKey.generate_key("X25519").as_dict(private=False), "kid": "x25519"},
            {**ECKey.generate_key("P-384").as_dict(private=False), "kid": "p384"},
            weak,
            {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AA", "y": "AA"},
            "not a key",
            {**keys.foreign_es256.as_dict(private=False)},  # duplicate kid: first wins
        ]
    }
    parsed = parse_jwks(document, ("ES256", "RS256", "EdDSA"))
    assert set(parsed) == {"es-1"}
    assert parsed["es-1"].key.as_dict(private=False)["x"] == ok["x"]
    assert parsed["es-1"].algorithms == frozenset({"ES256"})
    strong = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    fine = {**weak, "n": b64url(strong.n.to_bytes(256, "big"))}
    assert parse_jwks({"keys": [weak]}, ("RS256",)) == {}  # refused for its size alone
    assert set(parse_jwks({"keys": [fine]}, ("RS256",))) == {"weak"}


def test_key_alg_narrows_algorithms(keys: Keys) -> None:
    rsa = {**keys.rs256.as_dict(private=False), "alg": "RS256"}
    parsed = parse_jwks({"keys": [rsa]}, ("RS256", "PS256", "ES256"))
    assert parsed["rs-1"].algorithms == frozenset({"RS256"})
    ed = keys.ed25519.as_dict(private=False)
    assert parse_jwks({"keys": [ed]}, ("EdDSA", "Ed25519"))["ed-1"].algorithms == {
        "EdDSA",
        "Ed25519",
    }


def test_jwks_without_keys_array_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_jwks({}, ("ES256",))


async def test_rfc8414_3_1_issuer_with_path_discovery(keys: Keys, mint: Minter) -> None:
    issuer = "https://as.example.com/tenant"
    seen: list[str] = []

    async def route(request: Request) -> Response:
        seen.append(str(request.url))
        if str(request.url) == f"{issuer}/.well-known/oauth-authorization-server":
            return JSONResponse({"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})
        if str(request.url) == f"{issuer}/jwks":
            return JSONResponse(keys.jwks())
        return PlainTextResponse("nope", status_code=404)

    app = Starlette(routes=[Route("/{p:path}", route)])
    config = ResourceServerConfig(issuer=issuer, resource=RESOURCE)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        cache = JWKSCache(config, clock=FrozenClock(NOW), http_client=http)
        assert await cache.get("es-1") is not None
    assert seen == [
        "https://as.example.com/.well-known/oauth-authorization-server/tenant",
        f"{issuer}/.well-known/oauth-authorization-server",
        f"{issuer}/jwks",
    ]


async def test_cache_creates_and_closes_its_own_client(config: ResourceServerConfig) -> None:
    cache = JWKSCache(replace(config, jwks_uri="http://127.0.0.1:9/jwks"), clock=FrozenClock(NOW))
    assert await cache.refresh() is False  # nothing listens on port 9
    assert cache._http is not None
    await cache.aclose()
    assert cache._http is None


async def test_metadata_without_jwks_uri_gives_no_keys(
    verifier: TokenVerifier, mint: Minter, issuer: Issuer
) -> None:
    del issuer.metadata["jwks_uri"]
    with pytest.raises(InvalidToken):
        await verifier.verify(mint())
    assert verifier.jwks.kids == frozenset()
