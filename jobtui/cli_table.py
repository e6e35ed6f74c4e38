"""The CLI's tables at a width chosen once, never with a column dropped.

Rich fits a table to the console, and a console that is not a terminal is 80 columns wide:
``jobtui ls | cat`` cut every row there and left the last columns out, with nothing to say
so. Here the width is decided first (:func:`output_width`):

- ``--width N`` if given (``--width 0``: no limit), else ``$COLUMNS``, else the terminal's
  width when stdout is one;
- without any of them (a pipe, a file) there is no limit: every cell is printed whole.

Within a limit, the columns named as shrinkable give up width (the widest first, each down to
its minimum, cut with "…"); if the table is still wider than the limit its rows run past it
(a terminal wraps them) — a column is never left out.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from queuecore import Job
from queuecore.printable import one_line, printable
from queuecore.status import RUNNING, derived_status

from . import format as fmt

#: Columns between two cells (Rich's padding of 1 on either side of the boundary).
GAP = 2


def output_width(option: int | None) -> int | None:
    """The width to fit tables to: ``--width`` (0: no limit), else ``$COLUMNS``, else the
    terminal's width when stdout is a terminal; None means no limit (whole cells)."""
    if option is not None:
        return option or None
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def widths(natural: Sequence[int], shrinkable: Mapping[int, int], limit: int | None) -> list[int]:
    """Column widths for cells of these ``natural`` widths within ``limit`` (None: no limit):
    the columns of ``shrinkable`` (index → minimum width) narrowed, the widest first, until
    the row fits or each is at its minimum."""
    out = list(natural)
    if limit is None:
        return out
    excess = sum(out) + GAP * (len(out) - 1) - limit
    while excess > 0:
        room = [(out[i], i) for i, least in shrinkable.items() if out[i] > least]
        if not room:
            break
        widest, index = max(room)
        others = [w for w, i in room if i != index]
        # down to the next widest (or the minimum), at most what is still too much
        target = max(shrinkable[index], max(others, default=0), widest - excess)
        if target == widest:
            target -= 1
        excess -= widest - target
        out[index] = target
    return out


def fitted_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], shrinkable: Mapping[str, int], limit: int | None
) -> tuple[Any, int]:
    """A Rich table of ``rows`` (cells in Rich markup, stored text already escaped) and the
    console width to print it at: every column present, cells whole unless ``limit`` makes the
    ``shrinkable`` columns (header → minimum width) narrower."""
    from rich.table import Table
    from rich.text import Text

    natural = [
        max([len(header)] + [Text.from_markup(row[index]).cell_len for row in rows])
        for index, header in enumerate(headers)
    ]
    least = {headers.index(h): max(n, len(h)) for h, n in shrinkable.items() if h in headers}
    chosen = widths(natural, least, limit)
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, GAP // 2))
    for header, width in zip(headers, chosen, strict=True):
        table.add_column(header, width=width, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*row)
    return table, sum(chosen) + GAP * (len(chosen) - 1)


def print_fitted(table: Any, width: int) -> None:
    """Print a table from :func:`fitted_table` at exactly its width (no colour codes unless
    stdout is a terminal), without the spaces that pad the last cell of each line."""
    import typer
    from rich.console import Console

    console = Console(highlight=False, width=max(1, width), soft_wrap=False)
    with console.capture() as captured:
        console.print(table)
    typer.echo("\n".join(line.rstrip(" ") for line in captured.get().splitlines()))


# -- stored text and the jobs table ----------------------------------------------------


def shown(value: object, *, layout: bool = False) -> str:
    """Stored text for a Rich table or line: printable, then markup-escaped."""
    from rich.markup import escape

    return escape(printable(value, layout=layout))


def flat(value: object) -> str:
    """Stored text on one line for a table cell (:func:`queuecore.printable.one_line`: runs of
    spaces, tabs and newlines as one space, every other control shown), markup-escaped."""
    from rich.markup import escape

    return escape(one_line(value))


STATUS_STYLE = {
    "enqueued": "cyan",
    "dequeued": "yellow",
    "running": "yellow",
    "stalled": "bold bright_white on dark_orange3",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def status_markup(job: Job, now: datetime | None = None) -> str:
    """The status as an operator reads it (``running``, ``stalled``, ``cancelling``,
    ``malformed``), coloured."""
    if job.malformed:
        return "[bold white on dark_red]malformed[/]"
    return f"[{STATUS_STYLE.get(derived_status(job, now), 'bold')}]{status_word(job, now)}[/]"


def status_word(job: Job, now: datetime | None = None) -> str:
    """The status in words (:func:`queuecore.status.derived_status`): a dequeued job is
    ``running`` (``cancelling`` once asked to stop) or ``stalled`` once its timeout passed."""
    if job.malformed:
        return "malformed"
    status = derived_status(job, now)
    if status == RUNNING and job.cancel_reason is not None:
        return "cancelling"
    return status


def ago(value: datetime | None, now: datetime) -> str:
    """How long ago ``value`` was (``3m05s``; empty for None)."""
    if value is None:
        return ""
    return fmt.duration((now - value).total_seconds())


#: The columns of ``jobtui ls`` that give up width within a limit, and their minimum widths.
SHRINKABLE = {"NAME": 8, "LABEL": 6, "REASON": 10}


def print_jobs(jobs: list[Job], width: int | None) -> None:
    """The jobs as a table: every column, whole cells unless ``width`` limits the row
    (:mod:`jobtui.cli_table`)."""
    now = datetime.now(UTC)
    columns = ("ID", "NAME", "LABEL", "STATUS", "ATT", "AGE", "WAIT", "PROG", "REASON")
    rows = []
    for job in jobs:
        waits = str(job.status) in ("enqueued", "failed") and not job.malformed and job.available
        wait = (job.available - now).total_seconds() if waits and job.available else 0
        running = str(job.status) == "dequeued" and not job.malformed
        rows.append(
            (
                str(job.id),
                flat(job.name),
                flat(job.label),
                status_markup(job, now),
                str(job.attempts),
                ago(job.created, now),
                fmt.duration(wait) if wait >= 1 else "",
                f"{job.progress * 100:.0f}%" if job.progress is not None and running else "",
                flat(job.malformed or job.reason),
            )
        )
    table, table_width = fitted_table(columns, rows, SHRINKABLE, width)
    print_fitted(table, table_width)
