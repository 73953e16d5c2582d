"""Tokens, secrets and assertions never reach the logs (DESIGN §6 observability)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from gp_http_kit import Served

from gatepass.observability.logging import configure_logging


async def exercise(s: Served) -> list[str]:
    """Every endpoint, success and failure; returns the sensitive strings it used."""
    cid, secret = await s.secret_client()
    rotated, _ = await s.rt.admin.rotate_secret(cid)
    token = await s.access_token(cid, secret, scope="read:projects")
    assert (await s.token((cid, secret + "x"))).status_code == 401
    assert (await s.token((cid, rotated), scope="read:nothing")).status_code == 400
    await s.post("/oauth/introspect", {"token": token}, auth=(cid, secret))
    await s.post("/oauth/revoke", {"token": token}, auth=(cid, secret))
    jcid, key = await s.jwt_client()
    assertion = s.assertion(jcid, key)
    form = {"grant_type": "client_credentials", **s.assertion_form(assertion)}
    assert (await s.post("/oauth/token", form)).status_code == 200
    assert (await s.post("/oauth/token", form)).status_code == 401
    await s.flush_audit()
    return [secret, rotated, token, token.split(".")[2], assertion, assertion.split(".")[2]]


@pytest.fixture
def json_logs() -> Iterator[Callable[[], None]]:
    """``configure_logging`` as a server process does; call it inside the test (capsys swaps
    streams between phases); global logging is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield lambda: configure_logging("DEBUG")
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


async def test_logging_default_config_never_shows_secrets(
    served: Served, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sensitive = await exercise(served)
    out = capsys.readouterr()
    text = out.out + out.err + caplog.text + repr([r.__dict__ for r in caplog.records])
    assert "token.issued" in text  # the audit logger did log
    for value in sensitive:
        assert value not in text


async def test_logging_json_lines_are_redacted(
    served: Served, json_logs: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    json_logs()
    sensitive = await exercise(served)
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    events = {line["event"] for line in lines}
    assert {"token.issued", "token.refused", "token.revoked"} <= events
    for value in sensitive:
        assert value not in err


async def test_logging_exception_text_is_redacted_too(
    served: Served, json_logs: Callable[[], None], capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
) -> None:
    json_logs()
    cid, secret = await served.secret_client()
    token = await served.access_token(cid, secret)

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"signing failed; request had {secret} and {token}")

    monkeypatch.setattr(served.rt.server.issuer, "issue", boom)
    assert (await served.token((cid, secret))).status_code == 500
    err = capsys.readouterr().err
    assert "unexpected error on /oauth/token" in err
    assert "RuntimeError" in err
    assert secret not in err and token not in err
