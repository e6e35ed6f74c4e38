"""The marks of the jobs screen: the ids a bulk action acts on, and where a range starts.

``space`` toggles the mark of the row under the cursor (and moves down, as in k9s);
``V`` / ``shift+space`` marks every row from the last mark to the cursor, as k9s's range
mark and vim's ``V`` do. The marks are row keys (job ids): they survive updates, reloads
and filter changes.
"""

from __future__ import annotations


class Marks(set[str]):
    """Marked row keys, plus the last row marked (the start of the next range)."""

    def __init__(self) -> None:
        super().__init__()
        #: The row marked last (None: none, or it was unmarked since).
        self.anchor: str | None = None

    def toggle(self, key: str) -> None:
        """Mark ``key``, or unmark it when marked."""
        if key in self:
            self.discard(key)
        else:
            self.add(key)
            self.anchor = key

    def discard(self, key: object) -> None:
        super().discard(key)
        if key == self.anchor:
            self.anchor = None

    def clear(self) -> None:
        super().clear()
        self.anchor = None

    def span(self, keys: list[str], key: str) -> list[str]:
        """Mark the rows of ``keys`` (display order) from the last mark to ``key``, both
        included; with no last mark among them, just ``key``. Returns the keys marked now."""
        end = keys.index(key) if key in keys else None
        start = keys.index(self.anchor) if self.anchor in keys else end
        if end is None or start is None:
            return []
        low, high = min(start, end), max(start, end)
        added = [k for k in keys[low : high + 1] if k not in self]
        self.update(added)
        self.anchor = key
        return added
