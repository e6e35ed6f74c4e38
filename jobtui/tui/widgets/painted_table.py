"""A DataTable that repaints only the cells that changed, a few rows per frame.

Textual's ``DataTable.update_cell`` invalidates the cached rendering of *every* cell on each
call (a full re-render of the visible table, the dashboard's main cost under a stream of change
events). :class:`PaintedTable` instead sets the changed values (:meth:`PaintedTable._update`),
forgets only those cells' cached renderings and repaints only their rows
(:meth:`PaintedTable._show_changes`), at most ``PAINT_BUDGET`` rows per frame so keys stay
responsive; with a DataTable that lacks the caches this relies on, it falls back to
``update_cell``. The jobs table (:mod:`.jobs_table`) builds on it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from rich.text import Text
from textual import constants
from textual.dom import NoScreen
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from ... import format as fmt

#: DataTable's render caches that ``JobsTable._show_changes`` prunes (Textual internals).
_CACHES = ("_data", "_cell_render_cache", "_row_render_cache", "_row_renderable_cache", "_line_cache")
#: Changed rows repainted per frame at most. A DataTable row takes about 0.5 ms to render, and
#: a frame that runs long also delays the next one (Textual paces frames at 60 per second), so
#: a larger batch (the clock changes every visible row each second) is spread over the next
#: frames: none of them holds up a key press for long.
PAINT_BUDGET = 4
#: While the rows last repainted are not drawn yet, the next ones wait (checked every frame
#: time, Textual's ``MAX_FPS``), at most ``PAINT_WAIT`` seconds.
FRAME, PAINT_WAIT = 1 / constants.MAX_FPS, 0.25


class PaintedTable(DataTable[Text | str]):
    """Rows keyed by a string, each a dict of cells by column key (``_cells``), painted sparingly."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        #: What each row shows: row key → column key → cell.
        self._cells: dict[str, dict[str, Text | str]] = {}
        #: Cells set since the last ``_show_changes``: row key → column keys.
        self._dirty: dict[str, set[str]] = {}
        #: Changed rows on screen still to repaint (in order), and whether a repaint is scheduled.
        self._repaint: dict[str, None] = {}
        self._repaint_scheduled = False
        self._painted_at = -math.inf  # when rows were last repainted (monotonic), and since then
        self._drawn = True  # whether a frame has drawn the table
        #: Since when rows in ``_repaint`` wait with no repaint done (monotonic; None: none wait).
        self._unpainted_since: float | None = None
        #: Whether cells are updated by pruning DataTable's caches (else ``update_cell``).
        self._surgical = all(hasattr(self, name) for name in _CACHES)

    def _update(self, key: str, cells: dict[str, Text | str]) -> None:
        """Set the cells of row ``key`` that differ from what it shows (``_show_changes`` paints them)."""
        old = self._cells[key]
        for column, value in cells.items():
            if not fmt.same_text(old.get(column), value):
                old[column] = value
                if self._surgical:
                    # what update_cell does, without invalidating every cached cell
                    self._data[RowKey(key)][ColumnKey(column)] = value
                    self._dirty.setdefault(key, set()).add(column)
                else:
                    self.update_cell(key, column, value)

    def _show_changes(self) -> None:
        """Repaint the cells set by ``_update`` since the last call, and only those.

        DataTable caches renderings per cell, per row line and per screen line, each keyed by
        a table-wide update counter that ``update_cell`` bumps. Here the counter stays, the
        cached renderings of the changed cells, of their rows and of their lines are dropped,
        and only the changed rows on screen are repainted, ``PAINT_BUDGET`` rows per frame
        (until a row is repainted, it shows what it showed before; anything that repaints
        it earlier, a cursor move or a scroll, shows the new values).
        """
        dirty, self._dirty = self._dirty, {}
        if not dirty:
            return
        rows = {RowKey(key) for key in dirty}
        cells = {(RowKey(key), ColumnKey(c)) for key, columns in dirty.items() for c in columns}
        indexes = {self._row_locations.get(row) for row in rows} - {None}
        cell_cache, row_cache = self._cell_render_cache, self._row_render_cache
        for cell_key in [k for k in cell_cache.keys() if (k[0], k[1]) in cells]:
            cell_cache.discard(cell_key)
        for row_key in [k for k in row_cache.keys() if k[0] in rows]:
            row_cache.discard(row_key)
        renderables = self._row_renderable_cache
        for renderable_key in [k for k in renderables.keys() if k[1] in indexes]:
            renderables.discard(renderable_key)
        header = self.header_height if self.show_header else 0
        if self.fixed_rows or len(self._y_offsets) != self.row_count:
            # rows taller than a line or fixed rows: no simple row → line mapping
            self._line_cache.clear()
            self.refresh()
            return
        lines = {header + index for index in indexes if index is not None}
        line_cache = self._line_cache
        for line_key in [k for k in line_cache.keys() if k[0] in lines]:
            line_cache.discard(line_key)
        located = self._row_locations
        if self._unpainted_since is None:
            self._unpainted_since = time.monotonic()
        self._repaint.update(dict.fromkeys(sorted(dirty, key=lambda k: located.get(RowKey(k)) or 0)))
        if not self._repaint_scheduled:  # else this frame's rows are painted: the next frame
            self._repaint_some()

    def _repaint_some(self) -> None:
        """Repaint up to ``PAINT_BUDGET`` of the changed rows on screen; the rest after the next frame.

        Once rows are painted, nothing more is painted until a frame has drawn them: the
        after-frame callback also runs when the screen is next idle, which can be before that
        frame (then frames drew a dozen to 30 changed rows, a key press waiting behind them).
        """
        if self._repaint and not self._drawn and time.monotonic() - self._painted_at < PAINT_WAIT:
            self._repaint_scheduled = True
            asyncio.get_running_loop().call_later(FRAME, self._repaint_some)
            return
        self._repaint_scheduled = False
        header = self.header_height if self.show_header else 0
        top = int(self.scroll_y)
        width, height = self.size
        painted = 0
        while self._repaint and painted < PAINT_BUDGET:
            key = next(iter(self._repaint))
            del self._repaint[key]
            index = self._row_locations.get(RowKey(key))
            if index is None:
                continue  # removed meanwhile
            y = header + index - top  # widget coordinates: every row is one line high
            if header <= y < height:  # rows off screen are painted when scrolled to
                self.refresh(Region(0, y, width, 1))
                painted += 1
        if painted:
            self._painted_at, self._drawn = time.monotonic(), False
        if painted and not self._repaint_scheduled:
            self._repaint_scheduled = True
            self._after_frame(self._repaint_some)
        # what still waits has waited since now: a stream of changes is no stalled repaint
        self._unpainted_since = time.monotonic() if self._repaint else None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._drawn = True  # a frame draws the table: with it every region asked for
        return super().render_lines(crop)

    def _after_frame(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once this table's screen has drawn its next frame.

        Not ``call_after_refresh``: Textual hands that callback to the screen on *top*
        (``app.screen``), and when that is a dialog dismissed before its next frame — the
        bulk question answered while rows under it repaint — the callback is dropped with
        it; ``_repaint_scheduled`` then stayed set and no changed row was painted again
        until a key press repainted the table (once). The table's own screen lives as long
        as the table and runs its callbacks after its next update, under a dialog too.
        """
        try:
            screen = self.screen
        except NoScreen:  # the app is closing
            return
        hold = getattr(screen, "_invoke_later", None)  # Textual internals, like _CACHES
        if callable(hold):
            hold(callback, self)
        else:
            self.call_after_refresh(callback)

    def behind(self, now: float | None = None) -> float:
        """Seconds changed rows have waited for a repaint with none done meanwhile (0: none wait)."""
        if self._unpainted_since is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self._unpainted_since)
