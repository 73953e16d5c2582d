"""RFC 8414 discovery (both well-known names) and the RFC 7517 JWKS over HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from gp_http_kit import Served

from gatepass.keys import rotate
from gatepass.scopes import DEFAULT_SCOPES

WELL_KNOWN = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")


async def metadata(s: Served) -> dict[str, Any]:
    resp = await s.client.get(WELL_KNOWN[0])
    assert resp.status_code == 200
    return resp.json()  # type: ignore[no-any-return]


async def test_rfc8414_s3_both_well_known_names_serve_the_same_document(served: Served) -> None:
    first, second = [await served.client.get(p) for p in WELL_KNOWN]
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == "public, max-age=300"


@pytest.mark.parametrize("issuer", ["https://example.com/tenant", "https://as.example.com",
                                    "https://example.com:8443/a/b"])
async def test_rfc8414_s2_issuer_is_byte_equal_to_the_configured_issuer(serve: Any,
                                                                        issuer: str) -> None:
    async with serve(issuer=issuer) as s:
        # The app serves from its root; a path in the issuer is the proxy's mount point.
        host = issuer[: issuer.index("/", len("https://"))] if issuer.count("/") > 2 else issuer
        resp = await s.client.get(host + WELL_KNOWN[0])
        doc = resp.json()
        assert doc["issuer"] == issuer
        assert doc["token_endpoint"] == issuer + "/oauth/token"
        assert doc["jwks_uri"] == issuer + "/.well-known/jwks.json"


async def test_rfc8414_s3_1_issuer_with_path_metadata_at_inserted_well_known(serve: Any) -> None:
    async with serve(issuer="https://example.com/tenant") as s:
        resp = await s.client.get("https://example.com/.well-known/oauth-authorization-server"
                                  "/tenant")
        assert resp.status_code == 200
        assert resp.json()["issuer"] == "https://example.com/tenant"
        token = await s.client.post("https://example.com/tenant/oauth/token",
                                    data={"grant_type": "client_credentials"})
        assert token.status_code == 401 and token.json()["error"] == "invalid_client"
        jwks = await s.client.get("https://example.com/tenant/.well-known/jwks.json")
        assert jwks.status_code == 200 and jwks.json()["keys"]


async def test_rfc8414_s2_every_endpoint_is_absolute_under_the_issuer(serve: Any) -> None:
    async with serve(issuer="https://example.com/tenant") as s:
        doc = (await s.client.get("https://example.com" + WELL_KNOWN[0])).json()
        urls = {k: v for k, v in doc.items() if k.endswith(("_endpoint", "_uri"))}
        assert {"token_endpoint", "jwks_uri", "introspection_endpoint",
                "revocation_endpoint"} <= set(urls)
        for name, url in urls.items():
            parts = urlsplit(url)
            assert parts.scheme == "https" and parts.netloc == "example.com", name
            assert url.startswith("https://example.com/tenant/"), name


async def test_rfc8414_s2_advertised_endpoints_are_served(served: Served) -> None:
    doc = await metadata(served)
    for name, url in doc.items():
        if not (name.endswith("_endpoint") or name == "jwks_uri"):
            continue
        path = url.removeprefix(served.issuer)
        resp = await served.client.request("GET" if name == "jwks_uri" else "POST", path)
        assert resp.status_code != 404, f"{name} advertised but not served: {path}"


async def test_rfc8414_s2_auth_signing_algs_never_contain_none(serve: Any) -> None:
    async with serve(assertion_algorithms=["ES256", "none", "RS256"]) as s:
        doc = await metadata(s)
        for name in ("token", "introspection", "revocation"):
            algs = doc[f"{name}_endpoint_auth_signing_alg_values_supported"]
            assert "none" not in algs and algs == ["ES256", "RS256"]


async def test_rfc8414_s2_describes_what_the_server_does(served: Served) -> None:
    doc = await metadata(served)
    server = served.rt.server
    assert "client_credentials" in doc["grant_types_supported"]
    assert doc["grant_types_supported"] == list(server.grants)  # one table, no drift
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= set(
        doc["token_endpoint_auth_methods_supported"])
    assert doc["token_endpoint_auth_methods_supported"] == server.client_auth.names
    for endpoint, name in (("introspect", "introspection"), ("revoke", "revocation")):
        methods = server.endpoint_auth[endpoint].names  # the same tables the endpoints use
        assert doc[f"{name}_endpoint_auth_methods_supported"] == methods
    assert "none" in doc["revocation_endpoint_auth_methods_supported"]
    assert "none" not in doc["introspection_endpoint_auth_methods_supported"]
    assert doc["access_token_signing_alg_values_supported"] == ["ES256"]


async def test_rfc8414_s2_scopes_supported_equals_the_catalog(served: Served) -> None:
    doc = await metadata(served)
    public = [s.name for s in DEFAULT_SCOPES if not s.internal]
    assert doc["scopes_supported"] == public
    assert doc["scopes_supported"] == [s.name for s in served.settings.scopes if not s.internal]
    assert "gatepass:introspect" not in public  # internal scopes are not advertised


async def test_rfc8414_s2_custom_catalog_is_advertised(serve: Any) -> None:
    async with serve(scopes=[{"name": "read:x"}, {"name": "write:x"}]) as s:
        assert (await metadata(s))["scopes_supported"] == ["read:x", "write:x"]


# --- RFC 7517 --------------------------------------------------------------------------------


async def test_rfc7517_s5_jwks_is_public_only_with_kid_alg_use(served: Served) -> None:
    resp = await served.client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "public, max-age=300"
    keys = resp.json()["keys"]
    assert len(keys) == 1
    for jwk in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
        assert jwk["kid"] and jwk["alg"] == "ES256" and jwk["use"] == "sig"
    assert keys[0]["kid"] == served.rt.server.keyring.kid


async def test_rfc7517_s5_jwks_max_age_follows_settings(serve: Any) -> None:
    async with serve(jwks_max_age=42) as s:
        resp = await s.client.get("/.well-known/jwks.json")
        assert resp.headers["cache-control"] == "public, max-age=42"


async def test_rfc7517_s5_jwks_publishes_next_key_before_it_signs(served: Served) -> None:
    rt = served.rt
    signer = rt.server.keyring.kid
    await rotate(rt.stores.keys, rt.server.sealer, "ES256", served.clock, publish_delay=300,
                 token_ttl=3600)
    await rt.reload_keys()
    kids = {k["kid"] for k in (await served.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert len(kids) == 2 and signer in kids
    cid, secret = await served.secret_client()
    token = await served.access_token(cid, secret)
    import base64
    import json

    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == signer
