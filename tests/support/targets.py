"""Where a test's store lives: an engine, a URI and a collection of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engines import EngineSupport


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's store lives: an engine, a URI and a collection of its own."""

    engine: str
    uri: str
    collection: str

    @property
    def support(self) -> EngineSupport:
        """The test support of the target's engine (tests/engines/<package>/support.py)."""
        from . import engines

        return engines.of(self.engine)
