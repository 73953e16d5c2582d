"""Client secrets (DESIGN §4) and the audit trail (DESIGN §6): what is stored, what is logged."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatepass.core.audit import Auditor
from gatepass.core.credentials import SECRET_PREFIX, SecretHasher, new_client_id, new_secret
from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidClientMetadata, InvalidScope, OAuthError
from gatepass.models import AuditEvent
from gatepass.observability.logging import REDACTED, SENSITIVE_TEXT, _record, _scrub, redact
from gatepass.storage.base import ConflictError, StorageError
from gatepass.storage.memory import MemoryAuditLog, MemoryClientStore, open_memory_stores

from .conftest import Harness, HarnessFactory, basic


def everything(events: list[AuditEvent]) -> str:
    return repr(events)


# --- secrets ---------------------------------------------------------------------------------


def test_secrets_are_prefixed_and_carry_256_random_bits() -> None:
    secrets_ = {new_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for s in secrets_:
        assert s.startswith(SECRET_PREFIX) and SECRET_PREFIX == "gps_"
        body = s[len(SECRET_PREFIX):]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body)
        assert len(base64.urlsafe_b64decode(body + "=")) * 8 >= 256


def test_secrets_client_ids_are_server_chosen() -> None:
    cid = new_client_id()
    assert re.fullmatch(r"client_[0-9a-f]{24}", cid)
    assert new_client_id("agent_").startswith("agent_")


def test_secrets_digest_is_hmac_sha256_with_the_pepper() -> None:
    pepper = b"p" * 32
    hasher = SecretHasher(pepper)
    assert hasher.digest("gps_x") == hmac.new(pepper, b"gps_x", hashlib.sha256).hexdigest()
    assert SecretHasher(b"q" * 32).digest("gps_x") != hasher.digest("gps_x")
    assert hasher.matches("gps_x", hasher.digest("gps_x"))
    assert not hasher.matches("gps_y", hasher.digest("gps_x"))


def test_secrets_short_pepper_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SecretHasher(b"short")


def test_secrets_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import gatepass.core.credentials as credentials

    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(credentials.hmac, "compare_digest", spy)
    hasher = SecretHasher(b"p" * 32)
    assert hasher.matches("gps_x", hasher.digest("gps_x"))
    assert calls == [(hasher.digest("gps_x"), hasher.digest("gps_x"))]


async def test_secrets_token_endpoint_compares_in_constant_time(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gatepass.core.credentials as credentials

    calls: list[Any] = []
    real = hmac.compare_digest
    monkeypatch.setattr(credentials.hmac, "compare_digest",
                        lambda a, b: calls.append(1) or real(a, b))
    cid, secret = await h.secret_client()
    await h.token_for(cid, secret)
    assert calls


async def test_secrets_are_stored_only_as_digests(h: Harness) -> None:
    cid, secret = await h.secret_client()
    rotated, _ = await h.admin.rotate_secret(cid)
    store = h.client_store
    assert isinstance(store, MemoryClientStore)
    records = await store.list_secrets(cid)
    assert {r.digest for r in records} == {h.server.hasher.digest(secret),
                                           h.server.hasher.digest(rotated)}
    dump = repr(records) + repr(await store.get_client(cid)) + repr(vars(store))
    assert secret not in dump and rotated not in dump
    assert secret[len(SECRET_PREFIX):] not in dump


async def test_secrets_never_reach_audit_events(h: Harness) -> None:
    cid, secret = await h.secret_client()
    rotated, _ = await h.admin.rotate_secret(cid)
    token = await h.token_for(cid, secret)
    with pytest.raises(OAuthError):
        await h.token(h.basic_request(cid, secret + "x"))
    await h.server.introspect(OAuthRequest(form={"token": token},
                                           authorization=basic(cid, rotated)))
    await h.server.revoke(OAuthRequest(form={"token": token}, authorization=basic(cid, secret)))
    await h.server.audit.flush()
    stored = await h.rt.stores.audit.recent(1000)
    for dump in (everything(h.events), everything(stored)):
        assert secret not in dump and rotated not in dump and token not in dump
        assert token.split(".")[2] not in dump  # not even the signature
    assert {e.event for e in stored} >= {"client.created", "client.secret_rotated",
                                          "token.issued", "token.refused", "token.revoked"}


async def test_secrets_assertions_never_reach_audit_events(h: Harness) -> None:
    cid, key = await h.jwt_client()
    assertion = h.assertion(cid, key)
    await h.token(h.jwt_request(assertion))
    with pytest.raises(OAuthError):
        await h.token(h.jwt_request(assertion))
    dump = everything(h.events)
    assert assertion not in dump and assertion.split(".")[2] not in dump


# --- audit events ----------------------------------------------------------------------------


async def test_audit_issuance_event_names_client_scopes_and_jti(h: Harness) -> None:
    cid, secret = await h.secret_client()
    token = await h.token_for(cid, secret, scope="read:projects")
    [event] = h.find("token.issued")
    claims = h.server.keyring.verify(token)
    assert claims is not None
    assert (event.outcome, event.client_id, event.scopes) == ("success", cid, ("read:projects",))
    assert event.details["jti"] == claims["jti"] and event.details["aud"] == claims["aud"]
    assert event.details["grant_type"] == "client_credentials"
    assert event.at == h.clock.now() and event.event_id


async def test_audit_refusal_event_names_client_and_reason(h: Harness) -> None:
    cid, secret = await h.secret_client("read:projects")
    with pytest.raises(InvalidScope):
        await h.token(h.basic_request(cid, secret, scope="write:projects"))
    [event] = h.find("token.refused")
    assert (event.outcome, event.client_id) == ("failure", cid)
    assert event.reason == "invalid_scope: Scope not allowed for this client: write:projects"
    assert event.details["scope"] == "write:projects"


async def test_audit_failed_authentication_records_the_claimed_client_apart(h: Harness) -> None:
    """Unauthenticated: the claimed id is a detail, never the event's client (issue 13, 5)."""
    cid, _ = await h.secret_client()
    with pytest.raises(OAuthError):
        await h.token(h.basic_request(cid, "gps_wrong"))
    with pytest.raises(OAuthError):
        await h.token(OAuthRequest(form={"grant_type": "client_credentials",
                                         "client_id": "c" * 500, "client_secret": "x"}))
    first, second = h.find("token.refused")
    assert first.client_id is None and first.details["claimed_client_id"] == cid
    assert first.reason == "invalid_client: Client authentication failed"
    assert second.client_id is None
    assert second.details["claimed_client_id"] == "c" * 128  # truncated: never unbounded


async def test_audit_introspection_refusal_is_audited(h: Harness) -> None:
    with pytest.raises(OAuthError):
        await h.server.introspect(OAuthRequest(form={"token": "x"}))
    [event] = h.find("introspect.refused")
    assert event.outcome == "failure" and event.reason and event.reason.startswith(
        "invalid_client")


async def test_audit_events_are_written_in_batches(h: Harness) -> None:
    cid, secret = await h.secret_client()
    for _ in range(3):
        await h.token_for(cid, secret)
    pending = h.server.audit.pending
    assert pending >= 4
    assert await h.server.audit.flush() == pending
    assert h.server.audit.pending == 0
    assert len([e for e in await h.rt.stores.audit.recent(100)
                if e.event == "token.issued"]) == 3


class FlakyAudit(MemoryAuditLog):
    def __init__(self) -> None:
        super().__init__()
        self.down = True

    async def record(self, events: Any) -> None:
        if self.down:
            raise StorageError("audit database unavailable")
        await super().record(events)


async def test_audit_failed_flush_keeps_events_for_the_next_flush() -> None:
    from gatepass.clock import FrozenClock

    log = FlakyAudit()
    auditor = Auditor(log, FrozenClock())
    auditor.emit("a", "success")
    with pytest.raises(StorageError):
        await auditor.flush()
    auditor.emit("b", "success")
    assert auditor.pending == 2
    log.down = False
    assert await auditor.flush() == 2
    assert [e.event for e in await log.recent()] == ["b", "a"] or {
        e.event for e in await log.recent()} == {"a", "b"}


# --- nothing half-written --------------------------------------------------------------------


async def test_admin_invalid_client_creation_writes_nothing(h: Harness) -> None:
    with pytest.raises(InvalidScope):
        await h.admin.create_client("x", "read:projects read:nothing")
    with pytest.raises(InvalidClientMetadata):
        await h.admin.create_client("x", "read:projects", jwks={"keys": []},
                                    jwks_uri="https://x.example/jwks")
    with pytest.raises(InvalidClientMetadata):
        await h.admin.create_client("x", "read:projects", jwks={"nokeys": 1})
    assert await h.admin.list_clients() == []
    assert h.find("client.created") == []


class ConflictingClients(MemoryClientStore):
    async def create_client(self, client: Any, secrets: Any = ()) -> None:
        raise ConflictError("duplicate")


async def test_admin_failed_store_write_emits_no_audit_and_no_secret(
    make_harness: HarnessFactory, clock: Any
) -> None:
    stores = dataclasses.replace(open_memory_stores(clock), clients=ConflictingClients())
    async with make_harness(stores=stores) as h:
        with pytest.raises(ConflictError):
            await h.admin.create_client("x", "read:projects")
        assert h.find("client.created") == []


class FailingRotation(MemoryClientStore):
    async def rotate_secret(self, secret: Any, grace_until: float, now: float) -> Any:
        raise StorageError("connection lost")


async def test_admin_failed_rotation_leaves_no_unknown_secret(
    make_harness: HarnessFactory, clock: Any
) -> None:
    """A rotation the store fails (one transaction) leaves no working secret nobody was shown,
    and no audit event."""
    store = FailingRotation()
    stores = dataclasses.replace(open_memory_stores(clock), clients=store)
    async with make_harness(stores=stores) as h:
        cid, secret = await h.secret_client()
        with pytest.raises(StorageError):
            await h.admin.rotate_secret(cid)
        remaining = await store.list_secrets(cid)
        assert [r.digest for r in remaining] == [h.server.hasher.digest(secret)]
        assert h.find("client.secret_rotated") == []


async def test_token_refusal_writes_no_revocation_or_replay_state(h: Harness) -> None:
    cid, secret = await h.secret_client("read:projects")
    with pytest.raises(OAuthError):
        await h.token(h.basic_request(cid, secret, scope="write:projects"))
    assert h.find("token.issued") == []
    assert await h.rt.stores.revocations.revoked_since(0) == []


# --- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["client_secret", "password", "access_token", "client_assertion",
                                 "Authorization", "private_jwk", "secret_pepper",
                                 "key_encryption_keys", "refresh_token", "Token"])
def test_redact_drops_sensitive_keys(key: str) -> None:
    out = redact(None, "info", {"event": "x", key: "value", "client_id": "c1"})
    assert out == {"event": "x", key: REDACTED, "client_id": "c1"}


def test_redact_scrubs_token_shaped_text_anywhere() -> None:
    jwt_ = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    secret = new_secret()
    basic_ = basic("client_1", secret)
    event = {
        "event": f"issued {jwt_}",
        "reason": f"bad secret {secret}",
        "header": basic_,
        "bearer": "Bearer abcdefghijklmnop",
        "nested": {"list": [jwt_, {"client_secret": "s", "ok": secret}], "fine": "fine"},
        "count": 3,
    }
    out = redact(None, "info", event)
    text = repr(out)
    assert jwt_ not in text and secret not in text and "abcdefghijklmnop" not in text
    assert basic_.split()[1] not in text
    assert out["event"] == f"issued {REDACTED}"
    assert out["nested"]["list"][1] == {"client_secret": REDACTED, "ok": REDACTED}
    assert out["nested"]["fine"] == "fine" and out["count"] == 3


_PIECES = ["eyJ", "eyj", "hbG", ".", "gps_", "gpr_", "GPS_", "abcdefghijklmnopqrstuv", "Basic ",
           "BEARER ", "bearer", "ba\u017fic ", "beaRer\t", "x", " ", "é", "K", "="]


@given(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join) | st.text(max_size=30))
def test_scrub_answers_as_the_regex_does(text: str) -> None:
    """The cheap pre-check before SENSITIVE_TEXT never lets a match through (the long s,
    U+017F, matches 's' case-insensitively: non-ASCII text always takes the regex)."""
    assert _scrub(text) == SENSITIVE_TEXT.sub(REDACTED, text)
    assert _scrub("Ba\u017fic abcdefghijk") == REDACTED


def test_redact_keeps_ordinary_values() -> None:
    event = {"event": "token.issued", "client_id": "client_abc", "scopes": ["read:projects"],
             "jti": "abc", "outcome": "success"}
    assert redact(None, "info", dict(event)) == event


def test_audit_details_cannot_overwrite_the_record_fields() -> None:
    event = AuditEvent("rate_limit.refused", "failure", 1_800_000_000.0, "c1", (), "r", None,
                       {"event": "spoofed", "outcome": "success", "path": "/oauth/register"})
    record = _record(event)
    assert (record["event"], record["outcome"], record["client_id"]) == (
        "rate_limit.refused", "failure", "c1")
    assert (record["details.event"], record["details.outcome"]) == ("spoofed", "success")
    assert record["path"] == "/oauth/register"
