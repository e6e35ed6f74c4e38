"""The workers panel: the tasks this dashboard hosts (``--workers``) and their state."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from queuecore import TaskStats

from ... import format as fmt
from .cursor import cursor_key

COLUMNS = (
    ("task", "task", 16),
    ("workers", "workers", 7),
    ("state", "busy/idle", 14),
    ("current", "current job", 18),
    ("processed", "done", 6),
    ("failed", "failed", 6),
    ("error", "last error", 30),
)


#: Each column's width: text cells are cut to it with "…" (the table would cut without a sign).
WIDTH = {key: width for key, _, width in COLUMNS}
#: The width of the "current job" column (what :func:`current_jobs` fits into).
CURRENT_WIDTH = WIDTH["current"]


def current_jobs(short_ids: list[str], width: int) -> str:
    """Every busy worker's job (short ids), or as many as fit in ``width`` and ``+N`` for the
    others: the count is never the part the column cuts off."""
    shown = " ".join(short_ids)
    if len(shown) <= width:
        return shown
    for keep in range(len(short_ids) - 1, -1, -1):
        text = " ".join([*short_ids[:keep], f"+{len(short_ids) - keep}"])
        if len(text) <= width:
            return text
    return f"+{len(short_ids)}"


def stats_row(stats: TaskStats) -> dict[str, Text | str]:
    """The cells of one task's row."""
    idle = max(0, stats.workers - stats.busy)
    if stats.paused:
        state = Text(f"paused {stats.busy}/{idle}", style="bold yellow")
    else:
        state = Text(f"{stats.busy} busy {idle} idle", style="green" if stats.busy else "dim")
    return {
        "task": Text(fmt.truncate(stats.name, WIDTH["task"])),  # Text: a str cell is read as markup
        "workers": str(stats.workers),
        "state": state,
        "current": current_jobs([str(i)[-8:] for i in stats.current], CURRENT_WIDTH),
        "processed": str(stats.processed),
        "failed": Text(str(stats.failed), style="red" if stats.failed else ""),
        "error": Text(fmt.truncate(stats.last_error, WIDTH["error"]), style="red"),
    }


class WorkersPanel(DataTable[Text | str]):
    """One row per hosted task; its keys act on the task under the cursor."""

    BINDINGS = [  # noqa: RUF012
        Binding("p", "app.toggle_pause", "Pause/resume", id="pause-task"),
        Binding("plus,equals_sign", "app.scale(1)", "Scale +1", key_display="+", id="scale-up"),
        Binding("minus", "app.scale(-1)", "Scale −1", key_display="-", id="scale-down"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.border_title = "workers"

    def on_mount(self) -> None:
        for key, header, width in COLUMNS:
            self.add_column(header, key=key, width=width)

    @property
    def current_task(self) -> str | None:
        """The task name under the cursor."""
        return cursor_key(self)

    def show(self, stats: list[TaskStats]) -> None:
        """Update the rows from ``Queue.stats()`` (cells change in place)."""
        for s in stats:
            cells = stats_row(s)
            try:
                self.get_row_index(s.name)
            except RowDoesNotExist:
                self.add_row(*(cells[c] for c, _, _ in COLUMNS), key=s.name)
                continue
            for column, value in cells.items():
                if not fmt.same_text(self.get_cell(s.name, column), value):  # each update re-renders
                    self.update_cell(s.name, column, value)
