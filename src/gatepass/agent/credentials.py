"""Agent credentials: what registration returned, kept in a file only its owner can read.

The file is JSON written atomically (a temp file opened ``O_CREAT | O_EXCL`` with mode 0600,
fsynced, then renamed over the target), and loading refuses a file that group or others can
read. ``repr()`` never shows the client secret, the private key or the registration token.
For ``private_key_jwt`` the agent keeps an ES256 key pair and signs RFC 7523 §3 assertions.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gatepass.agent.errors import CredentialsError

__all__ = ["Credentials", "client_assertion", "generate_key", "load_credentials",
           "public_jwks", "save_credentials"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORMAT_VERSION = 1


class Credentials(BaseModel):
    """A registered agent's client credentials and where to use them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: int = FORMAT_VERSION
    issuer: str
    token_endpoint: str
    client_id: str
    auth_method: str = "client_secret_basic"
    client_secret: str | None = Field(default=None, repr=False)
    private_jwk: dict[str, Any] | None = Field(default=None, repr=False)
    registration_access_token: str | None = Field(default=None, repr=False)
    registration_client_uri: str | None = None
    scopes: tuple[str, ...] = ()
    pending_scopes: tuple[str, ...] = ()
    agent_name: str | None = None

    @property
    def uses_key(self) -> bool:
        return self.auth_method == "private_key_jwt"


def save_credentials(credentials: Credentials, path: str | os.PathLike[str]) -> Path:
    """Write ``credentials`` to ``path`` (mode 0600, atomic replace); returns the path."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = (credentials.model_dump_json(indent=2) + "\n").encode()
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), 0o600)  # whatever the umask did
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def load_credentials(path: str | os.PathLike[str]) -> Credentials:
    """Read credentials; ``CredentialsError`` if missing, malformed or readable by others."""
    source = Path(path).expanduser()
    try:
        info = source.stat()
        raw = source.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"Cannot read credentials file {source}: {exc.strerror}",
                               error="credentials_unreadable") from None
    if os.name == "posix" and stat.S_IMODE(info.st_mode) & 0o077:
        raise CredentialsError(f"{source} is readable by other users; run: chmod 600 {source}",
                               error="credentials_exposed")
    try:
        return Credentials.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        raise CredentialsError(f"{source} is not a Gatepass agent credentials file",
                               error="credentials_malformed") from None


def generate_key() -> ECKey:
    """A fresh ES256 (P-256) signing key; ``kid`` is its RFC 7638 thumbprint."""
    key = ECKey.generate_key("P-256", private=True)
    return ECKey.import_key(
        {**key.as_dict(private=True), "kid": key.thumbprint(), "alg": "ES256", "use": "sig"})


def public_jwks(key: ECKey) -> dict[str, Any]:
    """The JWK Set to register: the public half only (no ``d`` ever leaves the agent)."""
    public = {k: v for k, v in key.as_dict(private=False).items() if k != "d"}
    return {"keys": [public]}


def client_assertion(private_jwk: Mapping[str, Any], client_id: str, audience: str,
                     now: float, lifetime: int = 60) -> str:
    """An RFC 7523 §3 client assertion: iss = sub = client_id, aud = the token endpoint,
    a fresh ``jti`` and ``exp`` at most ``lifetime`` (≤ 60) seconds ahead."""
    key = ECKey.import_key(dict(private_jwk))
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": int(now),
              "exp": int(now) + min(lifetime, 60), "jti": secrets.token_urlsafe(16)}
    return jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "JWT"}, claims, key)
