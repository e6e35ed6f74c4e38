"""Fixtures of this engine's own tests: ``target`` (and so ``store``, ``open_store``, ``cli``)
on this engine only."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.targets import StoreTarget

from .support import SUPPORT


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """A fresh, empty place for jobs on this engine."""
    return SUPPORT.target(request, tmp_path)
