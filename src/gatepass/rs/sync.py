"""A synchronous face of ``TokenVerifier`` for WSGI frameworks (Flask, Django) (RFC 6750 §2.1, §3).

``SyncTokenVerifier`` runs one ``TokenVerifier`` (JWKS cache, verified-token cache, revocation
checker) on a private event loop in a daemon thread, so every worker thread of a WSGI process
shares it. ``verify(authorization_header)`` returns the ``Principal`` or raises the same
``OAuthError`` values the async verifier does; ``refusal(err, scopes)`` renders one (status,
headers with the ``WWW-Authenticate`` challenge, JSON body) for the framework's response, and
``metadata()`` is the RFC 9728 document to serve where the challenges point.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from gatepass.errors import OAuthError
from gatepass.models import Principal
from gatepass.rs._responses import Refusal, check_scopes, refusal
from gatepass.rs.config import ResourceServerConfig
from gatepass.rs.metadata import build_protected_resource_metadata, local_metadata_paths
from gatepass.rs.verifier import TokenVerifier

__all__ = ["SyncTokenVerifier"]


class SyncTokenVerifier:
    """``TokenVerifier`` for synchronous code; thread-safe; ``close()`` (or ``with``) ends it.

    ``timeout`` bounds each call (JWKS fetch, introspection) in seconds; the verifier starts
    (loading the revocation list) on the first call, or on ``start()``.
    """

    def __init__(self, config: ResourceServerConfig, *, timeout: float = 10.0,
                 **verifier_options: Any) -> None:
        self.config, self.timeout = config, timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="gatepass-rs-verifier")
        self._thread.start()
        self.verifier = self._run(self._create(config, verifier_options))
        self.metadata_paths = local_metadata_paths(config)

    @staticmethod
    async def _create(config: ResourceServerConfig, options: dict[str, Any]) -> TokenVerifier:
        return TokenVerifier(config, **options)  # built on the loop: its locks belong there

    def _run(self, coroutine: Any) -> Any:
        if not self._thread.is_alive():
            coroutine.close()
            raise RuntimeError("SyncTokenVerifier is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self.timeout)

    def start(self) -> None:
        """Start the verifier now (build and load the revocation checker); raises on failure."""
        self._run(self.verifier.start())

    def verify(self, authorization: str | Sequence[str] | None) -> Principal:
        """The caller of a request with this ``Authorization`` header value (or values)."""
        principal: Principal = self._run(self.verifier.authenticate(authorization))
        return principal

    def require(self, authorization: str | Sequence[str] | None, *scopes: str) -> Principal:
        """``verify``, then every scope in ``scopes`` (403 ``InsufficientScope`` otherwise)."""
        return check_scopes(self.verify(authorization), scopes, self.config)

    def refusal(self, err: OAuthError, scopes: Sequence[str] = ()) -> Refusal:
        """The response for a refusal: ``.status``, ``.headers`` and ``.body`` (JSON bytes)."""
        return refusal(err, self.config, scopes or self.config.scopes_supported)

    def metadata(self, scopes: Sequence[str] = ()) -> dict[str, Any]:
        """The RFC 9728 document, to serve at each of ``metadata_paths``."""
        return build_protected_resource_metadata(self.config, scopes=scopes)

    def close(self) -> None:
        """Stop the verifier and its loop thread."""
        if self._thread.is_alive():
            try:
                self._run(self.verifier.stop())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(self.timeout)
                self._loop.close()

    def __enter__(self) -> SyncTokenVerifier:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
