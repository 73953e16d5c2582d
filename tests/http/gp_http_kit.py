"""Helpers for the HTTP tests (imported by name: this directory has no ``__init__.py``, since a
package named ``http`` would shadow the standard library)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from typing import Any

import httpx
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import ECKey

from gatepass.clock import FrozenClock
from gatepass.core.client_auth.private_key_jwt import ASSERTION_TYPE
from gatepass.runtime import Runtime
from gatepass.settings import Settings

ISSUER = "https://as.example.com"
API = "https://api.example.com"
NO_STORE = "no-store"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def unverified_claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))  # type: ignore[no-any-return]


class Served:
    """A running app, its runtime and helpers to talk to it."""

    def __init__(self, client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock,
                 settings: Settings) -> None:
        self.client = client
        self.rt = runtime
        self.clock = clock
        self.settings = settings
        self.issuer = settings.issuer
        self.token_endpoint = settings.issuer + "/oauth/token"

    async def secret_client(self, scopes: str = "read:projects write:projects",
                            **fields: Any) -> tuple[str, str]:
        fields.setdefault("operator", "gatepass:" in scopes)  # internal scopes: operator clients
        created = await self.rt.admin.create_client("svc", scopes, **fields)
        assert created.secret is not None
        return created.client.client_id, created.secret

    async def jwt_client(self, scopes: str = "read:projects",
                         **fields: Any) -> tuple[str, ECKey]:
        kid = secrets.token_hex(4)
        key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"},
                                 private=True)
        if "jwks_uri" not in fields:
            fields["jwks"] = {"keys": [key.as_dict(private=False)]}
        created = await self.rt.admin.create_client("agent", scopes, **fields)
        return created.client.client_id, key

    def assertion(self, client_id: str, key: ECKey, **overrides: Any) -> str:
        now = int(self.clock.now())
        claims = {"iss": client_id, "sub": client_id, "aud": self.token_endpoint,
                  "exp": now + 60, "iat": now, "jti": secrets.token_hex(8), **overrides}
        return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])

    @staticmethod
    def assertion_form(assertion: str) -> dict[str, str]:
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}

    async def post(self, path: str, data: Mapping[str, Any] | None = None,
                   auth: tuple[str, str] | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if auth is not None:
            headers["Authorization"] = basic(*auth)
        return await self.client.post(path, data=data, headers=headers, **kw)  # type: ignore[arg-type]

    async def token(self, auth: tuple[str, str] | None = None, **form: Any) -> httpx.Response:
        return await self.post("/oauth/token", {"grant_type": "client_credentials", **form},
                               auth=auth)

    async def access_token(self, cid: str, secret: str, **form: Any) -> str:
        resp = await self.token((cid, secret), **form)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    async def flush_audit(self) -> None:
        await self.rt.server.audit.flush()


def make_http_settings(tmp_path: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "database_url": "memory://",
        "data_dir": tmp_path,
        "resources": [API],
        "key_encryption_keys": [Fernet.generate_key().decode()],
        "secret_pepper": secrets.token_hex(32),
    }
    values.update(overrides)
    return Settings(**values)
