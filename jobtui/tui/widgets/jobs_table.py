"""The jobs table: a window of rows keyed by job id, updated cell by cell.

Marked rows (``space``) carry a ``●`` in the first column; the marks themselves
are a set of ids the screen owns, so they survive updates, reloads and scrolling.

Rows are in the order of the live model (``position``: a job id's row in its sort).
Jobs that arrive above the viewport while the operator looks further down keep the
view still (the rows on screen stay where they are) and are counted in ``unseen``
("▲ N newer"); they are seen once the viewport reaches them (``g``/``home``). In
*follow* mode (``following``) the cursor stays on the first row as jobs arrive; a
cursor move away from it (a key, a click) ends the mode.

Updates are applied in batches (``sync``, ``tick``, ``show_mark``) and only cells whose
content changed are touched. Textual's ``DataTable.update_cell`` invalidates the cached
rendering of *every* cell on each call (a full re-render of the visible table, the
dashboard's main cost under a stream of change events), so a batch instead sets the
changed values and forgets only those cells' cached renderings and repaints only their
rows (:meth:`JobsTable._show_changes`); with a DataTable that lacks the caches this relies
on, it falls back to ``update_cell``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import datetime

from bson import ObjectId
from rich.text import Text
from textual import constants
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.dom import NoScreen
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from queuecore import Job

from ... import format as fmt
from ... import present
from .cursor import cursor_key

#: (column key, header, width) — the order of the table's columns.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("mark", " ", 1),
    ("id", "id", 8),
    ("task", "task", 14),
    ("label", "label", 12),
    ("status", "status", 10),
    ("attempts", "att", 3),
    ("reason", "reason", 24),
    ("progress", "progress", 11),
    ("age", "age", 6),
    ("available", "avail in", 8),
    ("run", "run", 6),
    ("beat", "beat", 5),
    ("worker", "worker", 18),
)
#: Each column's width: text cells are cut to it with "…" (the table itself would cut them
#: without a sign, "invalid data for task 's").
WIDTH = {key: width for key, _, width in COLUMNS}
#: The mark of a marked row.
MARK = Text("●", style="bold magenta")
#: Rows from the end at which the table asks for the next page.
LOAD_MORE_MARGIN = 20
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
#: Changed rows formatted per turn of the event loop: a large batch is formatted in slices,
#: so a key press waits for one slice (about a millisecond), not for the whole batch.
RENDER_SLICE = 25


class IdText(Text):
    """The id cell: shows the short id, remembers the full id (for ordering)."""

    def __init__(self, job_id: ObjectId, short: str, style: str = "") -> None:
        super().__init__(short, style=style)
        self.job_id = job_id


def render_row(job: Job, now: datetime, marked: bool = False) -> dict[str, Text | str]:
    """The cells of ``job``'s row, by column key."""
    malformed = bool(job.malformed)
    reason = job.malformed if malformed else job.reason
    id_style = "bold red" if malformed else ("bold magenta" if marked else "dim")
    return {
        "mark": MARK if marked else "",
        "id": IdText(job.id, job.short_id, id_style),
        # Text, never str: DataTable reads a str cell as markup ("[/x]" in a name crashed it);
        # fmt.truncate makes stored text printable before it cuts it
        "task": Text(fmt.truncate(job.name, WIDTH["task"])),
        "label": Text(fmt.truncate(job.label, WIDTH["label"])),
        "attempts": str(job.attempts),
        "reason": Text(fmt.truncate(reason or "", WIDTH["reason"]), style="red" if malformed else ""),
        "progress": fmt.progress(job),
        "worker": Text(fmt.truncate(job.worker, WIDTH["worker"])),
        **render_time_cells(job, now),
    }


def render_time_cells(job: Job, now: datetime) -> dict[str, Text | str]:
    """The cells of ``job``'s row that change with the clock (status: a running job may stall;
    age, available, run, beat)."""
    return {
        "status": present.status_text(job, now),
        "age": fmt.age(job, now),
        "available": fmt.available_in(job, now),
        "run": fmt.run_time(job, now),
        "beat": fmt.heartbeat_age(job, now),
    }


class JobsTable(DataTable[Text | str]):
    """Jobs of the live window, newest first; the row key is ``str(job.id)``."""

    BINDINGS = [  # noqa: RUF012
        Binding("enter", "select_cursor", "Detail", show=False, id="detail"),
        Binding("g,home", "scroll_top", "First row", show=False, id="top"),
        Binding("G,end", "scroll_bottom", "Last row (loads more)", show=False, id="bottom"),
    ]

    class NearEnd(Message):
        """The cursor or the viewport came close to the last row: time to load more."""

    class ViewChanged(Message):
        """``unseen`` or ``following`` changed (the filter bar shows them)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._cells: dict[str, dict[str, Text | str]] = {}
        # the job each row shows: a tick renders its clock cells from that job, so that a
        # row never shows one version's status beside another version's reason
        self._shown: dict[str, Job] = {}
        #: Row keys (job ids) of the marked rows (the screen's set, shared).
        self.marked: set[str] = set()
        #: Cells set since the last ``_show_changes``: row key → column keys.
        self._dirty: dict[str, set[str]] = {}
        #: Changed rows on screen still to repaint (in order), and whether a repaint is scheduled.
        self._repaint: dict[str, None] = {}
        self._repaint_scheduled = False
        self._painted_at = -math.inf  # when rows were last repainted (monotonic), and since then
        self._drawn = True  # whether a frame has drawn the table
        #: Since when rows in ``_repaint`` wait with no repaint done (monotonic; None: none wait).
        self._unpainted_since: float | None = None
        #: Rows still to format: row key → (job, time, whole row or only the clock's cells).
        self._pending: dict[str, tuple[Job, datetime, bool]] = {}
        self._pending_scheduled = False
        #: Whether cells are updated by pruning DataTable's caches (else ``update_cell``).
        self._surgical = all(hasattr(self, name) for name in _CACHES)
        #: The row of a job id in the model's order (None: not in it); without one, newest id first.
        self.position: Callable[[ObjectId], int | None] | None = None
        #: Row keys of jobs that arrived above the viewport and were not scrolled to yet.
        self.unseen: set[str] = set()
        #: Follow mode: the cursor stays on the first row as jobs arrive.
        self.following = False
        #: Whether the last follow mode ended by a cursor move (the bar says so).
        self.follow_stopped = False
        #: Rows that arrived in the last batch, placed once the view has settled.
        self._arrived: set[str] = set()
        #: The first row on screen before a batch, kept on top once the rows are laid out.
        self._anchor: str | None = None
        self._settling = False
        self._moving = False  # the table moves its cursor itself (not the operator)

    def on_mount(self) -> None:
        for key, header, width in COLUMNS:
            self.add_column(header, key=key, width=width)

    def on_resize(self) -> None:
        # a smaller terminal: keep the selected row on screen (it is what c and r act on)
        self.call_after_refresh(self._keep_cursor_in_view)

    def _keep_cursor_in_view(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.cursor_row, animate=False)  # scrolls to it, if need be

    # -- what is shown --------------------------------------------------------

    @property
    def current_id(self) -> str | None:
        """The row key (job id) under the cursor, or None when the table is empty."""
        return cursor_key(self)

    def keys(self) -> list[str]:
        """The row keys (job ids) in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    # -- updating -------------------------------------------------------------

    def sync(
        self, changed: dict[str, Job | None], now: datetime, added: bool, *, arrivals: bool = True
    ) -> None:
        """Apply a batch: ``changed`` maps row keys to the job now (None = remove).

        Rows come and go at once; changed rows are re-rendered ``RENDER_SLICE`` at a time
        (the first slice now, the rest in the next turns of the event loop). ``added``: rows
        are new or moved (the rows are put in the model's order). ``arrivals``: new rows are
        jobs that arrived (counted in ``unseen`` when above the viewport), not a new selection.
        """
        keep = self.current_id
        keep_row = self.cursor_row
        top = int(self.scroll_y)
        if not arrivals:  # a new selection: nothing in it is "new above"
            self.unseen.clear()
            self._arrived.clear()
        elif self._anchor is None and top > 0 and not self.following:
            self._anchor = self._key_at(top)
        for key, job in changed.items():
            if job is None:
                self._pending.pop(key, None)
                self._arrived.discard(key)
                self.unseen.discard(key)
                if key in self._cells:
                    self.remove_row(key)
                    del self._cells[key]
                    self._shown.pop(key, None)
            elif key in self._cells:
                self._pending[key] = (job, now, True)
            else:
                self._add(job, now)
                if arrivals:
                    self._arrived.add(key)
        if added:
            self._reorder()
        if self.following:
            self._restore(None, 0)
        else:
            self._restore(keep, keep_row)
        if not self._settling:
            self._settling = True
            self.call_after_refresh(self._settle)
        self._render_pending()

    def _reorder(self) -> None:
        """Put the rows in the model's order (newest id first without a ``position``)."""
        position = self.position
        if position is None:
            self.sort("id", key=lambda cell: cell.job_id, reverse=True)
            return

        def where(cell: IdText) -> float:
            index = position(cell.job_id)
            return math.inf if index is None else index

        self.sort("id", key=where)

    def _key_at(self, row: int) -> str | None:
        """The row key at display row ``row`` (None past the end)."""
        if not 0 <= row < self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)
        except (RowDoesNotExist, CellDoesNotExist):
            return None

    def _settle(self) -> None:
        """After a batch is laid out: keep the rows that were on screen where they were (jobs
        that arrived above do not push them down), then count the arrivals above the view."""
        self._settling = False
        anchor, self._anchor = self._anchor, None
        if self.following:
            self._arrived.clear()
            self.scroll_to(y=0, animate=False, immediate=True)
        elif anchor is not None and anchor in self._cells:
            index = self.get_row_index(anchor)
            if index != int(self.scroll_y):
                self.scroll_to(y=index, animate=False, immediate=True, force=True)
        self._count_unseen()

    def _count_unseen(self) -> None:
        """``unseen``: the arrived rows above the viewport (a row on screen or below is dropped)."""
        top = int(self.scroll_y)
        located = self._row_locations
        above = set()
        for key in self._arrived | self.unseen:
            index = located.get(RowKey(key))
            if index is not None and index < top:
                above.add(key)
        self._arrived.clear()
        if above != self.unseen:
            self.unseen = above
            self.post_message(self.ViewChanged())

    def follow(self, on: bool) -> None:
        """Turn follow mode on (the cursor goes to the first row and stays there) or off."""
        self.following = on
        self.follow_stopped = False
        if on:
            self._moving = True
            try:
                self.action_scroll_top()
            finally:
                self._moving = False
            self.scroll_to(y=0, animate=False)
        self.post_message(self.ViewChanged())

    def tick(self, jobs: dict[str, Job], now: datetime) -> None:
        """Re-render the clock-driven cells (age, countdown, run time), in slices like ``sync``."""
        for key, job in jobs.items():
            if key in self._cells:
                # a version of the job the row does not show yet is rendered whole
                whole = (key in self._pending and self._pending[key][2]) or self._shown.get(key) is not job
                self._pending[key] = (job, now, whole)
        self._render_pending()

    def _render_pending(self) -> None:
        """Format up to ``RENDER_SLICE`` pending rows and show them; the rest on the next turn."""
        self._pending_scheduled = False
        done = 0
        while self._pending and done < RENDER_SLICE:
            key = next(iter(self._pending))
            job, now, whole = self._pending.pop(key)
            if key not in self._cells:
                continue
            if whole:
                cells = render_row(job, now, key in self.marked)
                self._shown[key] = job
            else:
                cells = render_time_cells(job, now)
            self._update(key, cells)
            done += 1
        self._show_changes()
        if self._pending and not self._pending_scheduled:
            # the next slice in a turn of the event loop of its own (``call_later`` would run
            # it in this widget's message loop, before the key presses queued meanwhile)
            self._pending_scheduled = True
            asyncio.get_running_loop().call_soon(self._render_pending)

    def show_mark(self, key: str) -> None:
        """Re-render the mark of row ``key`` after ``marked`` changed."""
        if key not in self._cells:
            return
        cells = self._cells[key]
        marked = key in self.marked
        id_cell = cells["id"]
        assert isinstance(id_cell, IdText)
        style = "bold red" if str(id_cell.style) == "bold red" else ("bold magenta" if marked else "dim")
        self._update(
            key, {"mark": MARK if marked else "", "id": IdText(id_cell.job_id, id_cell.plain, style)}
        )
        self._show_changes()

    def _add(self, job: Job, now: datetime) -> None:
        key = str(job.id)
        cells = render_row(job, now, key in self.marked)
        self._cells[key] = cells
        self._shown[key] = job
        self.add_row(*(cells[c] for c, _, _ in COLUMNS), key=key)

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

    def _restore(self, key: str | None, row: int) -> None:
        """Put the cursor back on the row of ``key`` (else on row ``row``): the table's own
        move, which does not end follow mode."""
        if self.row_count == 0:
            return
        self._moving = True
        try:
            if key is not None:
                try:
                    self.move_cursor(row=self.get_row_index(key), animate=False)
                    return
                except RowDoesNotExist:
                    pass
            self.move_cursor(row=min(row, self.row_count - 1), animate=False)
        finally:
            self._moving = False

    # -- paging ---------------------------------------------------------------

    def _near_end(self) -> bool:
        if self.row_count == 0:
            return False
        bottom = self.scroll_y + self.scrollable_content_region.height
        return (
            self.cursor_row >= self.row_count - LOAD_MORE_MARGIN
            or bottom >= self.virtual_size.height - LOAD_MORE_MARGIN
        )

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if self.following and not self._moving and new.row != 0 and self.row_count:
            self.following = False  # the operator moved away: k9s and ``less +F`` stop following
            self.follow_stopped = True
            self.post_message(self.ViewChanged())
        elif self.follow_stopped and new.row == 0:
            self.follow_stopped = False
            self.post_message(self.ViewChanged())
        if new.row > old.row and self._near_end():
            self.post_message(self.NearEnd())

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self.unseen and not self._settling and new < old:
            self._count_unseen()  # scrolled up to some of them
        if new > old and self._near_end():
            self.post_message(self.NearEnd())
