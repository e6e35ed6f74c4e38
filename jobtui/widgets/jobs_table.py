"""The jobs table: a window of rows keyed by job id, updated cell by cell.

Marked rows (``space``) carry a ``●`` in the first column; the marks themselves
are a set of ids the screen owns, so they survive updates, reloads and scrolling.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from queuecore import Job

from . import format as fmt

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
#: Columns that change with the clock (re-rendered by ``tick``): a running job may stall.
TIME_COLUMNS = ("status", "age", "available", "run", "beat")
#: The mark of a marked row.
MARK = Text("●", style="bold magenta")
#: Rows from the end at which the table asks for the next page.
LOAD_MORE_MARGIN = 20


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
        "task": fmt.truncate(job.name, 24),
        "label": fmt.truncate(job.label, 20),
        "status": fmt.status_text(job, now),
        "attempts": str(job.attempts),
        "reason": Text(fmt.truncate(reason or "", 40), style="red" if malformed else ""),
        "progress": fmt.progress(job),
        "age": fmt.age(job, now),
        "available": fmt.available_in(job, now),
        "run": fmt.run_time(job, now),
        "beat": fmt.heartbeat_age(job, now),
        "worker": fmt.truncate(job.worker, 28),
    }


def _same(a: object, b: object) -> bool:
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and str(a.style) == str(b.style) and a.spans == b.spans
    return a == b


class JobsTable(DataTable[Text | str]):
    """Jobs of the live window, newest first; the row key is ``str(job.id)``."""

    BINDINGS = [  # noqa: RUF012
        Binding("enter", "select_cursor", "Detail", show=False, id="detail"),
        Binding("g,home", "scroll_top", "First row", show=False, id="top"),
        Binding("G,end", "scroll_bottom", "Last row (loads more)", show=False, id="bottom"),
    ]

    class NearEnd(Message):
        """The cursor or the viewport came close to the last row: time to load more."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._cells: dict[str, dict[str, Text | str]] = {}
        #: Row keys (job ids) of the marked rows (the screen's set, shared).
        self.marked: set[str] = set()

    def on_mount(self) -> None:
        for key, header, width in COLUMNS:
            self.add_column(header, key=key, width=width)

    # -- what is shown --------------------------------------------------------

    @property
    def current_id(self) -> str | None:
        """The row key (job id) under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        except CellDoesNotExist:
            return None

    def keys(self) -> list[str]:
        """The row keys (job ids) in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    # -- updating -------------------------------------------------------------

    def replace_all(self, jobs: list[Job], now: datetime) -> None:
        """Show exactly ``jobs`` (in this order), keeping the cursor on its job if it stays."""
        keep = self.current_id
        keep_row = self.cursor_row
        self.clear()
        self._cells.clear()
        for job in jobs:
            self._add(job, now)
        self._restore(keep, keep_row)

    def sync(self, changed: dict[str, Job | None], now: datetime, added: bool) -> None:
        """Apply a batch: ``changed`` maps row keys to the job now (None = remove)."""
        keep = self.current_id
        keep_row = self.cursor_row
        for key, job in changed.items():
            if job is None:
                if key in self._cells:
                    self.remove_row(key)
                    del self._cells[key]
            elif key in self._cells:
                self._update(key, render_row(job, now, key in self.marked))
            else:
                self._add(job, now)
        if added:
            self.sort("id", key=lambda cell: cell.job_id, reverse=True)
        self._restore(keep, keep_row)

    def tick(self, jobs: dict[str, Job], now: datetime) -> None:
        """Re-render the clock-driven cells (age, countdown, run time)."""
        for key, job in jobs.items():
            if key not in self._cells:
                continue
            row = render_row(job, now)
            self._update(key, {c: row[c] for c in TIME_COLUMNS})

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

    def _add(self, job: Job, now: datetime) -> None:
        key = str(job.id)
        cells = render_row(job, now, key in self.marked)
        self._cells[key] = cells
        self.add_row(*(cells[c] for c, _, _ in COLUMNS), key=key)

    def _update(self, key: str, cells: dict[str, Text | str]) -> None:
        old = self._cells[key]
        for column, value in cells.items():
            if not _same(old.get(column), value):
                old[column] = value
                self.update_cell(key, column, value)

    def _restore(self, key: str | None, row: int) -> None:
        if self.row_count == 0:
            return
        if key is not None:
            try:
                self.move_cursor(row=self.get_row_index(key), animate=False)
                return
            except RowDoesNotExist:
                pass
        self.move_cursor(row=min(row, self.row_count - 1), animate=False)

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
        if new.row > old.row and self._near_end():
            self.post_message(self.NearEnd())

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new > old and self._near_end():
            self.post_message(self.NearEnd())
