"""Authorization-server metadata (RFC 8414 §2), generated from what is enabled.

The same document serves ``/.well-known/oauth-authorization-server`` and
``/.well-known/openid-configuration``; ``issuer`` is byte-equal to the configured issuer and
every endpoint is absolute. Nothing is advertised that the server does not do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gatepass.core.config import ServerConfig

__all__ = ["build_metadata"]


def build_metadata(
    config: ServerConfig,
    *,
    grant_types: Sequence[str],
    auth_methods: Sequence[str],
    assertion_algs: Sequence[str],
    signing_algs: Sequence[str],
) -> dict[str, Any]:
    """The RFC 8414 document for the enabled grants and client-authentication methods."""
    base = config.issuer
    endpoint_algs = [a for a in assertion_algs if a != "none"]
    uses_jwt = "private_key_jwt" in auth_methods
    doc: dict[str, Any] = {
        "issuer": base,
        "token_endpoint": base + config.token_path,
        "jwks_uri": base + config.jwks_path,
        "scopes_supported": [s.name for s in config.scopes if not s.internal],
        "grant_types_supported": list(grant_types),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": list(auth_methods),
        "introspection_endpoint": base + config.introspection_path,
        "introspection_endpoint_auth_methods_supported": list(auth_methods),
        "revocation_endpoint": base + config.revocation_path,
        "revocation_endpoint_auth_methods_supported": list(auth_methods),
        "access_token_signing_alg_values_supported": list(signing_algs),
        "resource_indicators_supported": True,
    }
    if config.registration_path:
        policy = config.agents
        doc["registration_endpoint"] = base + config.registration_path
        doc["agent_registration_url"] = base + config.agent_registration_path
        doc["agent_documentation"] = _absolute(base, policy.documentation_url)
        doc["agent_tos_url"] = _absolute(base, policy.tos_url)
        doc["rate_limit_tiers"] = {k: dict(v) for k, v in policy.rate_limits.items()}
    if uses_jwt:
        for name in ("token", "introspection", "revocation"):
            doc[f"{name}_endpoint_auth_signing_alg_values_supported"] = endpoint_algs
    doc.update(config.extra_metadata)
    return doc


def _absolute(base: str, url: str) -> str:
    return url if "://" in url else base + url
