"""Issue 13, item 7: the kill switch covers RFC 7592.

After ``gatepass agents suspend ID`` (``Admin.suspend``, what the CLI calls), ``PUT`` and
``DELETE /oauth/register/ID`` with the registration access token still succeeded. Now a
suspended (or disabled) client can read its registration but not change or delete it: 403
(RFC 7592 §2.2, §2.3) with an ``error`` and ``error_description``.
"""

from __future__ import annotations

from typing import Any

import httpx

from authcode.conftest import Browser


def _auth(doc: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {doc['registration_access_token']}"}


def _uri(doc: dict[str, Any]) -> str:
    return f"/oauth/register/{doc['client_id']}"


def _update(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    keep = ("client_name", "redirect_uris", "grant_types", "response_types",
            "token_endpoint_auth_method", "scope")
    return {"client_id": doc["client_id"], **{k: doc[k] for k in keep}, **changes}


def _forbidden(resp: httpx.Response, status: str) -> None:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["error"] == "access_denied"
    assert f"This client is {status}" in body["error_description"]
    assert "can read its registration" in body["error_description"]
    assert resp.headers["cache-control"] == "no-store"


async def test_suspended_client_reads_but_cannot_change_or_delete_its_registration(
        ac: Browser) -> None:
    doc = await ac.register()
    cid = doc["client_id"]
    await ac.rt.admin.suspend(cid, actor="cli", reason="abuse report")
    read = await ac.http.get(_uri(doc), headers=_auth(doc))
    assert read.status_code == 200, read.text
    assert read.json()["client_name"] == doc["client_name"]
    renamed = _update(doc, client_name="renamed while suspended")
    _forbidden(await ac.http.put(_uri(doc), headers=_auth(doc), json=renamed), "suspended")
    _forbidden(await ac.http.delete(_uri(doc), headers=_auth(doc)), "suspended")
    kept = await ac.rt.admin.get_client(cid)
    assert kept.status == "suspended" and kept.name == doc["client_name"]


async def test_disabled_client_cannot_delete_its_registration(ac: Browser) -> None:
    doc = await ac.register()
    await ac.rt.admin.set_status(doc["client_id"], "disabled", actor="cli")
    _forbidden(await ac.http.delete(_uri(doc), headers=_auth(doc)), "disabled")
    assert (await ac.rt.admin.get_client(doc["client_id"])).status == "disabled"


async def test_active_client_still_updates_and_deletes_its_registration(ac: Browser) -> None:
    doc = await ac.register()
    cid = doc["client_id"]
    await ac.rt.admin.suspend(cid, actor="cli")
    await ac.rt.admin.set_status(cid, "active", actor="cli")  # the operator lifts the stop
    updated = await ac.http.put(_uri(doc), headers=_auth(doc),
                                json=_update(doc, client_name="renamed"))
    assert updated.status_code == 200, updated.text
    assert updated.json()["client_name"] == "renamed"
    deleted = await ac.http.delete(_uri(doc), headers=_auth(doc))
    assert deleted.status_code == 204, deleted.text
    gone = await ac.http.get(_uri(doc), headers=_auth(doc))
    assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
