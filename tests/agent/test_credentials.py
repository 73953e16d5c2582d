"""Credentials files: mode 0600 whatever the umask, atomic replace, refused when exposed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gatepass.agent import (
    Credentials,
    CredentialsError,
    generate_key,
    load_credentials,
    public_jwks,
    save_credentials,
)

SECRET = "gps_very-secret-value"


def creds(**kw: object) -> Credentials:
    values: dict[str, object] = {"issuer": "https://as.example.com", "client_id": "agent_1",
                                 "token_endpoint": "https://as.example.com/oauth/token",
                                 "client_secret": SECRET, "registration_access_token": "gpr_x"}
    values.update(kw)
    return Credentials.model_validate(values)


def test_saved_with_mode_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = save_credentials(creds(), tmp_path / "sub" / "agent.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials(path) == creds()
    assert [p.name for p in path.parent.iterdir()] == ["agent.json"]  # no temp file left


def test_replace_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    path = save_credentials(creds(), tmp_path / "agent.json")
    save_credentials(creds(client_id="agent_2"), path)
    assert load_credentials(path).client_id == "agent_2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = save_credentials(creds(), tmp_path / "agent.json")
    path.chmod(0o644)
    with pytest.raises(CredentialsError, match="chmod 600") as caught:
        load_credentials(path)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"[]", b"{not json", b'{"issuer": 1}'])
def test_malformed_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "agent.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as caught:
        load_credentials(path)
    assert caught.value.error == "credentials_malformed"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as caught:
        load_credentials(tmp_path / "nope.json")
    assert caught.value.error == "credentials_unreadable"


def test_repr_hides_secrets() -> None:
    key = generate_key()
    value = creds(private_jwk=key.as_dict(private=True))
    for text in (repr(value), str(value)):
        assert SECRET not in text and "gpr_x" not in text
        assert str(key.as_dict(private=True)["d"]) not in text


def test_public_jwks_has_no_private_member() -> None:
    jwks = public_jwks(generate_key())
    (key,) = jwks["keys"]
    assert "d" not in key and key["alg"] == "ES256" and key["kid"]
