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
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.text import Text

from queuecore import Job, Status
from queuecore.fields import FIELDS, Kind, Stored
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
    """A job as JSON-ready data: every stored field (:data:`queuecore.fields.FIELDS`, in its
    order) by attribute, the short id after the id, ``malformed`` last; ids as hex strings,
    datetimes ISO 8601."""
    out: dict[str, Any] = {}
    for spec in FIELDS:
        value = getattr(job, spec.attr)
        out[spec.attr] = None if value is None else _JSON[spec.kind](value)
        if spec.kind is Kind.ID:
            out["short_id"] = job.short_id
    out["malformed"] = job.malformed
    return out


#: A field's value (not None) as JSON-ready data, by its kind.
_JSON: dict[Kind, Callable[[Any], Any]] = {
    Kind.ID: str,
    Kind.TEXT: lambda value: value,
    Kind.STATUS: str,
    Kind.TIME: iso,
    Kind.INT: lambda value: value,
    Kind.FLOAT: lambda value: value,
    Kind.OBJECT: lambda value: value,
    Kind.EVENTS: lambda events: [{"at": iso(e.at), "status": e.status, "reason": e.reason} for e in events],
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


#: What ``jobtui show`` calls a field, where not its attribute.
SHOW_NAMES = {"cancel_reason": "cancel requested"}
#: The text fields ``jobtui show`` prints with their line breaks and tabs: messages.
LAYOUT_FIELDS = frozenset({"note", "reason", "cancel_reason"})


def show_rows(job: Job, now: datetime) -> list[tuple[str, str]]:
    """The fields ``jobtui show`` lists, as (name, Rich markup): every stored field
    (:data:`queuecore.fields.FIELDS`, in its order) but data, result and history, which follow
    apart, then ``malformed``; an empty value is not shown. Times are ISO 8601 (a script may
    read them)."""
    rows = [
        (SHOW_NAMES.get(spec.attr, spec.attr), _shown(job, spec, now))
        for spec in FIELDS
        if spec.kind not in (Kind.OBJECT, Kind.EVENTS)
    ]
    rows.append(("malformed", fmt.shown(job.malformed or "", layout=True)))
    return rows


def _shown(job: Job, spec: Stored, now: datetime) -> str:
    """A field's value as ``jobtui show`` prints it (Rich markup; empty for none)."""
    value = getattr(job, spec.attr)
    if spec.kind is Kind.STATUS:
        return status_markup(job)
    if value is None:
        return ""
    if spec.attr == "created":
        return f"{iso(value)}  ({fmt.ago(value, now)} ago)"
    if spec.attr == "progress":
        return f"{value * 100:.0f}%"
    if spec.kind is Kind.TIME:
        return iso(value) or ""
    if spec.kind is Kind.TEXT:
        return fmt.shown(value, layout=spec.attr in LAYOUT_FIELDS)
    return str(value)


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
    "LAYOUT_FIELDS",
    "MALFORMED_STYLE",
    "SHORT_NAMES",
    "SHOW_NAMES",
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
