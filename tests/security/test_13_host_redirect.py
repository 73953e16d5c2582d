"""Issue 13, item 13: no redirect is built from the ``Host`` header.

Starlette and FastAPI answer a path with an extra (or missing) trailing slash with a 307 whose
``Location`` is built from the request's ``Host`` (``POST /oauth/register/`` with ``Host:
evil.example`` went to ``http://evil.example/oauth/register``). Every router has
``redirect_slashes`` off: such a path is an unknown path, a JSON 404. Checked against
``gatepass serve`` in development mode (demo API mounted) and in production mode, over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from tests.e2e.serving import Served, serving

pytestmark = pytest.mark.slow
EVIL = {"Host": "evil.example"}
SLASHED = [
    ("POST", "/oauth/register/"),
    ("POST", "/oauth/token/"),
    ("POST", "/oauth/revoke/"),
    ("GET", "/oauth/authorize/"),
    ("GET", "/.well-known/jwks.json/"),
    ("GET", "/.well-known/oauth-authorization-server/"),
    ("GET", "/healthz/"),
    ("POST", "/api/v1/agents/register/"),
    ("GET", "/api/v1/admin/agents/"),
    ("GET", "/api/v1/billing/prepaid/"),
    ("GET", "/console/static"),
    ("GET", "/api/projects/"),
    ("GET", "/api/analytics/"),
    ("GET", "/api/docs/"),
]


@pytest.fixture(scope="module", params=["development", "production"])
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp(f"host-{request.param}")
    development = "true" if request.param == "development" else "false"
    with serving(cwd, GATEPASS_DEVELOPMENT=development) as served:
        yield served


@pytest.fixture(scope="module")
def bearer(served: Served) -> dict[str, str]:
    """In development, a token of the printed demo client, so that the demo API's bearer check
    lets requests reach its routing; in production, no header (there is no demo API)."""
    printed = dict(re.findall(r"(client_id|client_secret): +(\S+)", served.log.read_text()))
    if not printed:
        return {}
    token = httpx.post(served.issuer + "/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(printed["client_id"], printed["client_secret"]), timeout=10.0)
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.mark.parametrize(("method", "path"), SLASHED)
def test_a_slash_variant_is_never_redirected_to_the_host_header(
        served: Served, bearer: dict[str, str], method: str, path: str) -> None:
    response = httpx.request(method, served.issuer + path, headers=EVIL | bearer, timeout=10.0)
    assert "location" not in response.headers, (path, response.headers)
    assert response.status_code in (404, 405), (path, response.status_code, response.text)
    body = response.json()
    assert body["error"] in ("not_found", "invalid_request") and body["error_description"]
    assert "evil.example" not in response.text


def test_the_paths_themselves_still_answer(served: Served) -> None:
    development = "demo" in httpx.get(served.issuer + "/api/docs", timeout=10.0).text.lower()

    def call(method: str, path: str, **kw: object) -> httpx.Response:
        return httpx.request(method, served.issuer + path, headers=EVIL, timeout=10.0,
                             **kw)  # type: ignore[arg-type]

    assert call("GET", "/healthz").json() == {"status": "ok"}
    assert call("GET", "/.well-known/jwks.json").json()["keys"]
    meta = call("GET", "/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == served.issuer  # configured, never taken from Host
    registered = call("POST", "/oauth/register", json={
        "client_name": "host-test", "redirect_uris": ["http://127.0.0.1:9/cb"],
        "grant_types": ["authorization_code"], "token_endpoint_auth_method": "none"})
    assert registered.status_code in (201, 400, 402), registered.text
    assert "error" in registered.json() or registered.json()["client_id"]
    assert call("POST", "/oauth/token", data={"grant_type": "client_credentials"}).json()[
        "error"] == "invalid_client"
    assert call("GET", "/console").status_code in (200, 303)
    projects = call("GET", "/api/projects")
    if development:
        assert projects.status_code == 401 and projects.json()["error"] == "missing_token"
    else:
        assert projects.status_code == 404
