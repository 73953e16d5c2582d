"""Signing key + verification set (RFC 7517 JWKS, RFC 7515 JWS, RFC 9068 §2.1 header).

Private keys are sealed at rest with MultiFernet under the key-encryption keys from settings.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from gatepass.models import SigningKey

__all__ = ["KeySealer", "Keyring", "NoKeyVerifies", "generate_key", "peek_claims",
           "verify_jws_with_jwks"]

AnyKey = ECKey | RSAKey | OKPKey
PUBLISHED_STATES = ("next", "current", "previous")
_KTY_ALGS = {"EC": {"ES256", "ES384", "ES512"}, "RSA": {"RS256", "PS256", "RS384", "PS384"},
             "OKP": {"Ed25519", "EdDSA"}}


class KeySealer:
    """Encrypts private JWKs at rest with MultiFernet (the first key encrypts; all decrypt)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one key-encryption key is required")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def seal(self, jwk: Mapping[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(dict(jwk)).encode())

    def unseal(self, blob: bytes) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(blob))  # type: ignore[no-any-return]
        except InvalidToken as exc:
            raise ValueError("cannot decrypt signing key: wrong key-encryption key") from exc


def generate_key(alg: str, kid: str | None = None) -> AnyKey:
    """A new private key for ``alg`` (ES256, RS256 or Ed25519) with ``kid``, ``alg`` and ``use``."""
    params: dict[str, Any] = {"kid": kid or secrets.token_urlsafe(12), "alg": alg, "use": "sig"}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params, private=True)  # type: ignore[arg-type]
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=params, private=True)  # type: ignore[arg-type]
    if alg == "Ed25519":
        return OKPKey.generate_key("Ed25519", parameters=params, private=True)  # type: ignore[arg-type]
    raise ValueError(f"unsupported signing algorithm: {alg}")


def _import(jwk: Mapping[str, Any]) -> AnyKey:
    kty = jwk.get("kty")
    cls = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}.get(str(kty))
    if cls is None:
        raise ValueError(f"unsupported key type: {kty}")
    return cls.import_key(dict(jwk))  # type: ignore[attr-defined, no-any-return]


class Keyring:
    """The current signing key and the published verification keys, built from stored keys."""

    def __init__(self, keys: Sequence[SigningKey], sealer: KeySealer) -> None:
        published = [k for k in keys if k.state in PUBLISHED_STATES]
        current = [k for k in published if k.state == "current"]
        if not current:
            raise ValueError("no current signing key")
        signer = current[-1]
        self.kid = signer.kid
        self.alg = signer.alg
        self._key = _import(sealer.unseal(signer.private_jwk_encrypted))
        self._header = {"typ": "at+jwt", "alg": signer.alg, "kid": signer.kid}
        self._algs = [signer.alg]
        self._jwks = {"keys": [dict(k.public_jwk) for k in published]}
        self._verify_set = KeySet([_import(k.public_jwk) for k in published])
        self._verify_algs = sorted({k.alg for k in published})

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims`` with the RFC 9068 header (``typ: at+jwt``, ``kid``)."""
        return jwt.encode(self._header, dict(claims), self._key, algorithms=self._algs)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS: next, current and previous keys."""
        return self._jwks

    def verify(self, token: str) -> dict[str, Any] | None:
        """Claims of a token this server signed with a published key; None if it is not one."""
        try:
            header = jws.extract_compact(token.encode()).protected
            if header.get("typ") != "at+jwt":
                return None
            return dict(jwt.decode(token, self._verify_set, algorithms=self._verify_algs).claims)
        except (JoseError, ValueError, TypeError, KeyError):
            return None


class NoKeyVerifies(ValueError):
    """No key of the JWKS verifies the signature (unknown ``kid``, or a key since rotated)."""


def verify_jws_with_jwks(
    token: str, jwks: Mapping[str, Any], algorithms: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS against a client's JWKS; returns (header, claims).

    The algorithm must be in ``algorithms`` and fit the key's type; key material named in the
    header (``jwk``, ``jku``, ``x5u``, ``x5c``) is never used. Raises ``ValueError`` on failure:
    :class:`NoKeyVerifies` when the token is well formed but no key of the set verifies it.
    """
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError("malformed JWS") from exc
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise ValueError(f"algorithm {alg!r} not allowed")
    if any(h in header for h in ("jwk", "jku", "x5u", "x5c")):
        raise ValueError("key material in the JWS header is not accepted")
    candidates = [
        k for k in jwks.get("keys", [])
        if isinstance(k, Mapping) and alg in _KTY_ALGS.get(str(k.get("kty")), set())
        and k.get("use", "sig") == "sig" and k.get("alg", alg) == alg
        and ("kid" not in header or k.get("kid") == header.get("kid"))
    ]
    for jwk in candidates:
        try:
            tok = jwt.decode(token, _import(jwk), algorithms=[alg])
        except (JoseError, ValueError, TypeError, KeyError):  # KeyError: unknown "crv"
            continue
        return dict(tok.header), dict(tok.claims)
    raise NoKeyVerifies("signature does not verify with any registered key")


def peek_claims(token: str) -> dict[str, Any]:
    """The UNVERIFIED payload of a compact JWS, only to find which keys to verify it with;
    ``{}`` when it is not one."""
    try:
        claims = jws.extract_compact(token.encode()).payload
        data = json.loads(claims)
    except (JoseError, ValueError, TypeError, RecursionError):  # deeply nested JSON
        return {}
    return data if isinstance(data, dict) else {}
