"""Gatepass agent client: discover, register, get tokens, call protected APIs.

Base install only (stdlib, httpx, pydantic, joserfc)::

    agent = AgentClient("https://api.example.com", credentials_path="~/.config/gatepass/agent.json")
    agent.register("data-analyst-agent", "read:projects", accept_tos=True, use_keys=True)
    with httpx.Client(auth=agent) as http:
        http.get("https://api.example.com/projects")
"""

from gatepass.agent._protocol import AccessToken, Registration, RegistrationRequest
from gatepass.agent.auth import AgentAuth, TokenSource
from gatepass.agent.client import AgentClient
from gatepass.agent.credentials import (
    Credentials,
    client_assertion,
    generate_key,
    load_credentials,
    public_jwks,
    save_credentials,
)
from gatepass.agent.discovery import (
    ResourceMetadata,
    ServerMetadata,
    parse_challenges,
    well_known_url,
)
from gatepass.agent.errors import (
    AgentError,
    CredentialsError,
    DiscoveryError,
    InsufficientScopeError,
    PaymentRequiredError,
    RateLimitedError,
    RegistrationError,
    ServerError,
    TermsRequiredError,
    TokenError,
)

__all__ = [
    "AccessToken",
    "AgentAuth",
    "AgentClient",
    "AgentError",
    "Credentials",
    "CredentialsError",
    "DiscoveryError",
    "InsufficientScopeError",
    "PaymentRequiredError",
    "RateLimitedError",
    "Registration",
    "RegistrationError",
    "RegistrationRequest",
    "ResourceMetadata",
    "ServerError",
    "ServerMetadata",
    "TermsRequiredError",
    "TokenError",
    "TokenSource",
    "client_assertion",
    "generate_key",
    "load_credentials",
    "parse_challenges",
    "public_jwks",
    "save_credentials",
    "well_known_url",
]
