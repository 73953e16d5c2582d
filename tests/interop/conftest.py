"""A real Gatepass server for the third-party clients (DESIGN §7.8): uvicorn in a subprocess.

``gatepass_server`` (session scope) runs ``python -m uvicorn gatepass.http.asgi:app --factory``
on a free loopback port against a fresh SQLite file, waits for ``/healthz`` (bounded) and always
terminates the process. Clients are created with the ``gatepass`` CLI against the same database
while the server runs, so every test here also proves that the CLI and a live server share it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from joserfc.jwk import ECKey, RSAKey

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
SECRET_SCOPES = "read:projects write:projects read:analytics"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class GatepassServer:
    """A running server process and the environment its CLI must share."""

    base_url: str
    env: Mapping[str, str]
    data_dir: Path
    log: Path

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.base_url}/oauth/introspect"

    @property
    def revocation_endpoint(self) -> str:
        return f"{self.base_url}/oauth/revoke"

    @property
    def jwks_uri(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    def cli(self, *args: str) -> str:
        """Run ``gatepass ARGS`` against the server's database; its stdout."""
        done = subprocess.run(
            [str(BIN / "gatepass"), *args], env=dict(self.env), capture_output=True, text=True,
            timeout=CLI_TIMEOUT, check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"gatepass {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done.stdout

    def create_client(self, name: str, scope: str, jwks: Mapping[str, Any] | None = None
                      ) -> dict[str, Any]:
        """``gatepass clients create --json``; with ``jwks`` the client uses private_key_jwt."""
        args = ["clients", "create", "--name", name, "--scope", scope, "--json"]
        if jwks is not None:
            path = self.data_dir / f"{name}.jwks.json"
            path.write_text(json.dumps(jwks))
            args += ["--jwks", str(path)]
        created: dict[str, Any] = json.loads(self.cli(*args))
        return created


def _server_env(tmp: Path, port: int, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    env.update({
        "GATEPASS_ISSUER": f"http://127.0.0.1:{port}",
        "GATEPASS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'gp.db'}",
        "GATEPASS_DATA_DIR": str(tmp),
        "GATEPASS_DEVELOPMENT": "true",
        **extra,
    })
    return env


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"server not healthy after {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}")


@contextmanager
def run_server(tmp: Path, **extra_env: str) -> Iterator[GatepassServer]:
    """Start uvicorn on a free port with a fresh SQLite database under ``tmp``; stop it on exit."""
    port = free_port()
    env = _server_env(tmp, port, extra_env)
    log = tmp / "server.log"
    cmd = [str(BIN / "python"), "-m", "uvicorn", "gatepass.http.asgi:app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(proc, base, log)
        yield GatepassServer(base, env, tmp, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def gatepass_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatepassServer]:
    with run_server(tmp_path_factory.mktemp("gatepass")) as server:
        yield server


@pytest.fixture(scope="session")
def secret_client(gatepass_server: GatepassServer) -> dict[str, Any]:
    """A client_secret_basic client (client_secret_post works for it too)."""
    created = gatepass_server.create_client("interop-secret", SECRET_SCOPES)
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["client_secret"].startswith("gps_")
    return created


def signing_key(alg: str) -> ECKey | RSAKey:
    """A fresh private key for a ``private_key_jwt`` client, with ``kid``, ``alg`` and ``use``."""
    params = {"kid": f"interop-{alg.lower()}", "alg": alg, "use": "sig"}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params, private=True)  # type: ignore[arg-type]
    return RSAKey.generate_key(2048, parameters=params, private=True)  # type: ignore[arg-type]


@dataclass(frozen=True)
class KeyClient:
    client_id: str
    key: ECKey | RSAKey
    alg: str


@pytest.fixture(scope="session", params=["ES256", "RS256"])
def key_client(request: pytest.FixtureRequest, gatepass_server: GatepassServer) -> KeyClient:
    """A private_key_jwt client registered with ``--jwks`` (its public key only)."""
    alg: str = request.param
    key = signing_key(alg)
    created = gatepass_server.create_client(
        f"interop-{alg.lower()}", "read:projects", jwks={"keys": [key.as_dict(private=False)]}
    )
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    assert created["client_secret"] is None
    return KeyClient(created["client_id"], key, alg)


@pytest.fixture(scope="session")
def jwks_client(gatepass_server: GatepassServer) -> jwt.PyJWKClient:
    """PyJWT's JWKS client pointed at the server's published keys."""
    return jwt.PyJWKClient(gatepass_server.jwks_uri)


def decode_access_token(
    token: str, server: GatepassServer, jwks: jwt.PyJWKClient, *, audience: str | None = None
) -> dict[str, Any]:
    """Verify an access token the way an independent resource server would (PyJWT + JWKS):
    RFC 9068 §2.1 header (``typ: at+jwt``, ``kid``), ES256 only, ``iss``, ``aud``, ``exp``."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    key = jwks.get_signing_key(header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["ES256"], audience=audience or server.issuer,
        issuer=server.issuer, options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    return claims
