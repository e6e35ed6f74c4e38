"""Where a test's store lives: an engine, a URI and a collection of its own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's store lives: an engine, a URI and a collection of its own."""

    engine: str
    uri: str
    collection: str
