"""Issue 13 item 15 (first bullet): the outbound-fetch guard refuses IPv6 addresses that carry a
private IPv4 address a translator or relay would deliver the request to: NAT64 (RFC 6052
64:ff9b::/96, RFC 8215 64:ff9b:1::/48), 6to4 (RFC 3056 2002::/16), IPv4-compatible (::/96) and
Teredo (2001::/32). The same prefixes carrying a public IPv4 address still pass.

Host names end in ``.test`` (RFC 6761); only the guard's resolver is told what they resolve to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gatepass.http import fetch
from gatepass.http.fetch import UnsafeUrl, check_public_url
from security.gp_secnet import RawServer, assertion_form, es256, jwks_body, live_server

REFUSED = [
    "64:ff9b::a00:1",            # NAT64 of 10.0.0.1
    "64:ff9b::c0a8:101",         # NAT64 of 192.168.1.1
    "64:ff9b::7f00:1",           # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",        # NAT64 of 169.254.169.254 (cloud metadata)
    "64:ff9b:1::a00:1",          # RFC 8215 local-use NAT64 prefix
    "64:ff9b:1:808:8:800::",     # ... whatever it embeds (here 8.8.8.8)
    "2002:a00:1::1",             # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::1",         # 6to4 of 169.254.169.254
    "2002:7f00:1::1",            # 6to4 of 127.0.0.1
    "::a00:1",                   # IPv4-compatible 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo
]
ACCEPTED = [
    "64:ff9b::808:808",          # NAT64 of 8.8.8.8
    "2002:808:808::1",           # 6to4 of 8.8.8.8
    "2606:4700:4700::1111",      # plain public IPv6
]


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host name -> the addresses the guard's resolver answers."""
    table: dict[str, list[str]] = {}
    real = fetch._resolve

    async def resolve(host: str, port: int) -> list[str]:
        return table[host] if host in table else await real(host, port)

    monkeypatch.setattr(fetch, "_resolve", resolve)
    return table


@pytest.mark.parametrize("address", REFUSED)
@pytest.mark.parametrize("development", [False, True])
async def test_embedded_private_ipv4_is_refused(answers: dict[str, list[str]], address: str,
                                                development: bool) -> None:
    answers["keys.evil.test"] = [address]
    with pytest.raises(UnsafeUrl, match="non-public address"):
        await check_public_url("https://keys.evil.test/jwks.json", development=development)


@pytest.mark.parametrize("address", ACCEPTED)
async def test_embedded_public_ipv4_passes(answers: dict[str, list[str]], address: str) -> None:
    answers["keys.good.test"] = [address]
    checked = await check_public_url("https://keys.good.test/jwks.json", development=False)
    assert checked.address == address


async def test_one_bad_answer_among_good_ones_is_refused(answers: dict[str, list[str]]) -> None:
    answers["mixed.evil.test"] = ["2606:4700:4700::1111", "64:ff9b::a00:1"]
    with pytest.raises(UnsafeUrl):
        await check_public_url("https://mixed.evil.test/jwks.json", development=False)


async def test_private_key_jwt_client_with_a_nat64_jwks_uri_gets_401(
        tmp_path: Path, answers: dict[str, list[str]]) -> None:
    """End to end over HTTP: the token endpoint refuses the client whose jwks_uri host is a NAT64
    address of the cloud metadata service (RFC 6749 §5.2 body, no fetch), and serves the client
    whose jwks_uri is fine."""
    answers["keys.evil.test"] = ["64:ff9b::a9fe:a9fe"]
    key = es256()
    async with RawServer(body=jwks_body(key)) as keys, live_server(tmp_path) as live:
        bad = await live.jwt_client("https://keys.evil.test/jwks.json")
        refused = await live.http.post("/oauth/token", data={
            "grant_type": "client_credentials", **assertion_form(bad, key)})
        assert refused.status_code == 401
        assert refused.json() == {"error": "invalid_client", "error_description":
                                  "Could not obtain the client's keys from its jwks_uri"}
        good = await live.jwt_client(keys.url("/jwks.json"))
        ok = await live.http.post("/oauth/token", data={
            "grant_type": "client_credentials", **assertion_form(good, key)})
        assert ok.status_code == 200, ok.text
