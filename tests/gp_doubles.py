"""Test doubles shared by several test directories (imported by name: ``tests/`` is not a
package, and pytest puts it on ``sys.path`` for its ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gatepass.storage.base import StorageError


class FailingStore:
    """``inner``, whose named async methods raise ``StorageError`` while ``fail`` is set (a
    database that went away); everything else is ``inner``'s."""

    def __init__(self, inner: Any, *methods: str) -> None:
        self.inner = inner
        self.methods = frozenset(methods)
        self.fail = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in self.methods:
            return attr
        return self._failing(attr)

    def _failing(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.fail:
                raise StorageError("connection lost")
            return await method(*args, **kwargs)

        return call
