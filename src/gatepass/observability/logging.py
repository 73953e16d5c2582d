"""structlog JSON logging with a redaction processor for tokens, secrets and assertions."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from gatepass.models import AuditEvent

__all__ = ["audit_logger", "configure_logging", "redact"]

SENSITIVE_KEYS = re.compile(
    r"(secret|password|token|assertion|authorization|private|pepper|key_encryption)", re.I
)
# JWTs, our secret format, and Basic credentials inside free text.
SENSITIVE_TEXT = re.compile(
    r"(eyJ[\w-]+\.[\w-]+\.[\w-]*|gps_[\w-]{20,}|gpr_[\w-]{20,}|(?i:basic|bearer)\s+[\w+/=.~-]{8,})"
)
REDACTED = "[redacted]"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
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


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at write time (so redirection and capture keep working)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def audit_logger() -> Any:
    """A callback for ``Auditor`` that logs each event as one structured line (JSON on stderr,
    redacted, even when the process has not configured structlog)."""
    if structlog.is_configured():
        log = structlog.get_logger("gatepass.audit")
    else:
        log = structlog.wrap_logger(
            structlog.PrintLogger(_CurrentStderr()),  # type: ignore[arg-type]
            processors=[structlog.processors.add_log_level,
                        structlog.processors.TimeStamper(fmt="iso"), redact,
                        structlog.processors.JSONRenderer()],
        )

    def on_event(ev: AuditEvent) -> None:
        log.info(ev.event, outcome=ev.outcome, client_id=ev.client_id, scopes=list(ev.scopes),
                 reason=ev.reason, actor=ev.actor, **dict(ev.details))

    return on_event
