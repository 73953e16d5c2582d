"""Fixtures: ``stack`` is the authorization server and the MCP example server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from gp_mcp_kit import Stack, start_stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with start_stack(tmp_path) as running:
        yield running
