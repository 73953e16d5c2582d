"""The audit trail cannot be poisoned or lost silently (issue 16): strings are sanitized, a
batch the store refuses is split, refused events go to the dead-letter file (counted, logged
once), an outage keeps events for later, and shutdown dead-letters what it cannot store."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from gatepass.clock import FrozenClock
from gatepass.core.audit import Auditor, DeadLetterFile, sanitize
from gatepass.models import AuditEvent
from gatepass.storage.base import DataRejected
from gatepass.storage.memory import MemoryAuditLog
from gp_doubles import FailingStore


class RefusingLog(MemoryAuditLog):
    """A store that refuses (as a database would) any batch holding an event named "bad"."""

    async def record(self, events: Any) -> None:
        if any(e.event == "bad" for e in events):
            raise DataRejected("the database refused the data: UntranslatableCharacter")
        await super().record(events)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sanitize_escapes_control_characters_and_surrogates_and_caps_length() -> None:
    assert sanitize("a\x00b\x1b[31m\x7f\x85") == "a\\x00b\\x1b[31m\\x7f\\x85"
    assert sanitize("caf\u00e9 \u2603") == "caf\u00e9 \u2603"  # printable Unicode kept
    assert sanitize("x\ud800y") == "x\\ud800y"
    assert sanitize("x" * 2000) == "x" * 1023 + "…"
    assert sanitize("ab", 1) == "…"


async def test_emit_sanitizes_every_string_it_stores() -> None:
    log = MemoryAuditLog()
    auditor = Auditor(log, FrozenClock())
    auditor.emit("token.refused\x00", "failure", client_id="a\x00b" + "c" * 300,
                 scopes=("s\n",), reason="r\r\n", actor="x\x00",
                 **{"k\x00": ["v\x00", {"deep": "d\x07", 7: None}], "n": 3})
    await auditor.flush()
    [ev] = await log.recent()
    assert ev.event == "token.refused\\x00"
    assert ev.client_id is not None and ev.client_id.startswith("a\\x00b") and len(
        ev.client_id) == 255
    assert ev.scopes == ("s\\x0a",) and ev.reason == "r\\x0d\\x0a" and ev.actor == "x\\x00"
    assert ev.details == {"k\\x00": ["v\\x00", {"deep": "d\\x07", "7": None}], "n": 3}


async def test_a_refused_batch_is_split_and_the_bad_event_dead_lettered(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = RefusingLog()
    letters = tmp_path / "dead.jsonl"
    auditor = Auditor(log, FrozenClock(), dead_letter=DeadLetterFile(letters))
    auditor.emit("good.one", "success", client_id="c1")
    auditor.emit("bad", "failure", client_id="c2", reason="poison")
    auditor.emit("good.two", "success", client_id="c3")
    with caplog.at_level(logging.ERROR, "gatepass.audit"):
        assert await auditor.flush() == 2
    assert sorted(e.event for e in await log.recent()) == ["good.one", "good.two"]
    [letter] = _lines(letters)
    assert letter["event"] == "bad" and letter["client_id"] == "c2"
    assert "UntranslatableCharacter" in letter["error"]
    assert auditor.dead_lettered == 1 and auditor.pending == 0
    assert len([r for r in caplog.records if r.name == "gatepass.audit"]) == 1  # one line
    auditor.emit("good.three", "success")
    assert await auditor.flush() == 1  # later events keep flowing; the bad one is not retried
    assert len(_lines(letters)) == 1
    assert letters.stat().st_mode & 0o777 == 0o600


async def test_an_outage_keeps_events_and_shutdown_dead_letters_them(tmp_path: Path) -> None:
    from gatepass.storage.base import StorageError

    clock = FrozenClock()
    log = FailingStore(MemoryAuditLog(), "record")
    letters = tmp_path / "dead.jsonl"
    auditor = Auditor(log, clock, dead_letter=DeadLetterFile(letters))
    auditor.emit("e1", "success")
    clock.advance(3)
    log.fail = True
    with pytest.raises(StorageError):
        await auditor.flush()
    assert auditor.pending == 1 and auditor.lag() == 3  # kept, and its age is visible
    assert not letters.exists()
    auditor.emit("e2", "success")
    await auditor.close()  # the database is still down
    assert [e["event"] for e in _lines(letters)] == ["e1", "e2"]
    assert {e["error"] for e in _lines(letters)} == {"store unavailable at shutdown"}
    assert auditor.pending == 0 and auditor.dead_lettered == 2 and auditor.lag() == 0


async def test_without_a_dead_letter_file_refused_events_are_counted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    auditor = Auditor(RefusingLog(), FrozenClock())
    auditor.emit("bad", "failure")
    with caplog.at_level(logging.ERROR, "gatepass.audit"):
        assert await auditor.flush() == 0
    assert auditor.dead_lettered == 1
    assert "no dead-letter file" in caplog.text


def test_dead_letter_events_are_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dead.jsonl"
    DeadLetterFile(path).write([AuditEvent("e", "success", 1.0, details={"x": b"raw"})], "why")
    assert _lines(path)[0]["details"] == {"x": "b'raw'"}
