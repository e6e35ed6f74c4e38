"""How job values are shown: durations, times, progress, stored text made safe, truncation.

Pure functions (rich ``Text`` for the dashboard, Rich markup for the CLI) so the table, the
detail screen, the CLI and the README screenshots render a value the same way; status names
and styles, a job's JSON and its detail rows build on these in :mod:`jobtui.present`. Stored
text (names, labels, reasons, data, worker names) is untrusted: :func:`safe_text`,
:func:`truncate`, :func:`shown` and :func:`flat` pass it through
:func:`queuecore.printable.printable` before anything else sees it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from queuecore import Job, Status
from queuecore.printable import json_text, one_line, printable

from .view import status_of


def count_text(count: int, capped: bool = False) -> str:
    """A count for the summary: ``1,234``; a capped one as ``10k+``."""
    if not capped:
        return f"{count:,}"
    if count >= 1000 and count % 1000 == 0:
        return f"{count // 1000}k+"
    return f"{count:,}+"


def duration(seconds: float | None) -> str:
    """A compact duration: ``4s``, ``3m05s``, ``2h10m``, ``3d4h``; empty for None."""
    if seconds is None:
        return ""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h}h"


def _since(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def age(job: Job, now: datetime) -> str:
    """How long ago the job was created."""
    return duration(_since(job.created, now))


def ago(value: datetime | None, now: datetime) -> str:
    """How long ago ``value`` was (``3m05s``; empty for None)."""
    if value is None:
        return ""
    return duration((now - value).total_seconds())


def available_in(job: Job, now: datetime) -> str:
    """Countdown until a delayed or failed job may run again (empty when it may run now)."""
    if job.malformed or status_of(job) not in (Status.ENQUEUED.value, Status.FAILED.value):
        return ""
    wait = _since(now, job.available)
    return duration(wait) if wait is not None and wait >= 1 else ""


def run_time(job: Job, now: datetime) -> str:
    """How long the last attempt ran (still running: so far)."""
    if job.started is None:
        return ""
    if status_of(job) == Status.DEQUEUED.value:
        return duration(_since(job.started, now))
    if job.ended is not None and job.ended >= job.started:
        return duration(_since(job.started, job.ended))
    return ""


def heartbeat_age(job: Job, now: datetime) -> str:
    """How long ago a running job's worker last reported (its heartbeat); empty otherwise."""
    if job.malformed or status_of(job) != Status.DEQUEUED.value or job.heartbeat is None:
        return ""
    return duration(_since(job.heartbeat, now))


def retention(value: timedelta) -> str:
    """A retention period as an operator says it: ``7d``, ``12h``, ``90m``."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return duration(seconds)


def progress(job: Job, width: int = 6, *, last: bool = False) -> Text:
    """A small bar and percentage for a running job that reports progress. A job that no
    longer runs keeps the last value it reported; that shows only with ``last=True`` (the
    detail view labels it), never as a half-full bar beside "completed"."""
    if job.progress is None or not (last or runs(job)):
        return Text("")
    value = min(1.0, max(0.0, float(job.progress)))
    filled = round(value * width)
    return Text.assemble(("█" * filled, "green"), ("░" * (width - filled), "grey50"), f" {value * 100:3.0f}%")


def runs(job: Job) -> bool:
    """Whether a worker holds the job (dequeued: running, or stalled past its timeout)."""
    return not job.malformed and str(job.status) == Status.DEQUEUED.value


def safe_text(value: object, style: str = "", *, layout: bool = False) -> Text:
    """Stored text as a ``Text`` cell or label: terminal controls shown visibly
    (:func:`~queuecore.printable.printable`; ``layout=True`` keeps newlines and tabs), and
    never read as markup."""
    return Text(printable(value, layout=layout), style=style)


def shown(value: object, *, layout: bool = False) -> str:
    """Stored text for a Rich table or line (markup): printable, then markup-escaped."""
    from rich.markup import escape

    return escape(printable(value, layout=layout))


def flat(value: object) -> str:
    """Stored text on one line for a table cell (:func:`queuecore.printable.one_line`: runs of
    spaces, tabs and newlines as one space, every other control shown), markup-escaped."""
    from rich.markup import escape

    return escape(one_line(value))


def truncate(value: str, width: int) -> str:
    """``value`` on one line, made printable, then cut to ``width`` terminal cells with an
    ellipsis (made printable first, so a cut never leaves part of an escape sequence; cells,
    not characters, so a name in wide CJK characters fits its column too)."""
    flat = one_line(value)  # \r, \x85, \u2028… stay visible, never plain spaces
    if cell_len(flat) <= width:
        return flat
    text = Text(flat)
    text.truncate(max(1, width), overflow="ellipsis")
    return text.plain


def to_json(value: Any) -> str:
    """Pretty JSON for display (anything not JSON-native is shown as its string); control
    and bidi characters in strings are ``\\uXXXX`` escapes, as they are in ``--json``."""
    encoded = json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return printable(json_text(encoded), layout=True)


def when(value: datetime | None) -> str:
    """A timestamp in local time, or a dash."""
    if value is None:
        return "—"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def same_text(a: object, b: object) -> bool:
    """Whether two cell/label values look the same (text, style, spans and layout)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return (
            a.plain == b.plain
            and str(a.style) == str(b.style)
            and a.spans == b.spans
            and (a.no_wrap, a.overflow, a.justify) == (b.no_wrap, b.overflow, b.justify)
        )
    return a == b


def set_content(static: Any, content: Text | str) -> None:
    """``static.update(content)`` unless it already shows that: an update costs a layout pass
    of the screen, and the bars are re-rendered with every batch of changes."""
    if not same_text(static.content, content):
        static.update(content)
