"""Wiring (DESIGN §7.7): settings validation, local secrets, injected clock, client cache."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError
from gatepass.keys import rotate
from gatepass.runtime import local_secrets, open_runtime
from gatepass.settings import Settings
from gatepass.storage.memory import open_memory_stores

from .conftest import ISSUER, Harness, HarnessFactory, basic, make_settings, unverified_parts


@pytest.mark.parametrize("issuer", ["https://as.example.com?x=1", "https://as.example.com#f",
                                    "ftp://as.example.com", "as.example.com"])
def test_rfc8414_s2_issuer_must_be_an_url_without_query_or_fragment(tmp_path: Path,
                                                                     issuer: str) -> None:
    with pytest.raises(ValidationError):
        Settings(issuer=issuer, database_url="memory://", data_dir=tmp_path)


def test_rfc8414_s2_issuer_trailing_slash_is_normalised(tmp_path: Path) -> None:
    settings = Settings(issuer="https://example.com/tenant/", data_dir=tmp_path)
    assert settings.issuer == "https://example.com/tenant"
    assert settings.endpoint("/oauth/token") == "https://example.com/tenant/oauth/token"


def test_settings_masked_hides_every_secret(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url="postgresql://u:pw1@h/db",
                             redis_url="redis://:pw2@r:6379/0")
    masked = settings.masked()
    text = repr(masked)
    assert "pw1" not in text and "pw2" not in text
    assert settings.secret_pepper is not None
    assert settings.secret_pepper.get_secret_value() not in text
    for kek in settings.key_encryption_keys:
        assert kek.get_secret_value() not in text
    assert masked["database_url"] == "postgresql://u:**********@h/db"


def test_runtime_local_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(database_url="memory://", data_dir=tmp_path / "data")
    keks, pepper = local_secrets(settings)
    path = tmp_path / "data" / "secrets.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert local_secrets(settings) == (keks, pepper)  # stable across starts
    assert len(pepper) >= 32


def test_runtime_configured_secrets_win_and_write_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    keks, pepper = local_secrets(settings)
    assert keks == [k.get_secret_value() for k in settings.key_encryption_keys]
    assert settings.secret_pepper is not None
    assert pepper == settings.secret_pepper.get_secret_value().encode()
    assert not (tmp_path / "data" / "secrets.json").exists()


async def test_runtime_restart_with_generated_secrets_keeps_clients_and_keys(
    tmp_path: Path, clock: Any
) -> None:
    stores = open_memory_stores(clock)
    settings = Settings(issuer=ISSUER, database_url="memory://", data_dir=tmp_path)
    rt = await open_runtime(settings, clock=clock, stores=stores)
    created = await rt.admin.create_client("svc", "read:projects")
    kid = rt.server.keyring.kid
    await rt.close()
    rt = await open_runtime(settings, clock=clock, stores=stores)
    try:
        assert rt.server.keyring.kid == kid
        assert created.secret is not None
        body = await rt.server.token(OAuthRequest(
            form={"grant_type": "client_credentials"},
            authorization=basic(created.client.client_id, created.secret)))
        assert body["scope"] == "read:projects"
    finally:
        await rt.close()


async def test_runtime_memory_backend_uses_the_injected_clock(tmp_path: Path, clock: Any) -> None:
    rt = await open_runtime(make_settings(tmp_path), clock=clock)
    try:
        replay = rt.stores.replay
        assert await replay.add_once("k", clock.now() + 10) is True
        assert await replay.add_once("k", clock.now() + 10) is False
        clock.advance(11)
        assert await replay.add_once("k", clock.now() + 10) is True
    finally:
        await rt.close()


async def test_directory_changes_by_another_process_are_seen_within_cache_ttl(
    h: Harness,
) -> None:
    cid, secret = await h.secret_client()
    await h.token_for(cid, secret)  # cached now
    client = await h.rt.stores.clients.get_client(cid)
    assert client is not None
    await h.rt.stores.clients.update_client(dataclasses.replace(client, status="disabled"))
    assert await h.token_for(cid, secret)  # still cached (another process changed it)
    h.clock.advance(h.rt.settings.client_cache_ttl)
    with pytest.raises(OAuthError) as info:
        await h.token_for(cid, secret)
    assert info.value.description == "Client is disabled"


async def test_directory_is_invalidated_by_admin_actions_at_once(h: Harness) -> None:
    cid, secret = await h.secret_client()
    await h.token_for(cid, secret)
    await h.admin.set_status(cid, "disabled")
    with pytest.raises(OAuthError):
        await h.token_for(cid, secret)


async def test_keys_rotation_to_another_algorithm_keeps_old_tokens_valid(
    make_harness: HarnessFactory,
) -> None:
    async with make_harness(signing_alg="RS256") as h:
        cid, secret = await h.secret_client()
        old = await h.token_for(cid, secret)
        await rotate(h.rt.stores.keys, h.server.sealer, "ES256", h.clock, publish_delay=0,
                     token_ttl=3600, force=True)
        await h.rt.reload_keys()
        new = await h.token_for(cid, secret)
        assert unverified_parts(old)[0]["alg"] == "RS256"
        assert unverified_parts(new)[0]["alg"] == "ES256"
        for token in (old, new):
            answer = await h.server.introspect(OAuthRequest(form={"token": token},
                                                            authorization=basic(cid, secret)))
            assert answer["active"] is True
        jwks_algs = sorted(k["alg"] for k in h.server.keyring.jwks()["keys"])
        assert jwks_algs == ["ES256", "RS256"]


def test_an_empty_redis_url_means_none_and_a_wrong_scheme_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPASS_REDIS_URL", "")
    assert make_settings(tmp_path).redis_url is None
    monkeypatch.setenv("GATEPASS_REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ValidationError, match="redis_url"):
        make_settings(tmp_path)
