"""The README's "Protecting your own API" recipe, taken from README.md itself and run as printed.

A real ``gatepass serve`` (development mode, as ``make run``) on a free loopback port; the
README's ``gatepass clients create ... gatepass:introspect`` command makes the API's own client.
The FastAPI and Starlette programs are cut out of the README, saved under the names it gives
and run with ``python -m uvicorn`` on their own ports. Each one: ``/docs`` is public (FastAPI),
a request without a token gets 401 naming ``resource_metadata``, which the API serves; a token
for the API is accepted; after ``POST /oauth/revoke`` the token is refused within one second
(a bounded polling loop). The Flask example must at least compile.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.e2e.serving import CLI_TIMEOUT, GATEPASS, _wait_healthy, stop
from tests.e2e.serving import free_port as _free_port

import gatepass

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Protecting your own API"
REVOCATION_BOUND = 1.0
SOURCE = str(Path(gatepass.__file__).resolve().parents[1])  # the gatepass under test


def _section() -> str:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return text[start:end]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), flags=re.DOTALL)


def _program(module: str) -> str:
    """The python block the README tells to run as ``uvicorn <module>:app``."""
    for block in _blocks("python"):
        names = re.findall(r"uvicorn (\w+):app", _section().split(block)[0])
        if names and names[-1] == module:
            return block
    raise AssertionError(f"README names no python block run as uvicorn {module}:app")


@dataclass(frozen=True)
class Served:
    issuer: str
    cwd: Path
    env: dict[str, str]
    apis: dict[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp("gatepass-rs-recipe")
    issuer = f"http://127.0.0.1:{_free_port()}"
    apis = {name: f"http://127.0.0.1:{_free_port()}"
            for name in ("projects_api", "projects_starlette")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    path = [SOURCE, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env |= {"PYTHONPATH": os.pathsep.join(path), "GATEPASS_ISSUER": issuer,
            "GATEPASS_DEVELOPMENT": "true",
            "GATEPASS_RESOURCES": json.dumps(list(apis.values()))}
    log = cwd / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*GATEPASS, "serve", "--port", issuer.rsplit(":", 1)[1]],
                                cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(issuer, proc, log)
            yield Served(issuer, cwd, env, apis)
        finally:
            stop(proc)


def _cli(served: Served, command: str) -> dict[str, str]:
    """Run one ``gatepass ...`` line as the README prints it; its JSON output."""
    args = command.split()
    assert args[0] == "gatepass"
    done = subprocess.run([*GATEPASS, *args[1:]], cwd=served.cwd, env=served.env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def rs_client(served: Served) -> dict[str, str]:
    (line,) = [line for block in _blocks("bash") for line in block.splitlines()
               if line.startswith("gatepass clients create")]
    created = _cli(served, line)
    assert created["scope"] == "gatepass:introspect" and created["client_secret"]
    return created


def _run_api(served: Served, rs: dict[str, str], module: str, tmp: Path
             ) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp / f"{module}.py").write_text(_program(module))
    port = served.apis[module].rsplit(":", 1)[1]
    env = served.env | {"RS_CLIENT_ID": rs["client_id"], "RS_CLIENT_SECRET": rs["client_secret"],
                        "API_URL": served.apis[module]}
    log = tmp / f"{module}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", port,
             "--host", "127.0.0.1"], cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the API exited ({proc.returncode}):\n{log.read_text()}")
        try:
            httpx.get(url + "/.well-known/oauth-protected-resource", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"the API did not start:\n{log.read_text()}")


def _token(served: Served, agent: tuple[str, str], api: str) -> str:
    resp = httpx.post(served.issuer + "/oauth/token", auth=agent, timeout=10.0, data={
        "grant_type": "client_credentials", "scope": "read:projects", "resource": api})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


@pytest.mark.parametrize("module", ["projects_api", "projects_starlette"])
def test_the_readme_api_refuses_a_revoked_token_within_one_second(
        served: Served, rs_client: dict[str, str], module: str, tmp_path: Path) -> None:
    api = served.apis[module]
    agent_created = _cli(served, f"gatepass clients create --name agent-{module} "
                                 f"--scope read:projects --resource {api} --json")
    agent = (agent_created["client_id"], agent_created["client_secret"])
    proc, log = _run_api(served, rs_client, module, tmp_path)
    try:
        _wait_up(api, proc, log)
        with httpx.Client(base_url=api, timeout=10.0) as http:
            if module == "projects_api":
                assert http.get("/docs").status_code == 200  # not behind the bearer check
                assert http.get("/openapi.json").status_code == 200
            bare = http.get("/projects")
            assert bare.status_code == 401 and bare.json()["error"] == "missing_token"
            (pointer,) = re.findall(r'resource_metadata="([^"]+)"',
                                    bare.headers["www-authenticate"])
            assert pointer == api + "/.well-known/oauth-protected-resource"
            document = httpx.get(pointer, timeout=10.0).json()
            assert document["resource"] == api
            assert document["authorization_servers"] == [served.issuer]

            token = _token(served, agent, api)
            auth = {"Authorization": f"Bearer {token}"}
            ok = http.get("/projects", headers=auth)
            assert ok.status_code == 200, ok.text
            assert ok.json()["client_id"] == agent[0]

            revoked = httpx.post(served.issuer + "/oauth/revoke", auth=agent, timeout=10.0,
                                 data={"token": token, "token_type_hint": "access_token"})
            assert revoked.status_code == 200, revoked.text
            deadline = time.monotonic() + REVOCATION_BOUND
            answer = http.get("/projects", headers=auth)
            while answer.status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.02)
                answer = http.get("/projects", headers=auth)
            assert answer.status_code == 401, "still accepted one second after /oauth/revoke"
            assert answer.json()["error"] == "token_revoked"
            fresh = {"Authorization": f"Bearer {_token(served, agent, api)}"}
            assert http.get("/projects", headers=fresh).status_code == 200
    finally:
        stop(proc)


def test_an_api_without_credentials_for_revocation_does_not_start(tmp_path: Path) -> None:
    """The README's program with the credentials missing: uvicorn cannot import it."""
    (tmp_path / "projects_api.py").write_text(_program("projects_api").replace(
        'client_id=os.environ["RS_CLIENT_ID"], client_secret=os.environ["RS_CLIENT_SECRET"],',
        ""))
    env = os.environ | {"PYTHONPATH": SOURCE}
    done = subprocess.run([sys.executable, "-c", "import projects_api"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "revocation='none'" in done.stderr


def test_the_flask_example_compiles() -> None:
    (flask,) = [b for b in _blocks("python") if "from flask import" in b]
    compile(flask, "README-flask", "exec")
