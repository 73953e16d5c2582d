"""Uvicorn factory: settings from the environment (and ``GATEPASS_CONFIG_FILE``)."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette

from gatepass.http.app import create_app
from gatepass.observability.logging import configure_logging
from gatepass.settings import load_settings

__all__ = ["app"]


def app() -> Starlette:
    """Build the app for a server process (``gatepass serve`` migrates once, before workers
    start, and sets ``GATEPASS_MIGRATE=0``)."""
    path = os.environ.get("GATEPASS_CONFIG_FILE")
    settings = load_settings(Path(path) if path else None)
    configure_logging(settings.log_level)
    return create_app(settings, migrate=os.environ.get("GATEPASS_MIGRATE", "1") != "0",
                      freeze_startup_objects=True)
