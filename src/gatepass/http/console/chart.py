"""The usage chart's geometry: tokens issued and refused per hour, drawn as inline SVG.

Pure data for ``templates/_chart.html``: bars, axis ticks and labels in SVG user units. The
template draws it with CSS classes only (no inline styles, no script), so the strict CSP holds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from gatepass.core.usage import HourUsage

__all__ = ["Bar", "Chart", "hourly_chart"]

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 26
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True, slots=True)
class Bar:
    kind: str  # "issued" or "refused" (the CSS class)
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    bottom: float
    right: float
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, int], ...]  # (y, value)
    labels: tuple[tuple[float, str], ...]  # (x, "HH:00")
    summary: str


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is >= value (at least 1)."""
    if value <= 1:
        return 1
    power = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _hour(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:00")


def hourly_chart(hours: Sequence[HourUsage]) -> Chart:
    """Two bars per hour (issued, refused) on a shared scale; a tick every quarter."""
    top = nice_ceiling(max((max(h.issued, h.refused) for h in hours), default=0))
    slot = PLOT_W / max(len(hours), 1)
    bar_w = slot * 0.38
    bars: list[Bar] = []
    for i, h in enumerate(hours):
        x0 = LEFT + i * slot + slot * 0.1
        for j, (kind, n) in enumerate((("issued", h.issued), ("refused", h.refused))):
            height = PLOT_H * n / top
            title = f"{_hour(h.start)} UTC: {n} {kind}"
            bars.append(Bar(kind, round(x0 + j * bar_w, 2), round(TOP + PLOT_H - height, 2),
                            round(bar_w, 2), round(height, 2), title))
    ticks = tuple((round(TOP + PLOT_H - PLOT_H * k / 4, 2), top * k // 4) for k in range(5)
                  if top * k % 4 == 0 or k in (0, 4))
    labels = tuple((round(LEFT + i * slot + slot / 2, 2), _hour(h.start))
                   for i, h in enumerate(hours) if i % 3 == 0)
    issued, refused = sum(h.issued for h in hours), sum(h.refused for h in hours)
    summary = (f"Tokens per hour over the last {len(hours)} hours: {issued} issued, "
               f"{refused} refused")
    return Chart(WIDTH, HEIGHT, LEFT, TOP, TOP + PLOT_H, WIDTH - RIGHT, tuple(bars), ticks,
                 labels, summary)
