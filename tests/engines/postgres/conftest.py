"""Fixtures of this engine's own tests: ``target`` (and so ``store``, ``open_store``, ``cli``)
on this engine only."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.targets import StoreTarget

from .support import SUPPORT, server_uri


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """A fresh, empty place for jobs on this engine."""
    return SUPPORT.target(request, tmp_path)


@pytest.fixture(scope="session")
def postgres_uri(request: pytest.FixtureRequest) -> str:
    """The test server's URI (the session's own, or ``QUEUECORE_TEST_POSTGRES_URI``)."""
    return server_uri(request.config)
