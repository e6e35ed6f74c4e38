"""What the CLI prints: JSON, a job's detail, and tables at a width chosen once, never with a
column dropped.

JSON is standard (a NaN is null) with control and bidi characters escaped
(:func:`queuecore.printable.json_text`): a terminal reads it too.

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

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import typer

from queuecore import AuditEntry, Job, Status
from queuecore.printable import json_text

from .. import format as fmt
from ..present import CLI_STYLES, finite, iso, json_default, show_rows, status_markup

# -- JSON and a job's detail -------------------------------------------------------------


def print_json(value: Any) -> None:
    """Print ``value`` as standard JSON: a NaN or ±Infinity (a handler's result, another program's
    document) becomes null, as in JavaScript's JSON.stringify, since no JSON parser reads NaN."""
    try:
        text = json.dumps(value, indent=2, default=json_default, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(finite(value), indent=2, default=json_default, ensure_ascii=False)
    typer.echo(json_text(text))  # C1, DEL and bidi controls as \uXXXX: a terminal reads this too


def rich_console() -> Any:
    """A console for the CLI's output (no highlighting of numbers and words)."""
    from rich.console import Console

    return Console(highlight=False)


def print_job(job: Job) -> None:
    """``jobtui show``: the job's fields, its data and result as JSON, its history."""
    from rich.highlighter import JSONHighlighter
    from rich.table import Table

    console = rich_console()
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for key, value in show_rows(job, datetime.now(UTC)):
        if value:
            fields.add_row(key, value)
    console.print(fields)
    for title, doc in (("data", job.data), ("result", job.result)):
        if doc:
            console.print(f"\n[bold]{title}[/]")
            # as rich.json.JSON shows it, but from json_text: control and bidi characters in
            # keys and strings stay \uXXXX escapes (JSON re-encodes them raw)
            encoded = json.dumps(doc, indent=2, default=json_default, ensure_ascii=False)
            shown = JSONHighlighter()(json_text(encoded))
            shown.no_wrap, shown.overflow = True, None
            console.print(shown)
    if job.events:
        history = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
        for column in ("AT", "STATUS", "REASON"):
            history.add_column(column)
        for event in job.events:
            history.add_row(
                iso(event.at) or "", fmt.shown(event.status), fmt.shown(event.reason, layout=True)
            )
        console.print("\n[bold]history[/]")
        console.print(history)


# -- tables -------------------------------------------------------------------------------

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


# -- the jobs table ---------------------------------------------------------------------


#: The columns of ``jobtui ls`` that give up width within a limit, and their minimum widths.
SHRINKABLE = {"NAME": 8, "LABEL": 6, "REASON": 10}


def print_jobs(jobs: list[Job], width: int | None) -> None:
    """The jobs as a table: every column, whole cells unless ``width`` limits the row
    (see the module docstring)."""
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
                fmt.flat(job.name),
                fmt.flat(job.label),
                status_markup(job, now),
                str(job.attempts),
                fmt.ago(job.created, now),
                fmt.duration(wait) if wait >= 1 else "",
                f"{job.progress * 100:.0f}%" if job.progress is not None and running else "",
                fmt.flat(job.malformed or job.reason),
            )
        )
    table, table_width = fitted_table(columns, rows, SHRINKABLE, width)
    print_fitted(table, table_width)


# -- the stats and the audit log ---------------------------------------------------------


def print_stats(result: dict[str, Any]) -> None:
    """``jobtui stats``: the store, then the jobs per stored status (running and stalled under
    dequeued) and the total."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, show_footer=True)
    table.add_column("STATUS", footer="total")
    table.add_column("JOBS", justify="right", footer=str(result["total"]))
    for status, count in result["counts"].items():
        table.add_row(f"[{CLI_STYLES.get(status, 'bold')}]{fmt.shown(status)}[/]", str(count))
        if status == Status.DEQUEUED.value:
            table.add_row("[dim]  running[/]", f"[dim]{result['running']}[/]")
            table.add_row("[dim]  stalled[/]", f"[dim]{result['stalled']}[/]")
    console = rich_console()
    console.print(
        f"[bold]{fmt.shown(result['store'])}[/] ({result['engine']}, {fmt.shown(result['collection'])})"
    )
    console.print(table)


def print_audit(entries: list[AuditEntry]) -> None:
    """``jobtui audit``: one row per entry (a lone id in full, else how many)."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("AT", "WHO", "FROM", "ACTION", "JOBS", "DETAIL"):
        table.add_column(column, no_wrap=column != "DETAIL", overflow="ellipsis")
    for e in entries:
        jobs = e.ids[0] if len(e.ids) == 1 else str(len(e.ids))
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            fmt.shown(e.who),
            fmt.shown(e.source),
            fmt.shown(e.action),
            fmt.shown(jobs),
            fmt.flat(e.detail),
        )
    rich_console().print(table)
