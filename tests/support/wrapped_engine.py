"""A third engine for the tests: SQLite under another scheme and name (``wrapped:///PATH``),
with a live feed of its own name — what an installed package adding an engine looks like to
jobtui, which must use it with ``--store`` and name it as the store says, with no edit.

:func:`install` registers it the way a package does: an entry point in the group
``queuecore.engines`` (a dist-info on ``sys.path``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from queuecore.store import MODE_CHANGE_FEED, registry
from queuecore.store.sqlite import SQLiteStore
from queuecore.uri import mask

#: The engine's scheme and name.
SCHEME = "wrapped"
#: What its ``store.mode`` says while its feed is live.
LIVE_MODE = "wrapped-feed"


class WrappedDriverError(Exception):
    """What the engine's own driver raises for a problem on the database's side."""


class WrappedStore(SQLiteStore):
    """A SQLite store that calls itself ``wrapped``, names its own live feed and has a driver
    of its own (its errors are :class:`WrappedDriverError`)."""

    engine = SCHEME
    driver_errors = (*SQLiteStore.driver_errors, WrappedDriverError)

    @property
    def mode(self) -> str:
        mode = super().mode
        return LIVE_MODE if mode == MODE_CHANGE_FEED else mode


async def open_store(uri: str, *, collection: str, timeout: float, create: bool, **_: Any) -> WrappedStore:
    """The engine's opener: ``wrapped:///absolute/file.db``."""
    store = WrappedStore(Path(uri.split("://", 1)[1]), collection, create=create)
    store.display_uri = mask(uri)
    await store.open()
    return store


def install(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the engine as a package would: its entry point in a dist-info in ``site``."""
    info = site / "wrapped_engine-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wrapped-engine\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\n{SCHEME} = {__name__}:open_store\n")
    monkeypatch.syspath_prepend(str(site))
    assert SCHEME in registry.schemes() and SCHEME not in registry.BUILTIN
    assert __name__ in sys.modules  # the entry point loads this module, not a copy
