"""The agent package's public surface and its import boundary (DESIGN §1, base install)."""

from __future__ import annotations

import json
import subprocess
import sys

import gatepass.agent


def test_all_is_pinned() -> None:
    assert gatepass.agent.__all__ == sorted(gatepass.agent.__all__, key=str)
    assert set(gatepass.agent.__all__) == {
        "AccessToken", "AgentAuth", "AgentClient", "AgentError", "Credentials",
        "CredentialsError", "DiscoveryError", "InsufficientScopeError", "PaymentRequiredError",
        "RateLimitedError", "Registration", "RegistrationError", "RegistrationRequest",
        "ResourceMetadata", "ServerError", "ServerMetadata", "TermsRequiredError", "TokenError",
        "TokenSource", "client_assertion", "generate_key", "load_credentials",
        "parse_challenges", "public_jwks", "save_credentials", "well_known_url",
    }
    assert all(hasattr(gatepass.agent, name) for name in gatepass.agent.__all__)


SERVER_ONLY = ("starlette", "fastapi", "sqlalchemy", "alembic", "typer", "uvicorn", "redis",
               "structlog", "limits", "jinja2", "argon2", "prometheus_client")


def test_imports_only_the_base_install() -> None:
    """A fresh interpreter: gatepass.agent loads no server code and no server extra."""
    code = ("import sys, json, gatepass.agent; "
            "print(json.dumps(sorted(m for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    loaded = json.loads(out)
    allowed = {"gatepass", "gatepass.errors", "gatepass.models", "gatepass.clock",
               "gatepass.scopes"}
    ours = [m for m in loaded if m.startswith("gatepass") and m not in allowed]
    assert [m for m in ours if not m.startswith("gatepass.agent")] == []
    assert [m for m in loaded if m.split(".")[0] in SERVER_ONLY] == []
