"""Issue 13, item 12: a refused refresh request does not spend the refresh token.

The token was marked used before the scope and resource checks, so after an ``invalid_scope``
the client's retry looked like reuse and revoked the whole grant. Now the request is validated
first and the token rotated last; reuse of a really spent token still revokes the grant.
"""

from __future__ import annotations

import asyncio
from typing import Any

from authcode.conftest import API, SCOPE, Browser


async def _tokens(ac: Browser) -> tuple[str, dict[str, Any]]:
    cid = str((await ac.register())["client_id"])
    code, verifier = await ac.code(cid, resource=API)
    resp = await ac.exchange(cid, code, verifier, resource=API)
    assert resp.status_code == 200, resp.text
    return cid, resp.json()


async def test_invalid_scope_then_retry_with_the_same_refresh_token_works(ac: Browser) -> None:
    cid, first = await _tokens(ac)
    wider = await ac.refresh(cid, first["refresh_token"], scope=f"{SCOPE} read:analytics")
    assert wider.status_code == 400, wider.text
    assert wider.json()["error"] == "invalid_scope"
    assert "read:analytics" in wider.json()["error_description"]
    unknown = await ac.refresh(cid, first["refresh_token"], scope="delete:world")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_scope"
    retry = await ac.refresh(cid, first["refresh_token"], scope="read:projects")
    assert retry.status_code == 200, retry.text
    assert retry.json()["scope"] == "read:projects"
    assert not await ac.rt.stores.revocations.is_revoked(ac.claims(first["access_token"])["jti"])


async def test_invalid_target_then_retry_with_the_same_refresh_token_works(ac: Browser) -> None:
    cid, first = await _tokens(ac)
    other = await ac.refresh(cid, first["refresh_token"], resource="https://other.example.com")
    assert other.status_code == 400, other.text
    assert other.json()["error"] == "invalid_target"
    assert other.json()["error_description"]
    retry = await ac.refresh(cid, first["refresh_token"], resource=API)
    assert retry.status_code == 200, retry.text
    assert ac.claims(retry.json()["access_token"])["aud"] == API


async def test_a_spent_refresh_token_still_revokes_the_grant(ac: Browser) -> None:
    """The legitimate rotation is unchanged, and so is reuse detection."""
    cid, first = await _tokens(ac)
    second = await ac.refresh(cid, first["refresh_token"])
    assert second.status_code == 200, second.text
    reuse = await ac.refresh(cid, first["refresh_token"], scope="read:projects")
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "already used" in reuse.json()["error_description"]
    after = await ac.refresh(cid, second.json()["refresh_token"])
    assert after.json()["error"] == "invalid_grant"
    assert "revoked" in after.json()["error_description"]


async def test_a_refused_request_with_a_spent_token_is_still_reuse(ac: Browser) -> None:
    """Validation first must not hide reuse: a spent token with a bad scope revokes the grant."""
    cid, first = await _tokens(ac)
    second = (await ac.refresh(cid, first["refresh_token"])).json()
    reuse = await ac.refresh(cid, first["refresh_token"], scope="read:analytics")
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    after = await ac.refresh(cid, second["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


async def test_concurrent_uses_of_one_refresh_token_issue_at_most_once(ac: Browser) -> None:
    """Validation happens before the atomic spend, so two racing requests cannot both win."""
    cid, first = await _tokens(ac)
    answers = await asyncio.gather(*(ac.refresh(cid, first["refresh_token"]) for _ in range(4)))
    assert sum(a.status_code == 200 for a in answers) <= 1
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code != 200)
