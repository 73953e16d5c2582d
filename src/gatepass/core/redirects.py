"""Redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7.3 and §8.3, RFC 9700 §4.1.1): which may be
registered, and when a presented one matches a registered one.

Registered: ``https``, or ``http`` on a loopback host for native apps (any ``http`` host in
development); no fragment, no credentials; an IP-literal host must be public (loopback only for
``http``). Redirect URIs are never fetched by the server, so no DNS lookup is made. Matching is
exact string comparison, except that an ``http`` loopback redirect may use any port.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

__all__ = ["LOOPBACK_HOSTS", "redirect_uri_matches", "redirect_uri_problem"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    return parts


def redirect_uri_problem(uri: str, *, development: bool) -> str | None:
    """Why ``uri`` may not be registered as a redirect URI, or None."""
    parts = _split(uri)
    if (parts is None or parts.fragment or not parts.scheme or not parts.hostname
            or parts.username is not None or parts.password is not None):
        return f"Invalid redirect_uri {uri!r}"
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    if parts.scheme != "https" and not (development and parts.scheme == "http"):
        return (f"redirect_uri refused: use https, or http on a loopback address "
                f"(RFC 8252 §7.3): {uri!r}")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    if not address.is_global and not (development and address.is_loopback):
        return f"redirect_uri refused: {parts.hostname} is not a public address"
    return None


def redirect_uri_matches(registered: str, presented: str) -> bool:
    """Exact string match, except any port for an ``http`` loopback redirect (RFC 8252 §7.3)."""
    if registered == presented:
        return True
    r, p = _split(registered), _split(presented)
    if r is None or p is None:
        return False
    host, port = p.hostname or "", p.port
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    return (r.scheme == p.scheme == "http" and r.hostname in LOOPBACK_HOSTS
            and host == r.hostname and p.netloc == netloc and (r.path, r.query) == (p.path, p.query)
            and not p.fragment)
