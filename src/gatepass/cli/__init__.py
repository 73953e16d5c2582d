"""The ``gatepass`` command line (Typer): serve, db, keys, clients, config."""

from __future__ import annotations

from gatepass.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    from gatepass.cli import clients, keys, serve, system  # noqa: F401  (register commands)

    app()
