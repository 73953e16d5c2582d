"""JWS compact checks before any crypto (RFC 7515 §4.1, §5.2; RFC 8725 §3.1, §3.11; RFC 9068 §4).

The token is parsed here, not by a library that would trust its header: the algorithm must be in
the configured allow-list, ``jku``/``jwk``/``x5u`` are refused, any ``crit`` extension is refused,
``typ`` must be ``at+jwt`` and a ``kid`` is required. Which algorithms a key may verify comes from
the key itself (``kty``, ``crv``, ``alg``), so the token header can never pick a weaker one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from gatepass.errors import InvalidToken

__all__ = ["CompactJWS", "check_header", "key_algorithms", "parse_compact", "verify_signature"]

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_REFUSED_HEADERS = ("jku", "jwk", "x5u")
_UNDERSTOOD_CRIT: frozenset[str] = frozenset()
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_MAX_KID = 256
_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """A decoded JWS compact serialization whose signature is not yet checked."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object, refusing duplicate member names (RFC 7515 §5.2, RFC 8725 §3.10)."""
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise InvalidToken(f"The token {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken(f"The token {what} is not a JSON object")
    return value


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parse_compact(token: str) -> CompactJWS:
    """Split and decode ``header.payload.signature`` (RFC 7515 §7.1); JWE/JSON forms refused."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise InvalidToken("The access token is not a JWS compact serialization")
    try:
        header, payload, signature = (_b64url(p) for p in parts)
    except ValueError:
        raise InvalidToken("The access token is not valid base64url") from None
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return CompactJWS(json_object(header, "header"), payload, signing_input, signature)


def _check_crit(header: dict[str, Any]) -> None:
    if "crit" not in header:
        return
    crit = header["crit"]
    names = crit if isinstance(crit, list) else []
    if not names or not all(isinstance(c, str) and c in _UNDERSTOOD_CRIT for c in names):
        raise InvalidToken("The token marks a header extension critical that is not understood")


def check_header(header: dict[str, Any], allowed: Collection[str]) -> tuple[str, str]:
    """Validate the JOSE header and return ``(alg, kid)`` (RFC 8725 §3.1, §3.11; RFC 9068 §4)."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise InvalidToken("The token signing algorithm is not allowed")
    for name in _REFUSED_HEADERS:
        if name in header:
            raise InvalidToken(f"The token carries a {name} header; keys come only from the JWKS")
    _check_crit(header)
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCESS_TOKEN_TYPES:
        raise InvalidToken("The token type (typ) must be at+jwt (RFC 9068 §4)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID:
        raise InvalidToken("The token has no usable key id (kid)")
    return alg, kid


def _kty_algorithms(key: Key) -> frozenset[str]:
    if isinstance(key, RSAKey):
        return _RSA_ALGS
    if isinstance(key, ECKey):
        alg = _EC_ALGS.get(key.curve_name)
        return frozenset({alg}) if alg else frozenset()
    if isinstance(key, OKPKey) and key.curve_name in ("Ed25519", "Ed448"):
        return frozenset({"EdDSA", key.curve_name})
    return frozenset()


def key_algorithms(key: Key, allowed: Collection[str]) -> frozenset[str]:
    """Algorithms this key may verify: allow-list ∩ ``kty``/``crv`` ∩ the key's own ``alg``."""
    candidates = _kty_algorithms(key) & frozenset(allowed)
    if key.alg:
        candidates &= {key.alg}
    return candidates


def verify_signature(jws: CompactJWS, alg: str, key: Key) -> None:
    """Check the signature with the one algorithm already chosen (RFC 7515 §5.2 step 8)."""
    model = JWSRegistry.algorithms[alg]
    try:
        model.check_key(key)
        valid = model.verify(jws.signing_input, jws.signature, key)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise InvalidToken("The token signature is invalid")
