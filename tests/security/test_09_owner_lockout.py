"""Issue 13 item 9: strangers cannot lock an owner out of the console.

Sign-in attempts are throttled per (account, address): five wrong passwords from address A get A
a 429 page with ``Retry-After``, and the owner still signs in from address B. Across all
addresses the account has a slower budget that only slows every attempt down (it waits), so a
guesser spread over many addresses never turns into a lockout either.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.requests import Request
from tests.console.conftest import (  # noqa: F401  (cheap_argon2: the console's fixture)
    PASSWORD,
    Harness,
    cheap_argon2,
    console_settings,
    running,
)

import gatepass.http.console.login as login_module
from gatepass.core.owners import LOGIN_FAILED
from gatepass.errors import RateLimitExceeded
from gatepass.http.console.login import (
    ACCOUNT_DELAY,
    ATTEMPTS_PER_ACCOUNT,
    ATTEMPTS_PER_SOURCE,
    TOO_MANY,
    LoginThrottle,
)
from gatepass.ratelimit import Limiter

WRONG = "not the password"


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(console_settings(tmp_path)) as harness:
        yield harness


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The account-wide waits the throttle asked for (recorded instead of slept)."""
    asked: list[float] = []

    async def pause(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(login_module, "_pause", pause)
    return asked


def _error(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', html)
    assert found, html
    return found.group(1)


async def test_brute_force_from_one_address_is_refused_with_retry_after(
        h: Harness, pauses: list[float]) -> None:
    await h.owner("alice@example.com")
    attacker = "192.0.2.66"
    for _ in range(ATTEMPTS_PER_SOURCE):
        wrong = await h.browser(attacker).login("alice@example.com", WRONG)
        assert wrong.status_code == 401 and _error(wrong.text) == LOGIN_FAILED
    for password in (WRONG, PASSWORD):  # once refused, even the right password gets nothing
        blocked = await h.browser(attacker).login("alice@example.com", password)
        assert blocked.status_code == 429
        assert blocked.headers["content-type"].startswith("text/html")
        assert _error(blocked.text) == TOO_MANY
        assert 0 < int(blocked.headers["retry-after"]) <= 900
        assert blocked.headers["cache-control"] == "no-store"
    # The owner, from their own address, is not locked out, and nobody was slowed down yet.
    owner = await h.browser("198.51.100.10").login("alice@example.com")
    assert owner.status_code == 303 and owner.headers["location"] == "/console"
    assert pauses == []


async def test_guesses_spread_over_many_addresses_slow_the_account_but_never_lock_it(
        h: Harness, pauses: list[float]) -> None:
    await h.owner("alice@example.com")
    await h.owner("bob@example.com")
    sources = [f"192.0.2.{i}" for i in range(1, 20)]
    attempts = 0
    for source in sources:  # under the per-address budget everywhere
        for _ in range(ATTEMPTS_PER_SOURCE - 1):
            if attempts == ATTEMPTS_PER_ACCOUNT:
                assert pauses == []  # the account-wide budget was not slowing anyone yet
            response = await h.browser(source).login("alice@example.com", WRONG)
            assert response.status_code == 401, (attempts, response.status_code)
            attempts += 1
    assert attempts > ATTEMPTS_PER_ACCOUNT
    assert pauses == [ACCOUNT_DELAY] * (attempts - ATTEMPTS_PER_ACCOUNT)
    # The owner still gets in from a fresh address, after the same wait ...
    owner = h.browser("198.51.100.10")
    assert (await owner.login("alice@example.com")).status_code == 303
    assert (await owner.get("/console")).status_code == 200
    assert len(pauses) == attempts - ATTEMPTS_PER_ACCOUNT + 1
    # ... and other accounts are not slowed at all.
    assert (await h.browser("198.51.100.11").login("bob@example.com")).status_code == 303
    assert len(pauses) == attempts - ATTEMPTS_PER_ACCOUNT + 1


def _request(address: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/console/login", "headers": [],
                    "client": (address, 40_000), "query_string": b""})


async def test_the_throttle_counts_per_account_and_address_with_shared_counters() -> None:
    """Two throttles over one counter store (as two workers over Redis) share the counts."""
    limiter = Limiter("memory://", key_prefix="gatepass:test-login")
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    first, second = (LoginThrottle(limiter, per_source=2, per_account=3, delay=1.5, sleep=wait)
                     for _ in range(2))
    try:
        await first.attempt(_request("192.0.2.1"), "Alice@Example.com")
        await second.attempt(_request("192.0.2.1"), "alice@example.com")
        with pytest.raises(RateLimitExceeded) as refused:
            await first.attempt(_request("192.0.2.1"), "alice@example.com")
        assert int(refused.value.headers["Retry-After"]) > 0
        await second.attempt(_request("192.0.2.2"), "alice@example.com")  # 3rd: in budget
        assert waits == []
        await first.attempt(_request("192.0.2.3"), "alice@example.com")  # 4th: slowed
        await second.attempt(_request("192.0.2.2"), "bob@example.com")  # another account
        assert waits == [1.5]
    finally:
        await limiter.aclose()
