"""structlog JSON logging with a redaction processor for tokens, secrets and assertions."""

from __future__ import annotations

import functools
import logging
import math
import re
import sys
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from gatepass.models import AuditEvent

__all__ = ["AuditLogWriter", "audit_logger", "configure_logging", "redact"]

SENSITIVE_KEYS = re.compile(
    r"(secret|password|token|assertion|authorization|private|pepper|key_encryption)", re.I
)
# JWTs, our secret format, and Basic credentials inside free text.
SENSITIVE_TEXT = re.compile(
    r"(eyJ[\w-]+\.[\w-]+\.[\w-]*|gps_[\w-]{20,}|gpr_[\w-]{20,}|(?i:basic|bearer)\s+[\w+/=.~-]{8,})"
)
REDACTED = "[redacted]"
_AUDIT = logging.getLogger("gatepass.audit")


_PLAIN = frozenset({int, float, bool, type(None)})  # nothing to redact in these exact types


def _scrub(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, str):
        # In ASCII text every SENSITIVE_TEXT match holds one of these: the rest skips the regex.
        low = value.lower()
        if value.isascii() and not ("eyj" in low or "gps_" in low or "gpr_" in low
                                    or "basic" in low or "bearer" in low):
            return value
        return SENSITIVE_TEXT.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if SENSITIVE_KEYS.search(str(k)) else _scrub(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop sensitive keys' values and token-shaped strings."""
    for key in list(event_dict):
        if key != "event" and SENSITIVE_KEYS.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr, redacted, for structlog and the standard library alike."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        redact,
    ]
    structlog.configure(
        # redact again after format_exc_info: exception text may quote a token or secret
        processors=[*shared, structlog.processors.format_exc_info, redact,
                    structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redact,
                    structlog.processors.JSONRenderer()],
        foreign_pre_chain=shared,
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class AuditLogWriter:
    """Writes audit events as JSON lines on stderr, one write per batch.

    It sees every issuance (the auditor hands it each flush's new events), so it skips
    structlog's processor chain: the record's shape is fixed and holds no secrets by
    construction; only free-text values go through the token-shaped-string redaction. The lines
    are INFO records of ``gatepass.audit``: below the configured level nothing is formatted.
    """

    def __call__(self, events: Sequence[AuditEvent]) -> None:
        if not _AUDIT.isEnabledFor(logging.INFO):
            return
        lines = [orjson.dumps(_record(ev), default=str) for ev in events]
        if lines:
            sys.stderr.write(b"\n".join(lines).decode() + "\n")
            sys.stderr.flush()


def _record(ev: AuditEvent) -> dict[str, Any]:
    """The event's log record: its fields, then its details beside them (a detail named like a
    field is written as ``details.<name>``, so it cannot overwrite the field)."""
    record: dict[str, Any] = {
        "timestamp": _iso(ev.at), "level": "info", "logger": "gatepass.audit",
        "event": ev.event, "outcome": ev.outcome, "client_id": ev.client_id,
        "scopes": ev.scopes, "reason": _scrub(ev.reason), "actor": ev.actor,
    }
    for key, value in ev.details.items():
        name = f"details.{key}" if key in _FIELDS else key
        record[name] = REDACTED if _sensitive_key(key) else _scrub(value)
    return record


@functools.lru_cache(maxsize=1024)
def _sensitive_key(key: str) -> bool:
    return SENSITIVE_KEYS.search(key) is not None


def audit_logger() -> AuditLogWriter:
    """The audit-event log writer (an ``Auditor`` batch observer)."""
    return AuditLogWriter()


def _iso(at: float) -> str:
    """``at`` as ISO 8601 UTC with microseconds (structlog's ``TimeStamper(fmt="iso")`` shape);
    the date-time part is formatted once per second."""
    sec = math.floor(at)
    micros = round((at - sec) * 1_000_000)
    if micros == 1_000_000:
        sec, micros = sec + 1, 0
    return f"{_second(sec)}.{micros:06d}Z"


@functools.lru_cache(maxsize=4)
def _second(sec: int) -> str:
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")


_FIELDS = frozenset(_record(AuditEvent("any", "success", 0.0)))  # the names records always have
