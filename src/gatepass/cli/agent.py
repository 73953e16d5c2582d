"""``gatepass agent``: register an agent, print an access token, call a protected API.

Credentials live in ``--credentials`` (default ``$GATEPASS_AGENT_CREDENTIALS``, else
``~/.config/gatepass/agent.json``), mode 0600. The client secret is never printed; ``token``
prints an access token because that is what it is for. Messages go to stderr, so stdout
carries only the requested output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from gatepass.agent import (
    AgentClient,
    AgentError,
    InsufficientScopeError,
    PaymentRequiredError,
    RateLimitedError,
    Registration,
    TermsRequiredError,
    load_credentials,
)
from gatepass.cli._app import app, emit_json

__all__ = ["agent", "default_credentials_path"]

agent = typer.Typer(help="Act as an agent: register, get tokens, call protected APIs.",
                    no_args_is_help=True)
app.add_typer(agent, name="agent")
err = Console(stderr=True)


def default_credentials_path() -> Path:
    if env := os.environ.get("GATEPASS_AGENT_CREDENTIALS"):
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "gatepass" / "agent.json"


CredPath = Annotated[Path | None, typer.Option("--credentials", help="Credentials file "
                                               "(default: ~/.config/gatepass/agent.json)")]
ScopeOpt = Annotated[str | None, typer.Option("--scope", help="Space-separated scopes")]
Insecure = Annotated[bool, typer.Option(help="Allow plain http to non-loopback hosts")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _explain(exc: AgentError) -> None:
    err.print(f"[red]{escape(exc.error)}[/red]: {escape(exc.description)}")
    if isinstance(exc, TermsRequiredError):
        err.print(f"Read the terms at {escape(str(exc.tos_url))} (version "
                  f"{escape(str(exc.tos_version))}); re-run with --accept-tos to accept them.")
    elif isinstance(exc, PaymentRequiredError):
        for option in exc.billing_options:
            err.print(f"  billing option: {escape(json.dumps(option))}")
        err.print("Get a billing token, then re-run with --billing-token "
                  "(or GATEPASS_BILLING_TOKEN).")
    elif isinstance(exc, RateLimitedError):
        err.print(f"Retry after {exc.retry_after}s." + (
            f" Higher limits: {escape(exc.upgrade_url)}" if exc.upgrade_url else ""))
    elif isinstance(exc, InsufficientScopeError):
        err.print(f"Missing scopes: {escape(' '.join(exc.missing))}")


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except AgentError as exc:
        _explain(exc)
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        err.print(f"[red]network error[/red]: {escape(type(exc).__name__)}: {escape(str(exc))}")
        raise typer.Exit(1) from None


def _summary(result: Registration, path: Path) -> dict[str, Any]:
    creds = result.credentials
    return {"client_id": creds.client_id, "auth_method": creds.auth_method,
            "allowed_scopes": list(result.allowed_scopes),
            "pending_scopes": list(result.pending_scopes),
            "restricted_scopes": [{"scope": s, "reason": r} for s, r in result.restricted_scopes],
            "approval_request_id": result.approval_request_id,
            "documentation": result.documentation, "credentials_file": str(path)}


@agent.command()
def register(
    url: Annotated[str, typer.Argument(help="Authorization server (issuer) or protected API")],
    name: Annotated[str, typer.Option("--name", help="Agent name")],
    scope: Annotated[str, typer.Option("--scope", help="Space-separated scopes to request")],
    billing_token: Annotated[str | None, typer.Option(envvar="GATEPASS_BILLING_TOKEN",
                                                      help="Billing token")] = None,
    keys: Annotated[bool, typer.Option("--keys", help="Use an ES256 key pair "
                                       "(private_key_jwt): no secret crosses the wire")] = False,
    accept_tos: Annotated[bool, typer.Option("--accept-tos", help="Accept the server's "
                                             "agent terms of service")] = False,
    agent_type: Annotated[str, typer.Option(help="autonomous, supervised or tool")] = "autonomous",
    owner: Annotated[str | None, typer.Option(help="Owner hint (e.g. an email)")] = None,
    credentials: CredPath = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing credentials file")] = False,
    insecure: Insecure = False,
    as_json: AsJson = False,
) -> None:
    """Register an agent and save its credentials (the secret is never printed)."""
    path = credentials or default_credentials_path()
    if path.exists() and not force:
        err.print(f"[red]{escape(str(path))} exists[/red]; use --force to replace it")
        raise typer.Exit(2)
    with _errors(), AgentClient(url, insecure=insecure) as client:
        client.credentials_path = path
        result = client.register(name, scope, use_keys=keys, accept_tos=accept_tos,
                                 billing_token=billing_token, agent_type=agent_type, owner=owner)
    summary = _summary(result, path)
    if as_json:
        emit_json(summary)
        return
    err.print(f"Registered [bold]{escape(summary['client_id'])}[/bold] "
              f"({summary['auth_method']}); credentials saved to {escape(str(path))} (mode 0600)")
    err.print(f"  allowed: {escape(' '.join(result.allowed_scopes) or '-')}")
    if result.pending_scopes:
        err.print(f"  pending owner approval: {escape(' '.join(result.pending_scopes))}")
    for scope_name, reason in result.restricted_scopes:
        err.print(f"  restricted: {escape(scope_name)} ({escape(reason)})")


def _client(credentials: Path | None, insecure: bool, scope: str | None,
            origins: tuple[str, ...] = ()) -> AgentClient:
    path = credentials or default_credentials_path()
    with _errors():
        creds = load_credentials(path)
    return AgentClient(creds.issuer, credentials=creds, insecure=insecure,
                       scopes=scope.split() if scope else (), origins=origins)


@agent.command()
def token(
    credentials: CredPath = None,
    scope: ScopeOpt = None,
    resource: Annotated[str | None, typer.Option(help="RFC 8707 resource (token audience)")] = None,
    insecure: Insecure = False,
    as_json: AsJson = False,
) -> None:
    """Print an access token (client credentials grant) to stdout."""
    with _errors(), _client(credentials, insecure, scope) as client:
        found = client.token(resource=resource)
    if as_json:
        emit_json({"access_token": found.value, "token_type": "Bearer",
                   "expires_at": found.expires_at, "scope": " ".join(found.scopes)})
    else:
        typer.echo(found.value)


@agent.command()
def call(
    method: Annotated[str, typer.Argument(help="HTTP method")],
    url: Annotated[str, typer.Argument(help="Protected API URL")],
    data: Annotated[str | None, typer.Option("--data", help="JSON request body")] = None,
    credentials: CredPath = None,
    scope: ScopeOpt = None,
    insecure: Insecure = False,
    timeout: Annotated[float, typer.Option(help="Seconds per request")] = 30.0,
) -> None:
    """Call a protected API with a (renewed as needed) access token; print the body."""
    try:
        body = json.loads(data) if data is not None else None
    except ValueError as exc:
        err.print(f"[red]--data is not JSON[/red]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    with _errors(), _client(credentials, insecure, scope, (url,)) as client, \
            httpx.Client(auth=client, timeout=timeout) as http:  # the URL named: its origin
        response = http.request(method.upper(), url, json=body)
    err.print(f"HTTP {response.status_code} {escape(response.reason_phrase)}")
    typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)
