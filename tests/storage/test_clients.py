"""ClientStore contract: clients and secrets round-trip, conflicts leave nothing half-written."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gatepass.models import Client, ClientSecret
from gatepass.storage.base import ConflictError, Stores

T0 = 1_800_000_000.123456


def full_client(client_id: str = "agent-1", created_at: float = T0) -> Client:
    return Client(
        client_id=client_id,
        name="Research agent ✓",
        created_at=created_at,
        status="pending",
        allowed_scopes=("read:docs", "write:docs", "agent:self"),
        default_scopes=("read:docs",),
        allowed_resources=("https://api.example.com", "https://mcp.example.com/mcp"),
        grant_types=("client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [{"kty": "EC", "crv": "P-256", "x": "f83O", "y": "x_FE", "kid": "k1"}]},
        jwks_uri="https://agent.example.com/jwks.json",
        agent_type="autonomous",
        owner="owner@example.com",
        tier="premium",
        trust_level=3,
        metadata={"contacts": ["ops@example.com"], "tos_accepted": True, "nested": {"n": 1.5}},
        registration_token_digest="hmac-rat",
        registration_fingerprint=f"fp-{client_id}",  # unique per client (the store's index)
        operator=True,
    )


def secret(secret_id: str, client_id: str = "agent-1", at: float = T0) -> ClientSecret:
    return ClientSecret(secret_id, client_id, digest=f"hmac-{secret_id}", created_at=at)


async def test_create_and_get_round_trip_every_field(stores: Stores) -> None:
    client = full_client()
    unset = [f.name for f in dataclasses.fields(Client) if getattr(client, f.name) == f.default]
    assert unset == [], "full_client() must set every field"
    await stores.clients.create_client(client)
    assert await stores.clients.get_client("agent-1") == client


async def test_defaults_round_trip(stores: Stores) -> None:
    client = Client(client_id="plain", name="Plain", created_at=T0)
    await stores.clients.create_client(client)
    got = await stores.clients.get_client("plain")
    assert got == client
    assert got is not None and got.jwks is None and got.metadata == {}


async def test_get_unknown_client_is_none(stores: Stores) -> None:
    assert await stores.clients.get_client("nobody") is None


async def test_update_replaces_the_record(stores: Stores) -> None:
    await stores.clients.create_client(full_client())
    changed = dataclasses.replace(
        full_client(), status="active", allowed_scopes=("read:docs",), jwks=None, metadata={}
    )
    await stores.clients.update_client(changed)
    assert await stores.clients.get_client("agent-1") == changed


async def test_update_unknown_client_raises_key_error(stores: Stores) -> None:
    with pytest.raises(KeyError):
        await stores.clients.update_client(full_client("ghost"))


async def test_list_clients_oldest_first(stores: Stores) -> None:
    later, earlier = full_client("b", T0 + 10), full_client("a", T0)
    await stores.clients.create_client(later)
    await stores.clients.create_client(earlier)
    assert await stores.clients.list_clients() == [earlier, later]


async def test_duplicate_id_conflicts_and_writes_nothing(stores: Stores) -> None:
    original = full_client()
    await stores.clients.create_client(original, [secret("s1")])
    impostor = dataclasses.replace(original, name="Impostor")
    with pytest.raises(ConflictError):
        await stores.clients.create_client(impostor, [secret("s2")])
    assert await stores.clients.get_client("agent-1") == original
    assert await stores.clients.list_secrets("agent-1") == [secret("s1")]


async def test_failing_secret_insert_leaves_no_client(stores: Stores) -> None:
    with pytest.raises(ConflictError):
        await stores.clients.create_client(full_client(), [secret("dup"), secret("dup")])
    assert await stores.clients.get_client("agent-1") is None
    assert await stores.clients.list_secrets("agent-1") == []
    assert await stores.clients.list_clients() == []


async def test_secret_of_another_client_is_refused(stores: Stores) -> None:
    with pytest.raises(ValueError, match="belong"):
        await stores.clients.create_client(full_client(), [secret("s1", client_id="other")])
    assert await stores.clients.get_client("agent-1") is None


async def test_secrets_add_list_expire_delete(stores: Stores) -> None:
    first, second = secret("s1", at=T0), secret("s2", at=T0 + 5)
    await stores.clients.create_client(full_client(), [first])
    await stores.clients.add_secret(second)
    assert await stores.clients.list_secrets("agent-1") == [first, second]

    await stores.clients.expire_secret("s1", T0 + 60)
    expired = dataclasses.replace(first, expires_at=T0 + 60)
    assert await stores.clients.list_secrets("agent-1") == [expired, second]

    await stores.clients.delete_secret("s1")
    await stores.clients.delete_secret("s1")  # deleting again is a no-op
    assert await stores.clients.list_secrets("agent-1") == [second]


async def test_secret_errors(stores: Stores) -> None:
    await stores.clients.create_client(full_client(), [secret("s1")])
    with pytest.raises(ConflictError):
        await stores.clients.add_secret(secret("s1"))
    with pytest.raises(KeyError):
        await stores.clients.add_secret(secret("s9", client_id="ghost"))
    with pytest.raises(KeyError):
        await stores.clients.expire_secret("unknown", T0)
    assert await stores.clients.list_secrets("agent-1") == [secret("s1")]


async def test_fifty_concurrent_creates_all_land(stores: Stores) -> None:
    made = [full_client(f"c{i:02d}", T0 + i) for i in range(50)]
    await asyncio.gather(
        *(stores.clients.create_client(c, [secret(f"s{c.client_id}", c.client_id)]) for c in made)
    )
    assert await stores.clients.list_clients() == made
    for client in made:
        assert len(await stores.clients.list_secrets(client.client_id)) == 1


async def test_find_by_registration_token(stores: Stores) -> None:
    client = full_client()
    await stores.clients.create_client(client)
    await stores.clients.create_client(Client("plain", "Plain", T0))  # no digest at all
    assert await stores.clients.find_by_registration_token("hmac-rat") == client
    assert await stores.clients.find_by_registration_token("hmac-other") is None


async def test_find_by_registration_token_follows_updates(stores: Stores) -> None:
    await stores.clients.create_client(full_client())
    rotated = dataclasses.replace(full_client(), registration_token_digest="hmac-rat-2")
    await stores.clients.update_client(rotated)
    assert await stores.clients.find_by_registration_token("hmac-rat") is None
    assert await stores.clients.find_by_registration_token("hmac-rat-2") == rotated


def fingerprinted(client_id: str, at: float, fingerprint: str = "fp-0123") -> Client:
    return dataclasses.replace(
        full_client(client_id, at),
        registration_fingerprint=fingerprint,
        registration_token_digest=f"rat-{client_id}",
    )


async def test_find_by_fingerprint_returns_the_one_in_the_window(stores: Stores) -> None:
    old, new = fingerprinted("old", T0), fingerprinted("new", T0 + 20)
    other = fingerprinted("other", T0 + 100, fingerprint="fp-9999")
    for client in (old, other):
        await stores.clients.create_client(client)
    assert await stores.clients.find_by_fingerprint("fp-0123", 0.0) == old
    assert await stores.clients.find_by_fingerprint("fp-0123", T0 + 0.5) is None
    assert await stores.clients.find_by_fingerprint("fp-9999", T0) == other
    assert await stores.clients.find_by_fingerprint("fp-unknown", 0.0) is None
    with pytest.raises(ConflictError):  # one client per fingerprint: the unique index
        await stores.clients.create_client(new)
    assert await stores.clients.get_client("new") is None
    await stores.clients.release_fingerprint("fp-0123", before=T0)  # bound excluded: kept
    with pytest.raises(ConflictError):
        await stores.clients.create_client(new)
    await stores.clients.release_fingerprint("fp-0123", before=T0 + 1)
    released = await stores.clients.get_client("old")
    assert released is not None and released.registration_fingerprint is None
    await stores.clients.create_client(new)
    assert await stores.clients.find_by_fingerprint("fp-0123", 0.0) == new
    assert await stores.clients.find_by_fingerprint("fp-0123", T0 + 20) == new  # bound included
    assert await stores.clients.find_by_fingerprint("fp-0123", T0 + 20.5) is None
    assert await stores.clients.find_by_fingerprint("fp-9999", T0) == other


async def test_find_by_fingerprint_ignores_clients_without_one(stores: Stores) -> None:
    await stores.clients.create_client(Client("plain", "Plain", T0))
    assert await stores.clients.find_by_fingerprint("", 0.0) is None


async def test_delete_client_removes_it_and_its_secrets(stores: Stores) -> None:
    keep = full_client("keep", T0)
    keep = dataclasses.replace(keep, registration_token_digest="rat-keep")
    await stores.clients.create_client(full_client(), [secret("s1"), secret("s2", at=T0 + 1)])
    await stores.clients.create_client(keep, [secret("k1", "keep")])

    await stores.clients.delete_client("agent-1")

    assert await stores.clients.get_client("agent-1") is None
    assert await stores.clients.list_secrets("agent-1") == []
    assert await stores.clients.list_clients() == [keep]
    assert await stores.clients.list_secrets("keep") == [secret("k1", "keep")]
    assert await stores.clients.find_by_registration_token("hmac-rat") is None
    assert await stores.clients.find_by_fingerprint("fp-agent-1", 0.0) is None
    assert await stores.clients.find_by_fingerprint("fp-keep", 0.0) == keep


async def test_delete_unknown_client_raises_key_error(stores: Stores) -> None:
    with pytest.raises(KeyError):
        await stores.clients.delete_client("ghost")
    await stores.clients.create_client(full_client())
    await stores.clients.delete_client("agent-1")
    with pytest.raises(KeyError):
        await stores.clients.delete_client("agent-1")


async def test_deleted_id_and_secret_ids_can_be_reused(stores: Stores) -> None:
    await stores.clients.create_client(full_client(), [secret("s1")])
    await stores.clients.delete_client("agent-1")
    again = dataclasses.replace(full_client(), name="Again")
    await stores.clients.create_client(again, [secret("s1")])
    assert await stores.clients.get_client("agent-1") == again
    assert await stores.clients.list_secrets("agent-1") == [secret("s1")]
