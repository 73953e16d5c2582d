"""Sans-I/O plumbing: protocol steps are generators that yield requests and get responses.

One generator serves both the sync and the async client (``run_sync`` / ``run_async``); the
helpers turn a refusal into the typed exception the agent guide's bodies call for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from typing import Any, TypeVar

import httpx

from gatepass.agent.errors import (
    InsufficientScopeError,
    PaymentRequiredError,
    RateLimitedError,
    ServerError,
    TermsRequiredError,
)

__all__ = ["Flow", "bearer_challenge", "error_body", "json_object", "parse_challenges",
           "raise_for_known", "raise_unexpected", "retry_after", "run_async", "run_sync"]

T = TypeVar("T")
Flow = Generator[httpx.Request, httpx.Response, T]
MAX_BODY = 256 * 1024


def run_sync(flow: Flow[T], http: httpx.Client) -> T:
    """Drive ``flow`` with a sync client: responses are read, redirects never followed, and
    the client's own ``auth`` is not applied (it may be this very agent)."""
    try:
        request = next(flow)
        while True:
            request = flow.send(http.send(request, auth=None, follow_redirects=False))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(flow: Flow[T], http: httpx.AsyncClient) -> T:
    """Drive ``flow`` with an async client."""
    try:
        request = next(flow)
        while True:
            request = flow.send(await http.send(request, auth=None, follow_redirects=False))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None (not JSON, not an object, or too large)."""
    if len(response.content) > MAX_BODY:
        return None
    try:
        value = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The OAuth error body (``error``, ``error_description``, extras) or an empty dict."""
    body = json_object(response) or {}
    return body if isinstance(body.get("error"), str) else {}


def retry_after(response: httpx.Response, body: dict[str, Any]) -> float | None:
    """Seconds to wait: the ``Retry-After`` header (delta-seconds), else ``retry_after``."""
    for value in (response.headers.get("retry-after"), body.get("retry_after")):
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None


def _describe(body: dict[str, Any], response: httpx.Response) -> str:
    text = body.get("error_description")
    return text if isinstance(text, str) else f"HTTP {response.status_code}"


def raise_for_known(response: httpx.Response, granted: tuple[str, ...] = ()) -> None:
    """Raise the typed exception for 402, ``tos_required``, 429 and ``insufficient_scope``."""
    body = error_body(response)
    status, code, text = response.status_code, body.get("error"), _describe(body, response)
    kw: dict[str, Any] = {"status": status, "body": body}
    if status == 402 or code == "billing_required":
        options = body.get("billing_options")
        valid = [o for o in options if isinstance(o, dict)] if isinstance(options, list) else []
        raise PaymentRequiredError(text, billing_options=valid, **kw)
    if code == "tos_required":
        raise TermsRequiredError(text, tos_url=_str(body.get("tos_url")),
                                 tos_version=_str(body.get("tos_version")), **kw)
    if status == 429:
        raise RateLimitedError(text, retry_after=retry_after(response, body),
                               upgrade_url=_str(body.get("upgrade_url")), **kw)
    if status == 403 and code == "insufficient_scope":
        required = _scopes(body.get("required_scopes")) or _scopes(
            bearer_challenge(response).get("scope"))
        held = _scopes(body.get("granted_scopes")) if "granted_scopes" in body else granted
        raise InsufficientScopeError(text, required=required, granted=held, **kw)


def raise_unexpected(response: httpx.Response, what: str) -> None:
    """A 5xx or a non-JSON answer where a protocol answer was due."""
    if response.status_code >= 500 or json_object(response) is None:
        raise ServerError(f"{what} answered HTTP {response.status_code} without a JSON body",
                          error="server_error", status=response.status_code)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PART = re.compile(rf'({_TOKEN})(?:[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN})))?')


def parse_challenges(header: str) -> dict[str, dict[str, str]]:
    """``WWW-Authenticate`` (RFC 9110 §11.6.1) -> {lower-case scheme: {param: value}}."""
    found: dict[str, dict[str, str]] = {}
    params: dict[str, str] | None = None
    for m in _PART.finditer(header[:8192]):
        name, quoted, plain = m.groups()
        if quoted is None and plain is None:
            params = found.setdefault(name.lower(), {})
        elif params is not None:
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain
            params.setdefault(name.lower(), value)
    return found


def bearer_challenge(response: httpx.Response) -> dict[str, str]:
    """The ``Bearer`` challenge's parameters (RFC 6750 §3, RFC 9728 §5.1), or {}."""
    merged: dict[str, str] = {}
    for header in response.headers.get_list("www-authenticate"):
        merged.update(parse_challenges(header).get("bearer", {}))
    return merged
