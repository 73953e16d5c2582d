"""Findings: what a check saw, how severe, how to fix it, and what it cost."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Finding", "Findings", "Severity", "clean"]

Severity = Literal["pass", "info", "warning", "error"]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str, limit: int = 300) -> str:
    """Target-supplied text made safe to print: no control/bidi characters, bounded length."""
    text = _CONTROL.sub("?", text.replace("\n", " ").replace("\r", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation: how bad, what was seen, how to fix it, what it cost."""

    check: str
    severity: Severity
    message: str
    fix: str = ""
    loss: float = 0.0
    url: str | None = None


class Findings:
    """Collects one check's findings (cleaning what it is given)."""

    def __init__(self, check: str) -> None:
        self.check, self.items = check, list[Finding]()

    def add(self, severity: Severity, message: str, fix: str = "", loss: float = 0.0,
            url: str | None = None) -> None:
        self.items.append(Finding(self.check, severity, clean(message, 500), fix, loss,
                                  clean(url, 300) if url else None))

    def error(self, message: str, fix: str, loss: float, url: str | None = None) -> None:
        self.add("error", message, fix, loss, url)

    def warn(self, message: str, fix: str, loss: float, url: str | None = None) -> None:
        self.add("warning", message, fix, loss, url)

    def info(self, message: str, fix: str = "", url: str | None = None) -> None:
        self.add("info", message, fix, 0.0, url)

    def ok(self, message: str, url: str | None = None) -> list[Finding]:
        """Record a pass when nothing was lost; return the findings."""
        if not any(f.loss for f in self.items):
            self.add("pass", message, url=url)
        return self.items
