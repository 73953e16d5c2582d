"""Whose budget a request uses: client id for a verified principal, else the client address."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gatepass.ratelimit import PRINCIPAL_SCOPE_KEY, Policy, client_address
from gatepass.ratelimit._subject import subject_for

from .conftest import principal

PROXIES = Policy(trusted_proxies=("10.0.0.0/8", "fd00::/8"))


def scope(peer: str | None, *xff: str, **extra: Any) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", v.encode()) for v in xff]
    return {
        "type": "http",
        "client": (peer, 5000) if peer else None,
        "headers": [(b"host", b"api"), *headers],
        **extra,
    }


def test_principal_is_keyed_by_client_id_and_endpoint_class() -> None:
    s = scope("203.0.113.7", **{PRINCIPAL_SCOPE_KEY: principal("agent-1", "autonomous")})
    tier, key = subject_for(s, Policy(), "token")
    assert tier.name == "agent_standard"
    assert key == ("token", "agent_standard", "client", "agent-1")


def test_anonymous_is_keyed_by_address() -> None:
    tier, key = subject_for(scope("203.0.113.7"), Policy(), "api")
    assert tier.name == "human"
    assert key == ("api", "human", "ip", "203.0.113.7")


def test_something_else_in_the_principal_slot_is_anonymous() -> None:
    s = scope("203.0.113.7", **{PRINCIPAL_SCOPE_KEY: {"client_id": "forged"}})
    assert subject_for(s, Policy(), "api")[1][2:] == ("ip", "203.0.113.7")


def test_spoofed_xff_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address(scope("203.0.113.7", "1.2.3.4"), Policy()) == "203.0.113.7"
    assert client_address(scope("203.0.113.7", "1.2.3.4"), PROXIES) == "203.0.113.7"


def test_trusted_proxy_yields_rightmost_untrusted_hop() -> None:
    s = scope("10.0.0.5", "6.6.6.6, 198.51.100.1, 10.1.1.1")
    assert client_address(s, PROXIES) == "198.51.100.1"


def test_multiple_xff_headers_are_one_list() -> None:
    s = scope("10.0.0.5", "6.6.6.6", "198.51.100.1")
    assert client_address(s, PROXIES) == "198.51.100.1"


def test_trusted_proxy_without_xff_is_the_client() -> None:
    assert client_address(scope("10.0.0.5"), PROXIES) == "10.0.0.5"


def test_all_hops_trusted_yields_the_leftmost() -> None:
    assert client_address(scope("10.0.0.5", "10.9.9.9, 10.2.2.2"), PROXIES) == "10.9.9.9"


def test_garbage_hop_stops_at_the_last_trusted_hop() -> None:
    assert client_address(scope("10.0.0.5", "1.1.1.1, bogus, 10.2.2.2"), PROXIES) == "10.2.2.2"


def test_ports_and_brackets_are_stripped() -> None:
    assert client_address(scope("10.0.0.5", "198.51.100.1:4711"), PROXIES) == "198.51.100.1"
    got = client_address(scope("10.0.0.5", "[2001:db8::1]:4711"), PROXIES)
    assert got == "2001:db8::/64"


def test_ipv6_clients_share_their_64() -> None:
    a = client_address(scope("2001:db8:1:2:aaaa::1"), Policy())
    b = client_address(scope("2001:db8:1:2:bbbb::2"), Policy())
    assert a == b == "2001:db8:1:2::/64"
    assert client_address(scope("2001:db8::1"), Policy(ipv6_prefix=128)) == "2001:db8::1/128"


def test_ipv4_mapped_ipv6_is_ipv4() -> None:
    assert client_address(scope("::ffff:203.0.113.7"), Policy()) == "203.0.113.7"


def test_missing_or_non_ip_peer() -> None:
    assert client_address(scope(None), PROXIES) == "unknown"
    assert client_address(scope("testclient"), PROXIES) == "testclient"


_hop = st.one_of(
    st.ip_addresses().map(str),
    st.text(alphabet=st.characters(blacklist_characters=",", codec="latin-1"), max_size=40),
)


@given(st.lists(_hop, max_size=6))
def test_client_chosen_xff_never_changes_an_untrusted_peers_key(hops: list[str]) -> None:
    assert client_address(scope("203.0.113.7", ", ".join(hops)), PROXIES) == "203.0.113.7"


@given(st.lists(_hop, max_size=6))
def test_client_chosen_xff_left_of_the_real_hop_is_ignored(hops: list[str]) -> None:
    s = scope("10.0.0.5", ", ".join([*hops, "198.51.100.1"]))
    assert client_address(s, PROXIES) == "198.51.100.1"
