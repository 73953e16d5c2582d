"""Who a request counts against: a verified principal's client id, else the client address.

Only a verified :class:`~gatepass.models.Principal` (put at ``scope["gatepass.principal"]`` by
the auth middleware) earns a per-client budget; client ids in bodies or headers are ignored,
so rotating fake ids buys nothing. The address is the socket peer, unless that peer is a
trusted proxy: then it is the right-most ``X-Forwarded-For`` entry that is not itself trusted
(entries further left are client-controlled). IPv6 clients are keyed by their /64 network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from gatepass.models import Principal
from gatepass.ratelimit.policy import Network, Policy, Tier

__all__ = ["PRINCIPAL_SCOPE_KEY", "client_address", "subject_for"]

PRINCIPAL_SCOPE_KEY = "gatepass.principal"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def subject_for(
    scope: Mapping[str, Any], policy: Policy, endpoint_class: str
) -> tuple[Tier, tuple[str, ...]]:
    """The tier and the storage key parts for this request."""
    principal = scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(principal, Principal):
        tier = policy.tier_for(principal)
        return tier, (endpoint_class, tier.name, "client", principal.client_id)
    tier = policy.anonymous
    return tier, (endpoint_class, tier.name, "ip", client_address(scope, policy))


def client_address(scope: Mapping[str, Any], policy: Policy) -> str:
    """The client address as a key: an IPv4 address, an IPv6 network, or the raw peer host."""
    client = scope.get("client")
    if not client:
        return "unknown"
    peer = _parse(str(client[0]))
    if peer is None:
        return str(client[0])
    nets = policy.trusted_networks
    if nets and _trusted(peer, nets):
        peer = _rightmost_untrusted(peer, _forwarded_for(scope["headers"]), nets)
    if peer.version == 6:
        return str(ipaddress.ip_network(f"{peer}/{policy.ipv6_prefix}", strict=False))
    return str(peer)


def _rightmost_untrusted(peer: IPAddress, hops: list[str], nets: tuple[Network, ...]) -> IPAddress:
    """Walk the chain right to left past trusted hops; garbage stops at the last trusted hop."""
    for hop in reversed(hops):
        addr = _parse(hop)
        if addr is None:
            return peer
        peer = addr
        if not _trusted(addr, nets):
            return addr
    return peer


def _forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    values = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
    return [hop.strip() for hop in ",".join(values).split(",") if hop.strip()]


def _trusted(addr: IPAddress, nets: tuple[Network, ...]) -> bool:
    return any(addr in net for net in nets)


def _parse(text: str) -> IPAddress | None:
    """An address from ``1.2.3.4``, ``1.2.3.4:80``, ``::1`` or ``[::1]:80``; None if invalid."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr
