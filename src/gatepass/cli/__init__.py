"""The ``gatepass`` command line (Typer): serve, db, keys, clients, agents, billing, audit,
owners."""

from __future__ import annotations

from gatepass.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    # Importing the command modules registers their commands.
    from gatepass.cli import (  # noqa: F401
        agent,
        agents,
        audit,
        billing,
        clients,
        keys,
        owners,
        scan,
        serve,
        system,
    )

    app()
