"""Signing keys (DESIGN §4): RFC 7517 JWKS, sealing at rest, the next -> current -> previous ->
retired lifecycle on a frozen clock, and RFC 7662 introspection across a rotation."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from gatepass.clock import FrozenClock
from gatepass.core.requests import OAuthRequest
from gatepass.keys import Keyring, KeySealer, ensure_signing_key, generate_key, rotate
from gatepass.models import SigningKey
from gatepass.runtime import open_runtime
from gatepass.storage.base import KeyStore, StorageError
from gatepass.storage.memory import MemoryKeyStore, open_memory_stores

from .conftest import Harness, basic, make_settings, unverified_parts

DELAY, TTL = 300.0, 3600.0


def states(keys: list[SigningKey]) -> list[str]:
    return [k.state for k in keys]


@pytest.fixture
def sealer() -> KeySealer:
    return KeySealer([Fernet.generate_key().decode()])


async def rotate_once(store: KeyStore, sealer: KeySealer, clock: FrozenClock,
                      force: bool = False):  # type: ignore[no-untyped-def]
    return await rotate(store, sealer, "ES256", clock, publish_delay=DELAY, token_ttl=TTL,
                        force=force)


# --- sealing at rest -------------------------------------------------------------------------


async def test_keys_private_jwk_is_encrypted_at_rest(sealer: KeySealer) -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    assert await ensure_signing_key(store, sealer, "ES256", clock) is True
    [key] = await store.list_keys()
    private = sealer.unseal(key.private_jwk_encrypted)
    assert private["d"]
    assert private["d"].encode() not in key.private_jwk_encrypted
    assert b'"d"' not in key.private_jwk_encrypted
    assert "d" not in key.public_jwk
    assert key.public_jwk["kid"] == key.kid and key.public_jwk["use"] == "sig"


async def test_keys_ensure_signing_key_is_idempotent(sealer: KeySealer) -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    await ensure_signing_key(store, sealer, "ES256", clock)
    assert await ensure_signing_key(store, sealer, "ES256", clock) is False
    assert states(await store.list_keys()) == ["current"]


def test_keys_wrong_kek_is_a_clear_error(sealer: KeySealer) -> None:
    blob = sealer.seal({"kty": "EC", "d": "secret"})
    with pytest.raises(ValueError, match="wrong key-encryption key"):
        KeySealer([Fernet.generate_key().decode()]).unseal(blob)


def test_keys_sealer_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key-encryption key"):
        KeySealer([])


def test_keys_multifernet_rotation_new_key_first_old_still_decrypts() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    blob = KeySealer([old]).seal({"d": "x"})
    rotated = KeySealer([new, old])
    assert rotated.unseal(blob) == {"d": "x"}
    fresh = rotated.seal({"d": "y"})
    assert KeySealer([new]).unseal(fresh) == {"d": "y"}  # the first key encrypts
    with pytest.raises(ValueError):
        KeySealer([old]).unseal(fresh)


async def test_keys_runtime_with_wrong_kek_fails_clearly(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    stores = open_memory_stores(clock)
    rt = await open_runtime(make_settings(tmp_path), clock=clock, stores=stores)
    await rt.close()
    with pytest.raises(ValueError, match="wrong key-encryption key"):
        await open_runtime(make_settings(tmp_path), clock=clock, stores=stores)


async def test_keys_runtime_after_kek_rotation_still_signs(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    stores = open_memory_stores(clock)
    old = Fernet.generate_key().decode()
    rt = await open_runtime(make_settings(tmp_path, key_encryption_keys=[old]), clock=clock,
                            stores=stores)
    kid = rt.server.keyring.kid
    await rt.close()
    new = Fernet.generate_key().decode()
    rt = await open_runtime(make_settings(tmp_path, key_encryption_keys=[new, old]),
                            clock=clock, stores=stores)
    try:
        assert rt.server.keyring.kid == kid
        assert rt.server.keyring.verify(rt.server.keyring.sign({"x": 1})) == {"x": 1}
    finally:
        await rt.close()


def test_keys_generate_key_rejects_unknown_alg() -> None:
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        generate_key("HS256")


def test_keys_keyring_needs_a_current_key(sealer: KeySealer) -> None:
    with pytest.raises(ValueError, match="no current signing key"):
        Keyring([], sealer)


# --- RFC 7517: the published set -------------------------------------------------------------


async def test_rfc7517_s5_jwks_holds_public_keys_only_with_kid_alg_use(sealer: KeySealer) -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    await ensure_signing_key(store, sealer, "ES256", clock)
    await rotate_once(store, sealer, clock)  # publish a next key
    ring = Keyring(await store.list_keys(), sealer)
    keys = ring.jwks()["keys"]
    assert len(keys) == 2
    for jwk in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
        assert jwk["alg"] == "ES256" and jwk["use"] == "sig" and jwk["kid"]


# --- the lifecycle ---------------------------------------------------------------------------


async def test_keys_rotation_full_lifecycle(sealer: KeySealer) -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    await ensure_signing_key(store, sealer, "ES256", clock)
    [first] = await store.list_keys()
    clock.advance(1)  # list_keys is oldest first

    report = await rotate_once(store, sealer, clock)
    keys = await store.list_keys()
    assert states(keys) == ["current", "next"]
    nxt = keys[1]
    assert report.actions == [f"published {nxt.kid} as next"]
    assert report.next_step_at == clock.now() + DELAY
    ring = Keyring(keys, sealer)
    assert ring.kid == first.kid  # next is published but does not sign
    assert {k["kid"] for k in ring.jwks()["keys"]} == {first.kid, nxt.kid}

    clock.advance(DELAY - 1)
    report = await rotate_once(store, sealer, clock)
    assert report.actions == []  # too early: not promoted
    assert report.next_step_at == clock.now() + 1
    assert states(await store.list_keys()) == ["current", "next"]

    clock.advance(1)
    report = await rotate_once(store, sealer, clock)
    assert states(await store.list_keys()) == ["previous", "current"]
    assert sorted(report.actions) == sorted([f"{first.kid} is now previous",
                                             f"{nxt.kid} is now current"])
    assert report.next_step_at == clock.now() + TTL
    ring = Keyring(await store.list_keys(), sealer)
    assert ring.kid == nxt.kid
    assert {k["kid"] for k in ring.jwks()["keys"]} == {first.kid, nxt.kid}

    clock.advance(TTL - 1)
    await rotate_once(store, sealer, clock)  # publishes a new next; previous still needed
    assert states(await store.list_keys()) == ["previous", "current", "next"]

    clock.advance(1)
    report = await rotate_once(store, sealer, clock)
    assert f"retired {first.kid}" in report.actions
    keys = await store.list_keys()
    assert states(keys) == ["retired", "current", "next"]
    assert first.kid not in {k["kid"] for k in Keyring(keys, sealer).jwks()["keys"]}


async def test_keys_force_promotes_at_once_but_never_retires_early(sealer: KeySealer) -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    await ensure_signing_key(store, sealer, "ES256", clock)
    [a] = await store.list_keys()
    clock.advance(1)
    await rotate_once(store, sealer, clock, force=True)
    b = (await store.list_keys())[-1]
    assert {k.kid: k.state for k in await store.list_keys()} == {a.kid: "previous",
                                                                 b.kid: "current"}
    clock.advance(1)
    await rotate_once(store, sealer, clock, force=True)
    c = (await store.list_keys())[-1]
    assert {k.kid: k.state for k in await store.list_keys()} == {
        a.kid: "previous", b.kid: "previous", c.kid: "current"}
    clock.advance(TTL - 1)
    await rotate_once(store, sealer, clock, force=True)
    got = {k.kid: k.state for k in await store.list_keys()}
    assert (got[a.kid], got[b.kid], got[c.kid]) == ("retired", "previous", "previous")
    assert list(got.values()).count("current") == 1


class FailingKeyStore:
    """A memory key store whose n-th ``set_key_state`` call fails."""

    def __init__(self, inner: MemoryKeyStore, fail_on: int) -> None:
        self.inner = inner
        self.calls = 0
        self.fail_on = fail_on

    async def list_keys(self) -> list[SigningKey]:
        return await self.inner.list_keys()

    async def add_key(self, key: SigningKey) -> None:
        await self.inner.add_key(key)

    async def set_key_state(self, kid, state, at) -> None:  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.fail_on:
            raise StorageError("connection lost")
        await self.inner.set_key_state(kid, state, at)


@pytest.mark.parametrize("fail_on", [1, 2])
async def test_keys_failed_promotion_leaves_a_signing_key(sealer: KeySealer, fail_on: int) -> None:
    """Nothing half-written: a promotion interrupted by a storage failure never leaves the
    server without a current key (the keyring could not be rebuilt: no key signs)."""
    inner, clock = MemoryKeyStore(), FrozenClock()
    await ensure_signing_key(inner, sealer, "ES256", clock)
    await rotate_once(inner, sealer, clock)
    clock.advance(DELAY)
    failing = FailingKeyStore(inner, fail_on)
    with pytest.raises(StorageError):
        await rotate_once(failing, sealer, clock)  # type: ignore[arg-type]
    keys = await inner.list_keys()
    assert "current" in states(keys)
    Keyring(keys, sealer)  # still buildable


# --- RFC 7662 across a rotation --------------------------------------------------------------


async def _introspect(h: Harness, cid: str, secret: str, token: str) -> dict:  # type: ignore[type-arg]
    return await h.server.introspect(OAuthRequest(form={"token": token},
                                                  authorization=basic(cid, secret)))


async def test_keys_tokens_signed_by_previous_key_still_introspect(h: Harness) -> None:
    cid, secret = await h.secret_client()
    old_token = await h.token_for(cid, secret)
    old_kid = h.server.keyring.kid
    await rotate(h.rt.stores.keys, h.server.sealer, "ES256", h.clock, publish_delay=0,
                 token_ttl=3600, force=True)
    await h.rt.reload_keys()
    new_token = await h.token_for(cid, secret)
    assert unverified_parts(new_token)[0]["kid"] != old_kid
    assert unverified_parts(old_token)[0]["kid"] == old_kid
    assert (await _introspect(h, cid, secret, old_token))["active"] is True
    assert (await _introspect(h, cid, secret, new_token))["active"] is True


async def test_keys_tokens_signed_by_retired_key_are_inactive(h: Harness) -> None:
    cid, secret = await h.secret_client()
    old_token = await h.token_for(cid, secret)
    store = h.rt.stores.keys
    await rotate(store, h.server.sealer, "ES256", h.clock, publish_delay=0, token_ttl=60,
                 force=True)
    h.clock.advance(60)
    await rotate(store, h.server.sealer, "ES256", h.clock, publish_delay=0, token_ttl=60)
    await h.rt.reload_keys()
    assert "retired" in states(await store.list_keys())
    assert h.server.keyring.verify(old_token) is None


async def test_keys_signed_token_round_trips_through_verify(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret)
    claims = h.server.keyring.verify(token)
    assert claims is not None and claims["client_id"] == cid
    assert json.loads(json.dumps(claims)) == claims
