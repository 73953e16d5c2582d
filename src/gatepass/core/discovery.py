"""Authorization-server metadata (RFC 8414 §2), generated from what is enabled.

The same document serves ``/.well-known/oauth-authorization-server`` and
``/.well-known/openid-configuration``; ``issuer`` is byte-equal to the configured issuer and
every endpoint is absolute. Nothing is advertised that the server does not do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gatepass.core.authorize import AUTHORIZE_PATH
from gatepass.core.config import ServerConfig
from gatepass.core.revocation_feed import REVOCATION_FEED_PATH

__all__ = ["build_llms_txt", "build_metadata"]


def build_metadata(
    config: ServerConfig,
    *,
    grant_types: Sequence[str],
    auth_methods: Sequence[str],
    introspection_auth_methods: Sequence[str],
    revocation_auth_methods: Sequence[str],
    assertion_algs: Sequence[str],
    signing_algs: Sequence[str],
    client_id_metadata_documents: bool = False,
) -> dict[str, Any]:
    """The RFC 8414 document for the enabled grants and each endpoint's client-authentication
    methods (public clients, method ``none``: token and revocation, never introspection)."""
    base = config.issuer
    endpoint_algs = [a for a in assertion_algs if a != "none"]
    uses_jwt = "private_key_jwt" in auth_methods
    code_flow = "authorization_code" in grant_types
    doc: dict[str, Any] = {
        "issuer": base,
        "token_endpoint": base + config.token_path,
        "jwks_uri": base + config.jwks_path,
        "scopes_supported": [s.name for s in config.scopes if not s.internal],
        "grant_types_supported": list(grant_types),
        "response_types_supported": ["code"] if code_flow else [],
        "token_endpoint_auth_methods_supported": list(auth_methods),
        "introspection_endpoint": base + config.introspection_path,
        "introspection_endpoint_auth_methods_supported": list(introspection_auth_methods),
        "revocation_endpoint": base + config.revocation_path,
        "revocation_endpoint_auth_methods_supported": list(revocation_auth_methods),
        "revocation_feed_endpoint": base + REVOCATION_FEED_PATH,  # Gatepass extension
        "access_token_signing_alg_values_supported": list(signing_algs),
        "resource_indicators_supported": True,
    }
    if code_flow:  # RFC 6749 §3.1, RFC 7636 §4.3 (S256 only), RFC 9207 §3
        doc["authorization_endpoint"] = base + AUTHORIZE_PATH
        doc["code_challenge_methods_supported"] = ["S256"]
        doc["authorization_response_iss_parameter_supported"] = True
    if client_id_metadata_documents:
        doc["client_id_metadata_document_supported"] = True
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


def build_llms_txt(metadata: dict[str, Any], config: ServerConfig, title: str = "Gatepass") -> str:
    """``/llms.txt`` in the guide's shape, built from the metadata document itself so the two
    cannot disagree."""
    lines = [f"# {title}", "", "> OAuth 2.1 authorization for AI agents: discover, register, "
             "get a token, call the API. No browser, no CAPTCHA.", "", "# Auth", "",
             "## Agent Authentication",
             "Machine-to-machine authentication uses OAuth 2.0 Client Credentials.", "",
             f"- Discovery: GET {config.issuer}/.well-known/openid-configuration"]
    if "agent_registration_url" in metadata:
        lines.append(f"- Registration: POST {metadata['agent_registration_url']}")
    if "registration_endpoint" in metadata:
        lines.append(f"- Dynamic registration (RFC 7591): POST {metadata['registration_endpoint']}"
                     " (authorization-code-only clients need no billing; others send "
                     "billing_token or Authorization: Bearer <billing token>)")
    if "authorization_endpoint" in metadata:
        lines.append(f"- Authorization: GET {metadata['authorization_endpoint']} (no scope: "
                     "the default scopes, those needing no approval or trust, shown to the owner)")
    grants = ", ".join(f"grant_type={g}" for g in metadata["grant_types_supported"])
    lines.append(f"- Token: POST {metadata['token_endpoint']} ({grants})")
    lines.append(f"- Keys: GET {metadata['jwks_uri']}")
    if "agent_documentation" in metadata:
        lines.append(f"- Docs: {metadata['agent_documentation']}")
    if "agent_tos_url" in metadata:
        lines.append(f"- Terms: {metadata['agent_tos_url']}")
    lines += ["", "## Scopes"]
    described = {s.name: s for s in config.scopes}
    for name in metadata["scopes_supported"]:
        spec = described[name]
        note = " (requires owner approval)" if spec.requires_approval else ""
        lines.append(f"- {name} — {spec.description}{note}")
    return "\n".join(lines) + "\n"
