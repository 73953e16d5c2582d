"""Software statements from trusted agent frameworks (RFC 7591 §2.3, §3.2.2).

A statement is a JWT signed by a configured issuer: its signature, ``iss``, ``exp`` and audience
(our issuer) are verified; a valid one raises the agent's starting trust level and is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gatepass.clock import Clock
from gatepass.core.client_auth.private_key_jwt import JwksFetcher, verify_with_keys
from gatepass.core.config import AttestationIssuer
from gatepass.errors import InvalidSoftwareStatement
from gatepass.keys import peek_claims

__all__ = ["Attestation", "AttestationVerifier"]

ALGORITHMS = ("ES256", "ES384", "RS256", "PS256", "Ed25519")
LEEWAY = 30
MAX_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class Attestation:
    """A verified statement: who vouched, for which software, and the trust it confers."""

    issuer: str
    trust_level: int
    claims: Mapping[str, Any]


class AttestationVerifier:
    """Verifies software statements against the configured trusted issuers."""

    def __init__(self, issuers: tuple[AttestationIssuer, ...], audience: str, clock: Clock,
                 fetch_jwks: JwksFetcher) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._audience = audience
        self._clock = clock
        self._fetch = fetch_jwks

    async def verify(self, statement: str) -> Attestation:
        if not isinstance(statement, str) or not statement or len(statement) > MAX_BYTES:
            raise InvalidSoftwareStatement("software_statement must be a compact JWT")
        issuer = self._issuers.get(str(peek_claims(statement).get("iss", "")))
        if issuer is None:
            raise InvalidSoftwareStatement("software_statement is not from a trusted issuer")
        try:
            _, claims = await verify_with_keys(statement, issuer.jwks, issuer.jwks_uri,
                                               self._fetch, ALGORITHMS)
        except InvalidSoftwareStatement:
            raise
        except Exception as exc:
            raise InvalidSoftwareStatement(f"software_statement rejected: {exc}") from exc
        self._check_claims(claims, issuer.issuer)
        return Attestation(issuer.issuer, issuer.trust_level, claims)

    def _check_claims(self, claims: Mapping[str, Any], issuer: str) -> None:
        now = self._clock.now()
        if claims.get("iss") != issuer:
            raise InvalidSoftwareStatement("software_statement iss does not match its signer")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + LEEWAY < now:
            raise InvalidSoftwareStatement("software_statement is expired or has no exp")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self._audience not in auds:
            raise InvalidSoftwareStatement(f"software_statement aud must include {self._audience}")
