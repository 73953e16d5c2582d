"""The root Typer app, the ``--config`` option, and helpers shared by commands."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from gatepass.errors import OAuthError
from gatepass.runtime import Runtime, open_runtime
from gatepass.settings import Settings, load_settings

__all__ = ["app", "console", "emit_json", "run", "runtime", "settings_from"]

T = TypeVar("T")
CONFIG_ENV = "GATEPASS_CONFIG_FILE"
app = typer.Typer(help="Gatepass: an agent-ready OAuth 2.1 authorization server.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML settings file",
                                                envvar=CONFIG_ENV)] = None,
) -> None:
    """Global options."""
    ctx.obj = {"config": config}


def settings_from(ctx: typer.Context) -> Settings:
    config = (ctx.obj or {}).get("config")
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)  # seen by server worker processes too
    try:
        return load_settings(config)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


@asynccontextmanager
async def runtime(ctx: typer.Context) -> AsyncIterator[Runtime]:
    rt = await open_runtime(settings_from(ctx))
    try:
        yield rt
    finally:
        await rt.close()


def run(ctx: typer.Context, action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``action`` against a runtime; protocol errors become a message and exit code 1."""

    async def go() -> T:
        async with runtime(ctx) as rt:
            return await action(rt)

    try:
        return asyncio.run(go())
    except OAuthError as exc:
        console.print(f"[red]{exc.error}[/red]: {exc.description}")
        raise typer.Exit(1) from exc


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
