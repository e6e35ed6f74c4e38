"""The jobs table: a window of rows keyed by job id, updated cell by cell.

Marked rows (``space``) carry a ``●`` in the first column; the marks themselves
are a set of ids the screen owns, so they survive updates, reloads and scrolling.

Rows are in the order of the live model (``position``: a job id's row in its sort).
Jobs that arrive above the viewport while the operator looks further down keep the
view still (the rows on screen stay where they are) and are counted in ``unseen``
("▲ N newer"); they are seen once the viewport reaches them (``g``/``home``). In
*follow* mode (``following``) the cursor stays on the first row as jobs arrive; a
cursor move away from it (a key, a click) ends the mode.

Updates are applied in batches (``sync``, ``tick``, ``show_mark``): changed rows are formatted
``RENDER_SLICE`` at a time (:mod:`.job_rows` decides their cells) and only cells whose content
changed are touched and repainted (:class:`~.painted_table.PaintedTable`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime

from bson import ObjectId
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist, RowKey

from queuecore import Job

from .cursor import cursor_key
from .job_rows import COLUMNS, MARK, IdText, render_row, render_time_cells
from .painted_table import PaintedTable

#: Rows from the end at which the table asks for the next page.
LOAD_MORE_MARGIN = 20
#: Changed rows formatted per turn of the event loop: a large batch is formatted in slices,
#: so a key press waits for one slice (about a millisecond), not for the whole batch.
RENDER_SLICE = 25


class JobsTable(PaintedTable):
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
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        # the job each row shows: a tick renders its clock cells from that job, so that a
        # row never shows one version's status beside another version's reason
        self._shown: dict[str, Job] = {}
        #: Row keys (job ids) of the marked rows (the screen's set, shared).
        self.marked: set[str] = set()
        #: Rows still to format: row key → (job, time, whole row or only the clock's cells).
        self._pending: dict[str, tuple[Job, datetime, bool]] = {}
        self._pending_scheduled = False
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
