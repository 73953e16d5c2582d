"""BearerAuthMiddleware and ScopeGuard over HTTP (RFC 6750 §2.1, §3, §3.1; RFC 9728 §5.1)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatepass.errors import InvalidToken, TokenExpired
from gatepass.rs import (
    BearerAuthMiddleware,
    MemoryRevocationList,
    ResourceServerConfig,
    TokenVerifier,
    require_scopes,
    www_authenticate,
)

from .conftest import (
    NOW,
    RESOURCE,
    TOKEN_ENDPOINT,
    Minter,
    b64url,
    base_claims,
    bearer,
    compact,
)

METADATA = f"{RESOURCE}/.well-known/oauth-protected-resource"
REALM = f'realm="{RESOURCE}"'


def assert_refusal_headers(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"


async def test_rfc6750_2_1_valid_token_reaches_app(api: httpx.AsyncClient, mint: Minter) -> None:
    token = mint(base_claims(scope="write:projects"))
    response = await api.get("/whoami", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "client_id": "agent-123",
        "scopes": ["write:projects"],
        "auth_scopes": ["read:projects", "write:projects"],  # implied scope included
        "user": "agent-123",
    }


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_rfc9110_11_1_scheme_is_case_insensitive(
    api: httpx.AsyncClient, mint: Minter, scheme: str
) -> None:
    response = await api.get("/whoami", headers={"Authorization": f"{scheme} {mint()}"})
    assert response.status_code == 200


async def test_rfc6750_3_1_missing_token_exact(api: httpx.AsyncClient) -> None:
    response = await api.get("/whoami")
    assert response.status_code == 401
    assert response.json() == {
        "error": "missing_token",
        "error_description": "Authorization: Bearer <token> header required",
        "expected_header": "Authorization: Bearer <token>",
        "token_endpoint": TOKEN_ENDPOINT,
    }
    assert response.headers["www-authenticate"] == (
        f'Bearer {REALM}, scope="read:projects write:projects", resource_metadata="{METADATA}"'
    )
    assert_refusal_headers(response)


async def test_other_scheme_is_missing_token(api: httpx.AsyncClient) -> None:
    response = await api.get("/whoami", headers={"Authorization": "Basic YTpi"})
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"


async def test_rfc6750_3_1_invalid_token_exact(api: httpx.AsyncClient, mint: Minter) -> None:
    response = await api.get("/whoami", headers=bearer(mint(base_claims(aud="https://x.example"))))
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The token is not meant for this resource (aud)",
    }
    assert response.headers["www-authenticate"] == (
        f'Bearer {REALM}, error="invalid_token", '
        'error_description="The token is not meant for this resource (aud)", '
        f'scope="read:projects write:projects", resource_metadata="{METADATA}"'
    )
    assert_refusal_headers(response)


async def test_expired_token_body_says_token_expired(
    api: httpx.AsyncClient, mint: Minter, verifier: TokenVerifier
) -> None:
    verifier.clock.set(NOW + 400)  # type: ignore[attr-defined]
    response = await api.get("/whoami", headers=bearer(mint()))
    assert response.status_code == 401
    assert response.json() == {
        "error": "token_expired",
        "error_description": "The access token has expired; request a new one",
        "token_endpoint": TOKEN_ENDPOINT,
    }
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000])
async def test_garbage_and_oversized_tokens_are_401(api: httpx.AsyncClient, token: str) -> None:
    response = await api.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_rfc6750_2_3_query_token_refused_400(api: httpx.AsyncClient, mint: Minter) -> None:
    token = mint()
    assert (await api.get("/whoami", headers=bearer(token))).status_code == 200  # now cached
    for headers in ({}, bearer(token)):
        response = await api.get("/whoami", params={"access_token": token}, headers=headers)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert 'error="invalid_request"' in response.headers["www-authenticate"]
        assert_refusal_headers(response)


async def test_rfc6750_2_2_form_token_refused_400(api: httpx.AsyncClient, mint: Minter) -> None:
    response = await api.post("/whoami", data={"access_token": mint(), "x": "1"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    response = await api.post("/whoami", data={"x": "1"})
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"


async def test_rfc6750_3_1_two_authorization_headers_400(
    api: httpx.AsyncClient, mint: Minter
) -> None:
    token = mint()
    assert (await api.get("/whoami", headers=bearer(token))).status_code == 200  # now cached
    for second in ("Bearer other", f"Bearer {token}"):
        headers = [("Authorization", f"Bearer {token}"), ("Authorization", second)]
        response = await api.get("/whoami", headers=headers)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


async def test_malformed_credentials_400(api: httpx.AsyncClient) -> None:
    response = await api.get("/whoami", headers={"Authorization": "Bearer a b"})
    assert response.status_code == 400


async def test_exempt_path_is_anonymous(api: httpx.AsyncClient) -> None:
    response = await api.get("/public")
    assert response.status_code == 200
    assert response.json() == {"authenticated": False}


async def test_issuer_down_is_401_never_500(
    config: ResourceServerConfig, mint: Minter, clock: Any
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        verifier = TokenVerifier(config, clock=clock, http_client=http)
        app = BearerAuthMiddleware(Starlette(), verifier)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=RESOURCE) as client:
            response = await client.get("/x", headers=bearer(mint()))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_protected_paths_prefixes(verifier: TokenVerifier) -> None:
    app = BearerAuthMiddleware(Starlette(), verifier, protected_paths=["/api/"])
    assert app.protects("/api/x") and not app.protects("/health")
    assert not app.protects("/.well-known/oauth-protected-resource")


# --- scope guard ----------------------------------------------------------------------------


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await JSONResponse({"ok": True})(scope, receive, send)


@pytest.fixture
async def guarded(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    routes = [
        Route("/deploy", require_scopes("read:projects", "execute:deployments")(_ok)),
        Route("/read", require_scopes("read:projects")(_ok)),
        Route("/open/read", require_scopes("read:projects")(_ok)),
    ]
    app = BearerAuthMiddleware(
        Starlette(routes=routes), verifier, exempt=lambda p: p.startswith("/open")
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=RESOURCE
    ) as client:
        yield client


async def test_rfc6750_3_1_insufficient_scope_403_exact(
    guarded: httpx.AsyncClient, mint: Minter
) -> None:
    response = await guarded.get("/deploy", headers=bearer(mint()))
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "Required scopes: read:projects execute:deployments",
        "required_scopes": ["read:projects", "execute:deployments"],
        "granted_scopes": ["read:projects", "write:webhooks"],
        "token_endpoint": TOKEN_ENDPOINT,
    }
    assert response.headers["www-authenticate"] == (
        f'Bearer {REALM}, error="insufficient_scope", '
        'error_description="Required scopes: read:projects execute:deployments", '
        f'scope="read:projects execute:deployments", resource_metadata="{METADATA}"'
    )
    assert_refusal_headers(response)


async def test_scope_guard_passes_and_honours_implications(
    guarded: httpx.AsyncClient, mint: Minter
) -> None:
    assert (await guarded.get("/read", headers=bearer(mint()))).status_code == 200
    writer = mint(base_claims(scope="write:projects", jti="w"))
    assert (await guarded.get("/read", headers=bearer(writer))).status_code == 200
    nothing = mint(base_claims(scope=None, jti="n"))
    response = await guarded.get("/read", headers=bearer(nothing))
    assert response.status_code == 403
    assert response.json()["granted_scopes"] == []


async def test_scope_guard_without_principal_is_401_with_its_scopes(
    guarded: httpx.AsyncClient,
) -> None:
    response = await guarded.get("/open/read")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert 'scope="read:projects"' in response.headers["www-authenticate"]


async def test_scope_guard_needs_config() -> None:
    guard = require_scopes("a")(_ok)
    with pytest.raises(RuntimeError):
        await guard({"type": "http", "path": "/"}, _never, _never)


async def _never(*args: Any) -> Any:
    raise AssertionError("not reached")


# --- challenge formatting -------------------------------------------------------------------


def test_rfc6750_3_challenge_values_are_quote_escaped(config: ResourceServerConfig) -> None:
    err = InvalidToken('bad "quote" \\ back\r\nslash')
    header = www_authenticate(err, config, ["a:b"])
    assert header == (
        f'Bearer {REALM}, error="invalid_token", '
        'error_description="bad \\"quote\\" \\\\ back??slash", '
        f'scope="a:b", resource_metadata="{METADATA}"'
    )


def test_rfc9728_5_1_configured_metadata_url_and_realm(config: ResourceServerConfig) -> None:
    from dataclasses import replace

    custom = replace(config, realm="api", resource_metadata_url="https://meta.example/prm")
    header = www_authenticate(TokenExpired("gone"), custom)
    assert header == (
        'Bearer realm="api", error="invalid_token", error_description="gone", '
        'resource_metadata="https://meta.example/prm"'
    )


# --- lifespan and websocket -----------------------------------------------------------------


class CountingRevocations(MemoryRevocationList):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")


async def test_lifespan_starts_and_stops_verifier(config: ResourceServerConfig, clock: Any) -> None:
    revocations = CountingRevocations()
    verifier = TokenVerifier(config, clock=clock, revocation=revocations)
    app = BearerAuthMiddleware(Starlette(), verifier)
    async with LifespanManager(app):
        assert revocations.events == ["start"]
    assert revocations.events == ["start", "stop"]


async def test_websocket_refused_with_close(verifier: TokenVerifier) -> None:
    app = BearerAuthMiddleware(Starlette(), verifier)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    sent.clear()
    await app({**scope, "extensions": {"websocket.http.response": {}}}, receive, send)
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 401


async def test_non_http_scopes_pass_through(verifier: TokenVerifier) -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await BearerAuthMiddleware(inner, verifier, manage_lifespan=False)(
        {"type": "lifespan"}, _never, _never
    )
    await require_scopes("a")(inner)({"type": "lifespan"}, _never, _never)
    assert seen == ["lifespan", "lifespan"]


async def test_request_auth_compatible_with_starlette_requires(
    verifier: TokenVerifier, mint: Minter
) -> None:
    from starlette.authentication import requires

    @requires("read:projects")
    async def endpoint(request: Request) -> Response:
        return JSONResponse({"identity": request.user.identity})

    app = BearerAuthMiddleware(Starlette(routes=[Route("/r", endpoint)]), verifier)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=RESOURCE) as c:
        writer = mint(base_claims(scope="write:projects"))
        assert (await c.get("/r", headers=bearer(writer))).json() == {"identity": "agent-123"}
        reader_less = mint(base_claims(scope="write:webhooks", jti="x"))
        assert (await c.get("/r", headers=bearer(reader_less))).status_code == 403


def _forgeries(mint: Minter) -> dict[str, str]:
    keys = mint.keys
    header = {"alg": "none", "typ": "at+jwt", "kid": "es-1"}
    public_pem = keys.rs256.as_pem(private=False)
    hs_header = {"alg": "HS256", "typ": "at+jwt", "kid": "rs-1"}
    head, _, sig = mint().split(".")
    tampered = b64url(b'{"iss":"https://as.example.com","scope":"admin"}')
    return {
        "alg_none": compact(header, base_claims(), lambda m: b"x"),
        "hs256_public_key": compact(
            hs_header, base_claims(), lambda m: hmac.new(public_pem, m, hashlib.sha256).digest()
        ),
        "jku": mint(jku="https://evil.example/jwks.json"),
        "jwk": mint(jwk=keys.foreign_es256.as_dict(private=False), key=keys.foreign_es256),
        "x5u": mint(x5u="https://evil.example/cert.pem"),
        "unknown_kid": mint(kid="nope"),
        "tampered": f"{head}.{tampered}.{sig}",
        "foreign_key": mint(key=keys.foreign_es256),
        "missing_typ": mint(typ=None),
        "wrong_iss": mint(base_claims(iss="https://evil.example")),
        "nbf_future": mint(base_claims(nbf=int(NOW) + 3600)),
        "crit": mint(crit=["urn:x"]),
    }


async def test_every_forgery_is_401_invalid_token_over_http(
    api: httpx.AsyncClient, mint: Minter
) -> None:
    for name, token in _forgeries(mint).items():
        response = await api.get("/whoami", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_token", name
        assert 'error="invalid_token"' in response.headers["www-authenticate"], name
