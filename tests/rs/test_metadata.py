"""Protected-resource metadata (RFC 9728 §2, §3, §3.1, §5.1), public surface and import boundary."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import gatepass.rs
from gatepass.rs import (
    BearerAuthMiddleware,
    ProtectedResourceMetadata,
    ResourceServerConfig,
    TokenVerifier,
    build_protected_resource_metadata,
    declared_scopes,
    metadata_paths,
    require_scopes,
)
from gatepass.rs.fastapi import require_scopes as depends_on_scopes
from gatepass.rs.starlette import metadata_routes, requires_scopes

from .conftest import ISSUER, RESOURCE

WELL_KNOWN = "/.well-known/oauth-protected-resource"


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await JSONResponse({})(scope, receive, send)


def test_rfc9728_2_document(config: ResourceServerConfig) -> None:
    assert build_protected_resource_metadata(config, scopes=["write:projects", "read:billing"]) == {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["read:projects", "write:projects", "read:billing"],
    }
    bare = ResourceServerConfig(issuer=ISSUER, resource=RESOURCE)
    full = build_protected_resource_metadata(
        bare,
        resource_name="Projects API",
        resource_documentation="https://docs.example.com",
        resource_signing_alg_values_supported=["ES256"],
    )
    assert "scopes_supported" not in full
    assert full["resource_name"] == "Projects API"
    assert full["resource_documentation"] == "https://docs.example.com"
    assert full["resource_signing_alg_values_supported"] == ["ES256"]


@pytest.mark.parametrize(
    ("resource", "paths"),
    [
        ("https://api.example.com", (WELL_KNOWN,)),
        ("https://api.example.com/", (WELL_KNOWN,)),
        ("https://api.example.com/v1/", (f"{WELL_KNOWN}/v1", WELL_KNOWN)),
        ("https://api.example.com/a/b", (f"{WELL_KNOWN}/a/b", WELL_KNOWN)),
    ],
)
def test_rfc9728_3_1_paths(resource: str, paths: tuple[str, ...]) -> None:
    assert metadata_paths(resource) == paths


def test_rfc9728_3_1_metadata_url_is_path_inserted() -> None:
    config = ResourceServerConfig(issuer=ISSUER, resource="https://api.example.com/v1")
    assert config.metadata_url == f"https://api.example.com{WELL_KNOWN}/v1"


def test_declared_scopes_found_on_starlette_and_fastapi_routes() -> None:
    @requires_scopes("read:analytics")
    async def analytics(request: Request) -> Response:
        return JSONResponse({})

    inner = Starlette(routes=[Route("/deploy", require_scopes("execute:deployments")(_ok))])
    app = Starlette(
        routes=[
            Route("/projects", require_scopes("read:projects", "write:projects")(_ok)),
            Route("/analytics", analytics),
            Mount("/sub", app=inner),
        ]
    )
    assert declared_scopes(app) == (
        "read:projects",
        "write:projects",
        "read:analytics",
        "execute:deployments",
    )

    api = FastAPI()

    @api.get("/a")
    async def a(p: Annotated[Any, Depends(depends_on_scopes("read:billing"))]) -> None:
        return None

    @api.get("/b", dependencies=[Depends(depends_on_scopes("write:webhooks"))])
    async def b() -> None:
        return None

    assert declared_scopes(api) == ("read:billing", "write:webhooks")
    assert declared_scopes(None) == ()


async def test_rfc9728_3_2_served_by_starlette_routes_with_declared_scopes(
    config: ResourceServerConfig,
) -> None:
    path_config = replace(config, resource="https://api.example.com/v1", scopes_supported=())
    routes = [
        *metadata_routes(path_config, resource_name="Projects"),
        Route("/v1/deploy", require_scopes("execute:deployments")(_ok)),
    ]
    app = Starlette(routes=routes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=RESOURCE) as c:
        inserted = await c.get(f"{WELL_KNOWN}/v1")
        root = await c.get(WELL_KNOWN)
        head = await c.head(f"{WELL_KNOWN}/v1")
        post = await c.post(f"{WELL_KNOWN}/v1")
    assert inserted.status_code == 200
    assert inserted.json() == {
        "resource": "https://api.example.com/v1",
        "authorization_servers": [ISSUER],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["execute:deployments"],
        "resource_name": "Projects",
    }
    assert root.json() == inserted.json()
    assert inserted.headers["content-type"] == "application/json"
    assert inserted.headers["cache-control"] == "public, max-age=3600"
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == inserted.headers["content-length"]
    assert post.status_code == 405


async def test_metadata_wrapper_app(config: ResourceServerConfig) -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await JSONResponse({"inner": True})(scope, receive, send)

    wrapped = ProtectedResourceMetadata(config, inner, scopes_from=Starlette())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wrapped), base_url=RESOURCE
    ) as c:
        document = (await c.get(WELL_KNOWN)).json()
        other = await c.get("/other")
        put = await c.put(WELL_KNOWN)
    assert document["scopes_supported"] == ["read:projects", "write:projects"]
    assert other.json() == {"inner": True} and seen == ["/other"]
    assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD"


async def test_rfc9728_5_1_agent_follows_challenge_to_metadata(
    verifier: TokenVerifier, config: ResourceServerConfig
) -> None:
    """A 401 names ``resource_metadata``; fetching it yields this resource and its issuer."""
    api = Starlette(
        routes=[*metadata_routes(config), Route("/x", require_scopes("read:projects")(_ok))]
    )
    app = BearerAuthMiddleware(api, verifier)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=RESOURCE) as c:
        challenge = (await c.get("/x")).headers["www-authenticate"]
        url = challenge.split('resource_metadata="')[1].rstrip('"')
        document = (await c.get(url)).json()
    assert document["resource"] == RESOURCE
    assert document["authorization_servers"] == [ISSUER]


# --- public surface and import boundary ---------------------------------------------------------


def test_public_surface_is_pinned() -> None:
    assert sorted(gatepass.rs.__all__) == sorted(
        [
            "CONFIG_KEY",
            "EXPECTED_HEADER",
            "PRINCIPAL_KEY",
            "REVOCATION_CHANNEL",
            "WELL_KNOWN_PATH",
            "AnonymousUser",
            "BearerAuthMiddleware",
            "ClientCutoffs",
            "Credentials",
            "FeedRevocationChecker",
            "IntrospectionChecker",
            "JWKSCache",
            "MemoryRevocationList",
            "PrincipalUser",
            "ProtectedResourceMetadata",
            "RedisRevocationListener",
            "Refusal",
            "ResourceServerConfig",
            "RevocationChecker",
            "RevocationDenylist",
            "ScopeGuard",
            "TokenVerifier",
            "VerificationKey",
            "VerifierStats",
            "build_protected_resource_metadata",
            "check_scopes",
            "declared_scopes",
            "extract_bearer",
            "metadata_paths",
            "parse_authorization",
            "refusal",
            "require_scopes",
            "www_authenticate",
        ]
    )
    for name in gatepass.rs.__all__:
        assert hasattr(gatepass.rs, name)


def test_rs_imports_without_server_modules() -> None:
    code = (
        "import json, sys, gatepass.rs, gatepass.rs.metadata, gatepass.rs.revocation\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    forbidden = (
        "starlette",
        "fastapi",
        "redis",
        "gatepass.core",
        "gatepass.storage",
        "gatepass.http",
    )
    leaked = [m for m in loaded if m.split(".")[0] in forbidden or m.startswith(forbidden)]
    assert leaked == []
