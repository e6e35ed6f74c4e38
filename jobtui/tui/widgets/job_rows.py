"""The rows of the jobs table: its columns, and the cells of a job's row.

Kept apart from the table's window and cursor logic (:mod:`.jobs_table`) and its painting
(:mod:`.painted_table`): what a row *shows* is decided here only, from a job and the time.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from rich.text import Text

from queuecore import Job

from ... import format as fmt
from ... import present

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
