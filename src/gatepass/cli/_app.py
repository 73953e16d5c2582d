"""The root Typer app, the ``--config`` and ``--debug`` options, and helpers shared by commands.

Errors end a command with one line each and a non-zero exit code (a traceback only with
``--debug``): invalid settings exit 2 naming the setting; an unreachable or missing database
exits 1 naming its URL (password masked). Only ``serve`` and ``db upgrade`` create a database
or key material; every other command refuses a database that does not exist.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from gatepass.errors import OAuthError
from gatepass.runtime import MissingLocalSecrets, Runtime, open_runtime
from gatepass.settings import Settings, load_settings
from gatepass.storage.base import StorageError

__all__ = ["app", "console", "emit_json", "run", "runtime", "settings_from"]

T = TypeVar("T")
CONFIG_ENV = "GATEPASS_CONFIG_FILE"
console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class MissingDatabase(Exception):
    """A command that only reads or changes state found no database to act on."""


def fail(line: str, code: int = 1) -> typer.Exit:
    """Print one error line on stderr; the exit to raise."""
    err_console.print(line, markup=False)
    return typer.Exit(code)


def _one_line(exc: BaseException) -> str:
    """The first line of the innermost cause's message (drivers put hints on later lines)."""
    while exc.__cause__ is not None and exc.__cause__ is not exc:
        exc = exc.__cause__
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def describe_failure(exc: BaseException, settings: Settings | None) -> str:
    """One line for an error a command did not handle; secrets in URLs masked."""
    line = _one_line(exc)
    if settings is not None:
        for url in (settings.database_url, settings.redis_url):
            password = urlsplit(url or "").password
            if password:
                line = line.replace(password, "**********")
    if settings is not None and isinstance(exc, SQLAlchemyError | StorageError):
        url = settings.masked()["database_url"]
        return f"Cannot use the database at {url} (setting database_url): {line}"
    return f"Error: {line} ({type(exc).__name__}; --debug shows the traceback)"


class _Group(TyperGroup):
    """Turns an unhandled error into one line and exit code 1 (``--debug``: the traceback)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if type(exc).__module__.startswith(("typer.", "click.")):
                raise  # exits, usage errors, aborts: Typer reports those itself
            obj = ctx.obj or {}
            if obj.get("debug"):
                raise
            raise fail(describe_failure(exc, obj.get("settings"))) from exc


app = typer.Typer(cls=_Group, help="Gatepass: an agent-ready OAuth 2.1 authorization server.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML settings file",
                                                envvar=CONFIG_ENV)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors")] = False,
) -> None:
    """Global options."""
    ctx.obj = {"config": config, "debug": debug}


def settings_from(ctx: typer.Context) -> Settings:
    """The settings; invalid ones end the command with one line per error and exit code 2."""
    obj = ctx.find_root().obj or {}
    config = obj.get("config")
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)  # seen by server worker processes too
    try:
        settings = load_settings(config)
    except ValidationError as exc:
        for error in exc.errors():
            err_console.print(_invalid_setting(error["loc"], error["msg"]), markup=False)
        raise typer.Exit(2) from exc
    except (FileNotFoundError, ValueError) as exc:
        raise fail(f"Invalid settings: {_one_line(exc)}", 2) from exc
    obj["settings"] = settings
    return settings


def _invalid_setting(loc: tuple[int | str, ...], message: str) -> str:
    """``Invalid setting agents.tos_url (GATEPASS_AGENTS__TOS_URL): …``; the variable names the
    field whose value holds the error (a list is one JSON variable)."""
    if not loc:
        return f"Invalid settings: {message}"
    named = [str(p) for p in loc[:next((i for i, p in enumerate(loc) if isinstance(p, int)),
                                       len(loc))]]
    env = "GATEPASS_" + "__".join(named).upper()
    return f"Invalid setting {'.'.join(str(p) for p in loc)} ({env}): {message}"


def require_database(settings: Settings, *, create: bool = False) -> None:
    """Raise ``MissingDatabase`` unless ``database_url`` names a database Gatepass set up (with
    ``create``: a SQLite file whose directory exists)."""
    if settings.database_url == "memory://":
        return
    url = make_url(settings.database_url)
    masked = settings.masked()["database_url"]
    hint = "run `gatepass serve` or `gatepass db upgrade` first"
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or ":memory:")
        if str(path) == ":memory:" or str(path).startswith("file:"):
            return
        if create and not path.parent.is_dir():
            raise MissingDatabase(f"Cannot create the database at {masked} (setting "
                                  f"database_url): no directory {path.parent}")
        if not create and not path.is_file():
            raise MissingDatabase(f"No database at {masked} (setting database_url): {hint}")
        return
    if create:
        return
    from gatepass.storage.sql.migrate import current_revision

    if current_revision(settings.database_url) is None:
        raise MissingDatabase(f"The database at {masked} (setting database_url) has no Gatepass "
                              f"tables: {hint}")


@asynccontextmanager
async def runtime(ctx: typer.Context, *, create: bool = False) -> AsyncIterator[Runtime]:
    """The runtime on the configured database; ``create`` (serve, db upgrade): create the
    database, the local secrets and a signing key when missing."""
    settings = settings_from(ctx)
    require_database(settings, create=create)
    rt = await open_runtime(settings, create=create)
    try:
        yield rt
    finally:
        await rt.close()


def run(ctx: typer.Context, action: Callable[[Runtime], Awaitable[T]], *,
        create: bool = False) -> T:
    """Run ``action`` against a runtime; protocol errors become a message and exit code 1."""

    async def go() -> T:
        async with runtime(ctx, create=create) as rt:
            return await action(rt)

    try:
        return asyncio.run(go())
    except OAuthError as exc:
        console.print(f"[red]{exc.error}[/red]: {exc.description}")
        raise typer.Exit(1) from exc
    except (MissingDatabase, MissingLocalSecrets) as exc:
        raise fail(str(exc)) from exc


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
