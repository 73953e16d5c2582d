"""Issue 13 item 8: console sessions are server-side, so sign-out, a password change and
``gatepass owners disable`` end every session of the owner; a saved cookie opens nothing after.

The attack: keep a copy of the session cookie, let the owner sign out (or change password, or an
operator disable them), then replay the copy at ``/console``. The legitimate side: a fresh
sign-in still works, and other owners' sessions are untouched.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from itsdangerous import TimestampSigner
from tests.console.conftest import (  # noqa: F401  (cheap_argon2: the console's fixture)
    PASSWORD,
    Browser,
    Harness,
    cheap_argon2,
    console_settings,
    running,
)

from gatepass.core.owners import LOGIN_FAILED
from gatepass.http.session import COOKIE, LOGIN_PATH, session_secret
from gatepass.runtime import local_secrets

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(console_settings(tmp_path)) as harness:
        yield harness


def saved_cookie(browser: Browser) -> str:
    value = browser.http.cookies.get(COOKIE)
    assert value, "no session cookie"
    return value


async def replay(h: Harness, cookie: str, path: str = "/console") -> int:
    """GET ``path`` from a new client that sends only the saved cookie."""
    response = await h.client("203.0.113.66").get(path, headers={"cookie": f"{COOKIE}={cookie}"})
    if response.status_code == 303:
        assert response.headers["location"].startswith(LOGIN_PATH)
    return response.status_code


async def test_a_cookie_saved_before_sign_out_no_longer_opens_the_console(h: Harness) -> None:
    await h.owner("alice@example.com")
    await h.owner("bob@example.com")
    laptop = await h.signed_in("alice@example.com")
    phone = await h.signed_in("alice@example.com", ip="198.51.100.8")
    bob = await h.signed_in("bob@example.com", ip="198.51.100.9")
    stolen = saved_cookie(laptop)
    assert await replay(h, stolen) == 200  # the copy works while the session lives
    assert (await laptop.post("/console/logout", csrf_from="/console")).status_code == 303
    assert await replay(h, stolen) == 303
    assert (await phone.get("/console")).status_code == 303  # every session of the owner
    assert (await bob.get("/console")).status_code == 200  # other owners keep theirs
    again = await h.signed_in("alice@example.com")
    assert (await again.get("/console")).status_code == 200


async def test_a_cookie_saved_before_a_password_change_no_longer_opens_anything(
        h: Harness) -> None:
    await h.owner("alice@example.com")
    browser = await h.signed_in("alice@example.com")
    stolen = saved_cookie(browser)
    await h.owners.set_password("alice@example.com", NEW_PASSWORD, actor="test")
    assert await replay(h, stolen) == 303
    old = await h.browser("198.51.100.20").login("alice@example.com", PASSWORD)
    assert old.status_code == 401 and LOGIN_FAILED in old.text
    fresh = h.browser("198.51.100.21")
    assert (await fresh.login("alice@example.com", NEW_PASSWORD)).status_code == 303
    assert (await fresh.get("/console")).status_code == 200
    events = [e for e in await h.events() if e.event == "owner.password_changed"]
    assert events and events[-1].details["sessions_ended"] == 1


async def test_the_cookie_names_a_server_side_session_and_a_forged_one_opens_nothing(
        h: Harness) -> None:
    owner = await h.owner("alice@example.com")
    browser = await h.signed_in("alice@example.com")
    signer = TimestampSigner(session_secret(local_secrets(h.runtime.settings)[1]))
    payload = signer.unsign(saved_cookie(browser))
    data = json.loads(base64.b64decode(payload))
    assert owner.owner_id not in json.dumps(data)  # the cookie holds a random id only
    assert set(data) == {"sid", "csrf"}
    # A correctly signed cookie naming a session the server never started is refused ...
    forged = {**data, "sid": secrets.token_urlsafe(32)}
    cookie = signer.sign(base64.b64encode(json.dumps(forged).encode())).decode()
    assert await replay(h, cookie) == 303
    # ... while the genuine one, re-signed the same way, opens the console.
    genuine = signer.sign(base64.b64encode(json.dumps(data).encode())).decode()
    assert await replay(h, genuine) == 200


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``gatepass`` in its own process, on the server's database."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "GATEPASS_CONFIG_FILE": str(config),
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", "from gatepass.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_owners_disable_from_another_process_ends_the_sessions(tmp_path: Path) -> None:
    kek, pepper = Fernet.generate_key().decode(), secrets.token_hex(32)
    database = f"sqlite+aiosqlite:///{tmp_path / 'gp.db'}"
    settings = console_settings(tmp_path, database_url=database, key_encryption_keys=[kek],
                                secret_pepper=pepper)
    config = tmp_path / "gatepass.toml"
    config.write_text(f'issuer = "{settings.issuer}"\ndatabase_url = "{database}"\n'
                      f'data_dir = "{tmp_path}"\nkey_encryption_keys = ["{kek}"]\n'
                      f'secret_pepper = "{pepper}"\n')
    async with running(settings) as h:
        await h.owner("alice@example.com")
        await h.owner("bob@example.com")
        browser = await h.signed_in("alice@example.com")
        bob = await h.signed_in("bob@example.com", ip="198.51.100.9")
        stolen = saved_cookie(browser)
        assert await replay(h, stolen) == 200
        done = _cli(config, "owners", "disable", "Alice@example.com")
        assert done.returncode == 0, done.stderr
        assert "alice@example.com is disabled" in done.stdout
        assert await replay(h, stolen) == 303
        assert (await browser.get("/console")).status_code == 303
        assert (await bob.get("/console")).status_code == 200
        refused = await h.browser("198.51.100.30").login("alice@example.com")
        assert refused.status_code == 401 and LOGIN_FAILED in refused.text
        assert _cli(config, "owners", "disable", "nobody@example.com").returncode != 0
        assert _cli(config, "owners", "enable", "alice@example.com").returncode == 0
        assert (await h.browser("198.51.100.31").login("alice@example.com")).status_code == 303
        assert await replay(h, stolen) == 303  # enabling does not bring old sessions back
        kinds = [(e.event, e.actor) for e in await h.events()]
        assert any(ev == "owner.disabled" and actor.startswith("cli:") for ev, actor in kinds)
