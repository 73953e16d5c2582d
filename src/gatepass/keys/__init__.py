"""Signing keys: the only server code that touches JOSE (joserfc)."""

from gatepass.keys.keyring import (
    Keyring,
    KeySealer,
    NoKeyVerifies,
    generate_key,
    peek_claims,
    verify_jws_with_jwks,
)
from gatepass.keys.rotation import RotationReport, ensure_signing_key, rotate

__all__ = [
    "KeySealer",
    "Keyring",
    "NoKeyVerifies",
    "RotationReport",
    "ensure_signing_key",
    "generate_key",
    "peek_claims",
    "rotate",
    "verify_jws_with_jwks",
]
