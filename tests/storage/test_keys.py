"""KeyStore contract: keys round-trip, list oldest first, change state."""

from __future__ import annotations

import dataclasses

import pytest

from gatepass.models import KeyState, SigningKey
from gatepass.storage.base import ConflictError, Stores

T0 = 1_800_000_000.0


def key(kid: str, created_at: float, state: KeyState = "next") -> SigningKey:
    return SigningKey(
        kid=kid,
        alg="ES256",
        state=state,
        public_jwk={"kty": "EC", "crv": "P-256", "x": "abc", "y": "def", "kid": kid},
        private_jwk_encrypted=b"gAAAA\x00\xff" + kid.encode(),
        created_at=created_at,
        state_changed_at=created_at,
    )


async def test_add_and_list_oldest_first(stores: Stores) -> None:
    newer, older = key("k2", T0 + 100, "next"), key("k1", T0, "current")
    await stores.keys.add_key(newer)
    await stores.keys.add_key(older)
    assert await stores.keys.list_keys() == [older, newer]


async def test_duplicate_kid_conflicts(stores: Stores) -> None:
    await stores.keys.add_key(key("k1", T0))
    with pytest.raises(ConflictError):
        await stores.keys.add_key(key("k1", T0 + 1))
    assert await stores.keys.list_keys() == [key("k1", T0)]


async def test_set_key_state(stores: Stores) -> None:
    await stores.keys.add_key(key("k1", T0))
    await stores.keys.set_key_state("k1", "current", T0 + 600)
    expected = dataclasses.replace(key("k1", T0), state="current", state_changed_at=T0 + 600)
    assert await stores.keys.list_keys() == [expected]


async def test_set_state_of_unknown_key_raises_key_error(stores: Stores) -> None:
    with pytest.raises(KeyError):
        await stores.keys.set_key_state("nope", "retired", T0)
