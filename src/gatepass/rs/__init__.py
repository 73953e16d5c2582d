"""Gatepass resource-server toolkit (RFC 6750, RFC 9068, RFC 9728): verify tokens, enforce scopes.

Imports without the ``[server]`` extra: only the standard library, joserfc, httpx and pydantic.
Framework adapters live in ``gatepass.rs.starlette`` and ``gatepass.rs.fastapi``; the Redis
revocation listener imports ``redis`` only when it starts.
"""

from gatepass.rs._bearer import EXPECTED_HEADER, extract_bearer, parse_authorization
from gatepass.rs._responses import Refusal, check_scopes, refusal, www_authenticate
from gatepass.rs.asgi import (
    CONFIG_KEY,
    PRINCIPAL_KEY,
    AnonymousUser,
    BearerAuthMiddleware,
    Credentials,
    PrincipalUser,
    ScopeGuard,
    require_scopes,
)
from gatepass.rs.config import ResourceServerConfig
from gatepass.rs.jwks_cache import JWKSCache, VerificationKey
from gatepass.rs.metadata import (
    WELL_KNOWN_PATH,
    ProtectedResourceMetadata,
    build_protected_resource_metadata,
    declared_scopes,
    metadata_paths,
)
from gatepass.rs.revocation import (
    REVOCATION_CHANNEL,
    ClientCutoffs,
    FeedRevocationChecker,
    IntrospectionChecker,
    MemoryRevocationList,
    RedisRevocationListener,
    RevocationChecker,
    RevocationDenylist,
)
from gatepass.rs.verifier import TokenVerifier, VerifierStats

__all__ = [
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
