"""How a job is presented, in the CLI and the dashboard alike: status names and styles, a
job's JSON, the rows of its detail.

One module for both front ends, so a status, a field or a JSON key is named in one place:
``jobtui ls``/``show`` print from here as Rich markup, the dashboard's table, bars and detail
screen as ``Text``. The pieces underneath (durations, times, stored text made safe) are
:mod:`jobtui.format`'s. Stored text is untrusted: every value passes through
:func:`~jobtui.format.shown` or :func:`~jobtui.format.safe_text` here.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rich.text import Text

from queuecore import Job, Status
from queuecore.status import RUNNING, derived_status
from queuecore.tracing import trace_id

from . import format as fmt

# -- status names and styles ---------------------------------------------------------

#: The dashboard's style per status (the table, the summary and filter bars, the detail).
STATUS_STYLES: dict[str, str] = {
    Status.ENQUEUED.value: "bold cyan",
    Status.DEQUEUED.value: "bold yellow",
    "running": "bold yellow",
    Status.COMPLETED.value: "bold green",
    Status.FAILED.value: "bold red",
    Status.CANCELLED.value: "bold magenta",
    "stalled": "bold bright_white on dark_orange3",
}
#: What a status is called on screen (``dequeued`` is what an operator calls running).
STATUS_NAMES: dict[str, str] = {
    Status.ENQUEUED.value: "enqueued",
    Status.DEQUEUED.value: "running",
    "running": "running",
    Status.COMPLETED.value: "completed",
    Status.FAILED.value: "failed",
    Status.CANCELLED.value: "cancelled",
    "stalled": "stalled",
}
#: Shorter names for the summary and filter bars on a narrow terminal (80 columns).
SHORT_NAMES: dict[str, str] = {
    Status.ENQUEUED.value: "enq",
    Status.DEQUEUED.value: "run",
    "running": "run",
    Status.COMPLETED.value: "done",
    Status.FAILED.value: "fail",
    Status.CANCELLED.value: "canc",
    "stalled": "stall",
}
MALFORMED_STYLE = "bold white on dark_red"
#: The CLI's colour per shown status (its tables are not bold).
CLI_STYLES = {
    "enqueued": "cyan",
    "running": "yellow",
    "stalled": "bold bright_white on dark_orange3",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def status_word(job: Job, now: datetime | None = None) -> str:
    """The status in words, by the one rule (:func:`queuecore.status.derived_status`), as the
    dashboard and the CLI both say it: ``running`` (``cancelling`` once asked to stop),
    ``stalled`` past its timeout, ``malformed`` for a document that is not a job."""
    if job.malformed:
        return "malformed"
    status = derived_status(job, now)
    if status == RUNNING and job.cancel_reason is not None:
        return "cancelling"
    return status


def status_text(job: Job, now: datetime | None = None) -> Text:
    """The dashboard's status cell: :func:`status_word`, coloured; a malformed document flagged."""
    if job.malformed:
        return Text("⚠ malformed", style=MALFORMED_STYLE)
    return Text(status_word(job, now), style=STATUS_STYLES.get(derived_status(job, now), "bold"))


def status_markup(job: Job, now: datetime | None = None) -> str:
    """The CLI's status: :func:`status_word` coloured in Rich markup."""
    if job.malformed:
        return f"[{MALFORMED_STYLE}]malformed[/]"
    return f"[{CLI_STYLES.get(derived_status(job, now), 'bold')}]{status_word(job, now)}[/]"


# -- JSON ---------------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601, or None."""
    return value.isoformat() if value is not None else None


def job_json(job: Job) -> dict[str, Any]:
    """A job as JSON-ready data: ids as hex strings, datetimes ISO 8601, malformed flagged."""
    return {
        "id": str(job.id),
        "short_id": job.short_id,
        "name": job.name,
        "label": job.label,
        "status": str(job.status),
        "data": job.data,
        "result": job.result,
        "reason": job.reason,
        "attempts": job.attempts,
        "created": iso(job.created),
        "available": iso(job.available),
        "started": iso(job.started),
        "ended": iso(job.ended),
        "finished": iso(job.finished),
        "worker": job.worker,
        "progress": job.progress,
        "note": job.note,
        "cancel_reason": job.cancel_reason,
        "heartbeat": iso(job.heartbeat),
        "events": [{"at": iso(e.at), "status": e.status, "reason": e.reason} for e in job.events or []],
        "malformed": job.malformed,
    }


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default``: what stored documents hold besides JSON's own types."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # ObjectId, Decimal128, … from documents other programs wrote


def finite(value: Any) -> Any:
    """``value`` with every NaN and ±Infinity float replaced by None (no JSON parser reads them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


# -- detail rows --------------------------------------------------------------------------


def show_rows(job: Job, now: datetime) -> list[tuple[str, str]]:
    """The fields ``jobtui show`` lists, as (name, Rich markup); an empty value is not shown.
    Times are ISO 8601 (a script may read them); data, result and history follow apart."""
    shown = fmt.shown
    return [
        ("id", str(job.id)),
        ("name", shown(job.name)),
        ("label", shown(job.label)),
        ("status", status_markup(job)),
        ("attempts", str(job.attempts)),
        ("created", f"{iso(job.created)}  ({fmt.ago(job.created, now)} ago)" if job.created else ""),
        ("available", iso(job.available) or ""),
        ("started", iso(job.started) or ""),
        ("ended", iso(job.ended) or ""),
        ("finished", iso(job.finished) or ""),
        ("worker", shown(job.worker)),
        ("progress", f"{job.progress * 100:.0f}%" if job.progress is not None else ""),
        ("note", shown(job.note, layout=True)),
        ("reason", shown(job.reason, layout=True)),
        ("cancel requested", shown(job.cancel_reason or "", layout=True)),
        ("malformed", shown(job.malformed or "", layout=True)),
    ]


def detail_rows(job: Job) -> list[tuple[str, Text | str]]:
    """The fields at the top of the dashboard's detail screen, as (name, cell). Its times are
    a timeline, its reason, data, result and history panels of their own."""
    # job fields as Text: a str cell is read as markup (a name "[/x]" raised MarkupError);
    # fmt.safe_text also shows terminal controls in them visibly (they are untrusted)
    rows: list[tuple[str, Text | str]] = [
        ("id", str(job.id)),
        ("task", fmt.safe_text(job.name)),
        ("label", fmt.safe_text(job.label or "—")),
        ("status", status_text(job)),
        ("attempts", str(job.attempts)),
        ("worker", fmt.safe_text(job.worker or "—")),
    ]
    if job.progress is not None:  # a finished job's is what it last reported
        rows.append(("progress" if fmt.runs(job) else "last progress", fmt.progress(job, 20, last=True)))
    if job.note:
        rows.append(("note", fmt.safe_text(job.note, layout=True)))
    if job.cancel_reason is not None:
        rows.append(
            ("cancel requested", fmt.safe_text(job.cancel_reason or "(no reason)", "yellow", layout=True))
        )
    if job.heartbeat is not None:
        rows.append(("heartbeat", fmt.when(job.heartbeat)))
    if job.trace:
        # The trace id is what a tracing backend searches by; the traceparent is kept for context.
        rows.append(("trace id", fmt.safe_text(trace_id(job.trace) or "(unreadable)", "bold")))
        rows.append(("traceparent", fmt.safe_text(job.trace, "dim")))
    return rows


__all__ = [
    "CLI_STYLES",
    "MALFORMED_STYLE",
    "SHORT_NAMES",
    "STATUS_NAMES",
    "STATUS_STYLES",
    "detail_rows",
    "finite",
    "iso",
    "job_json",
    "json_default",
    "show_rows",
    "status_markup",
    "status_text",
    "status_word",
]
