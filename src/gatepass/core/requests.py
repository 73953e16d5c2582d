"""Plain request objects handed from the HTTP shell to the core (RFC 6749 §3.2, RFC 8707 §2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["OAuthRequest"]


@dataclass(frozen=True, slots=True)
class OAuthRequest:
    """A form-encoded OAuth request: single-valued parameters, ``resource`` values, auth header.

    The HTTP shell has already refused repeated parameters (except ``resource``, which RFC 8707
    allows to repeat) and capped the body size.
    """

    form: Mapping[str, str]
    authorization: str | None = None
    resources: tuple[str, ...] = ()
    remote_addr: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = self.form.get(name)
        return value if value else None
