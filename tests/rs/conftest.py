"""Fixtures for the resource-server toolkit: keys, a token minter, a fake issuer, a protected app.

Tokens are signed here with joserfc primitives (so forged headers can be built freely). The issuer
(RFC 8414 metadata + JWKS) is a small Starlette app reached through ``httpx.ASGITransport``; it
records every URL requested of it, whatever the host, so a test can prove no fetch happened.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gatepass.clock import FrozenClock
from gatepass.rs import BearerAuthMiddleware, ResourceServerConfig, TokenVerifier

ISSUER = "https://as.example.com"
RESOURCE = "https://api.example.com"
TOKEN_ENDPOINT = f"{ISSUER}/oauth/token"
JWKS_URI = f"{ISSUER}/jwks.json"
NOW = 1_800_000_000.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(
    header: dict[str, Any], claims: dict[str, Any] | bytes, signer: Callable[[bytes], bytes]
) -> str:
    """Build a JWS compact serialization with any header, payload and signing function."""
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
    return f"{signing_input}.{b64url(signer(signing_input.encode('ascii')))}"


@dataclass
class Keys:
    es256: ECKey
    rs256: RSAKey
    ed25519: OKPKey
    foreign_es256: ECKey

    def jwks(self) -> dict[str, Any]:
        keys = [self.es256, self.rs256, self.ed25519]
        return {"keys": [k.as_dict(private=False, use="sig") for k in keys]}


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        es256=ECKey.generate_key("P-256", parameters={"kid": "es-1"}),
        rs256=RSAKey.generate_key(2048, parameters={"kid": "rs-1"}),
        ed25519=OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"}),
        foreign_es256=ECKey.generate_key("P-256", parameters={"kid": "es-1"}),
    )


def base_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "agent-123",
        "client_id": "agent-123",
        "aud": RESOURCE,
        "iat": int(NOW),
        "exp": int(NOW) + 300,
        "jti": "jti-1",
        "scope": "read:projects write:webhooks",
        "owner": "owner-7",
        "agent_type": "autonomous",
        "tier": "agent_standard",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@dataclass
class Minter:
    keys: Keys

    def key_for(self, alg: str) -> Key:
        if alg.startswith("RS"):
            return self.keys.rs256
        return self.keys.ed25519 if alg in ("EdDSA", "Ed25519") else self.keys.es256

    def __call__(
        self,
        claims: dict[str, Any] | bytes | None = None,
        *,
        alg: str = "ES256",
        key: Key | None = None,
        **header: Any,
    ) -> str:
        """Sign ``claims`` (default: valid ones); the header defaults to alg, at+jwt, kid."""
        key = key or self.key_for(alg)
        full = {"alg": alg, "typ": "at+jwt", "kid": key.kid, **header}
        return self.raw({k: v for k, v in full.items() if v is not None}, claims, key=key, alg=alg)

    def raw(
        self,
        header: dict[str, Any],
        claims: dict[str, Any] | bytes | None = None,
        *,
        key: Key,
        alg: str,
    ) -> str:
        """Sign with exactly ``header`` (nothing added) using ``alg``'s primitive and ``key``."""
        model = JWSRegistry.algorithms[alg]
        payload = base_claims() if claims is None else claims
        return compact(header, payload, lambda m: model.sign(m, key))


@pytest.fixture
def mint(keys: Keys) -> Minter:
    return Minter(keys)


@dataclass
class Issuer:
    """State of the fake authorization server."""

    keys: Keys
    jwks: dict[str, Any] = field(default_factory=dict)
    down: bool = False
    requests: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def jwks_requests(self) -> int:
        return sum(1 for url in self.requests if url == JWKS_URI)

    def app(self) -> Starlette:
        async def any_path(request: Request) -> Response:
            url = str(request.url)
            self.requests.append(url)
            if self.down:
                return PlainTextResponse("down", status_code=503)
            if url == f"{ISSUER}/.well-known/oauth-authorization-server":
                return JSONResponse(self.metadata)
            if url == JWKS_URI:
                return JSONResponse(self.jwks)
            return PlainTextResponse("not found", status_code=404)

        return Starlette(routes=[Route("/{path:path}", any_path)])


@pytest.fixture
def issuer(keys: Keys) -> Issuer:
    return Issuer(
        keys,
        jwks=keys.jwks(),
        metadata={"issuer": ISSUER, "jwks_uri": JWKS_URI, "token_endpoint": TOKEN_ENDPOINT},
    )


@pytest.fixture
async def issuer_http(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=issuer.app())) as client:
        yield client


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def config() -> ResourceServerConfig:
    return ResourceServerConfig(
        issuer=ISSUER,
        resource=RESOURCE,
        token_endpoint=TOKEN_ENDPOINT,
        scope_implications={"write:projects": ("read:projects",)},
        scopes_supported=("read:projects", "write:projects"),
        revocation="none",  # checkers are given explicitly where a test needs one
    )


@pytest.fixture
def verifier(
    config: ResourceServerConfig, clock: FrozenClock, issuer_http: httpx.AsyncClient
) -> TokenVerifier:
    return TokenVerifier(config, clock=clock, http_client=issuer_http)


async def whoami(request: Request) -> Response:
    principal = request.scope["gatepass.principal"]
    return JSONResponse(
        {
            "client_id": principal.client_id,
            "scopes": sorted(principal.scopes),
            "auth_scopes": request.auth.scopes,
            "user": request.user.display_name,
        }
    )


async def public(request: Request) -> Response:
    return JSONResponse({"authenticated": request.user.is_authenticated})


@pytest.fixture
def rs_app(verifier: TokenVerifier) -> Starlette:
    app = Starlette(
        routes=[Route("/whoami", whoami, methods=["GET", "POST"]), Route("/public", public)]
    )
    return BearerAuthMiddleware(app, verifier, exempt=lambda p: p == "/public")  # type: ignore[return-value]


@pytest.fixture
async def api(rs_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(rs_app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=RESOURCE) as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
