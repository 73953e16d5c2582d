"""Request bodies of the demo API, validated by pydantic (unknown members are refused).

A body that does not validate gets 422 ``invalid_request`` with ``invalid_fields`` (see
``gatepass.demo.errors``). Webhook URLs must be absolute ``https`` URLs without credentials
(``http`` only for a loopback host), and events come from a fixed catalogue.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gatepass.demo.data import WEBHOOK_EVENTS

__all__ = ["DeploymentIn", "ProjectIn", "WebhookIn"]

_LOOPBACK_NAMES = frozenset({"localhost"})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProjectIn(_Body):
    """``POST /api/projects``."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: Annotated[str, Field(max_length=500)] = ""


class DeploymentIn(_Body):
    """``POST /api/deployments``."""

    project_id: Annotated[str, Field(pattern=r"^proj_[0-9a-f]{12}$")]
    environment: Literal["staging", "production"] = "staging"
    ref: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._/-]+$")] = (
        "main"
    )


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookIn(_Body):
    """``POST /api/webhooks``."""

    url: Annotated[str, Field(max_length=2048)]
    events: Annotated[list[str], Field(min_length=1, max_length=len(WEBHOOK_EVENTS))]
    description: Annotated[str, Field(max_length=200)] = ""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise ValueError("must be an absolute https URL")
        if parts.scheme == "http" and not _is_loopback(host):
            raise ValueError("must use https (http is accepted only for a loopback host)")
        if parts.username is not None or parts.password is not None or parts.fragment:
            raise ValueError("must not carry credentials or a fragment")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        unknown = [e for e in value if e not in WEBHOOK_EVENTS]
        if unknown:
            raise ValueError(f"unknown events {unknown}; known: {', '.join(WEBHOOK_EVENTS)}")
        return list(dict.fromkeys(value))
