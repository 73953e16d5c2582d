"""Issue 13 attacks against the real app: the authorization-code kit (``ac``: an ASGI app with
memory stores, a frozen clock and a signed-in owner) is shared with ``tests/authcode``."""

from __future__ import annotations

from authcode.conftest import ac, clock

__all__ = ["ac", "clock"]
