"""Rows of the PostgreSQL jobs table ↔ :class:`~queuecore.job.Job`.

Times are ``timestamptz``, data, result and the history ``jsonb`` (received as text, decoded
here: a value nested too deeply to decode is then a malformed job, not a failed read), text
columns ``text`` with NUL encoded (:mod:`.text`). A row exactly as this engine writes it is
turned into a job without pydantic validating every field (:meth:`Codec.fast_job`); anything
else — another program's row — is validated, or salvaged with ``malformed`` set: reading never
raises. A time the driver cannot turn into a datetime (``infinity``, a year past 9999) reaches
the codec as its text (:class:`BadTime`), so its job is salvaged too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from ...fields import FIELDS, Kind, of_kind
from ...job import MAX_DEPTH, MAX_EVENTS, Event, Job, Status
from . import text as pgtext

#: The job table's columns: one per stored field (:data:`queuecore.fields.FIELDS`, named by
#: its key, ``id`` for the id), in the order every query selects them. ``locked`` (the
#: label's lock) is never read.
COLUMNS = tuple(f.sql_column for f in FIELDS)
#: The columns :meth:`Codec.fast_job` reads by position; with another table of fields (a field
#: added) every row takes the validating path until it is taught the new one.
_FAST = (
    "id",
    "name",
    "label",
    "data",
    "status",
    "created_at",
    "available_at",
    "started_at",
    "ended_at",
    "finished_at",
    "attempts",
    "result",
    "reason",
    "events",
    "worker",
    "progress",
    "note",
    "cancel_reason",
    "heartbeat_at",
    "trace",
)
FAST = COLUMNS == _FAST
SELECT = ", ".join(COLUMNS)
#: The same, from the jobs table joined as ``j`` (the change feed's read).
JOINED = ", ".join(f"j.{c}" for c in COLUMNS)
DATETIME_KEYS = frozenset(f.sql_column for f in of_kind(Kind.TIME))
JSON_KEYS = frozenset(f.sql_column for f in of_kind(Kind.OBJECT, Kind.EVENTS))
TEXT_KEYS = frozenset(f.sql_column for f in of_kind(Kind.TEXT, Kind.STATUS))
#: PostgreSQL's column type per kind (text is ``COLLATE "C"``: code-point order, as Python's).
PG_TYPES: dict[Kind, str] = {
    Kind.ID: 'text COLLATE "C"',
    Kind.TEXT: 'text COLLATE "C"',
    Kind.STATUS: 'text COLLATE "C"',
    Kind.TIME: "timestamptz",
    Kind.INT: "integer",
    Kind.FLOAT: "double precision",
    Kind.OBJECT: "jsonb",
    Kind.EVENTS: "jsonb",
}
STATUSES: dict[str, Status] = {s.value: s for s in Status}


class BadTime(str):
    """A stored time the driver could not read as a datetime (its text)."""

    __slots__ = ()


def dump_json(value: Any) -> str:
    """JSON text of a value for a ``jsonb`` column: NUL encoded (:mod:`.text`), NaN and
    infinities (not JSON, refused by ``jsonb``) as null."""
    try:
        dumped = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        return dump_json(_finite(value))
    if pgtext.json_needs_encoding(dumped):
        dumped = json.dumps(pgtext.encode_json(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return dumped


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def load_json(raw: str) -> Any:
    """A ``jsonb`` text decoded (raises for what cannot be decoded)."""
    value = json.loads(raw)
    return pgtext.decode_json(value) if pgtext.P in raw else value


def encode(key: str, value: Any) -> Any:
    """A value of the job field stored in column ``key``, as the statement passes it."""
    if value is None:
        return None
    if key in ("data", "result"):
        return dump_json(value)
    if isinstance(value, Status):
        return value.value
    if isinstance(value, str) and key in TEXT_KEYS:
        return pgtext.encode(value)
    return value


def event_json(event: Event) -> str:
    """One history entry as stored in ``events``."""
    return dump_json({"at": event.at.isoformat(), "status": str(event.status), "reason": event.reason})


def row_to_doc(row: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """A stored row in the MongoDB document shape, for ``Job.from_doc``; what validation
    cannot see is added to ``problems``."""
    doc: dict[str, Any] = {}
    for key, value in row.items():
        if key == "id":
            doc["_id"] = value
        elif value is None:
            doc[key] = None
        elif key in JSON_KEYS:
            try:
                doc[key] = load_json(value)
            except RecursionError:
                doc[key] = None
                problems.append(f"{key}: nested deeper than {MAX_DEPTH} levels")
            except (TypeError, ValueError):
                doc[key] = value
        elif isinstance(value, BadTime):
            problems.append(f"{key}: {str(value)!r} is not a time Python can hold")
            doc[key] = None
        elif isinstance(value, str):
            doc[key] = pgtext.decode(value)
        else:
            doc[key] = value
    return doc


class Codec:
    """One store's row ↔ Job codec, with its cache of validated history entries."""

    #: Validated history entries kept, by (at, status, reason).
    EVENTS_SIZE = 4096

    __slots__ = ("_entries_seen",)

    def __init__(self) -> None:
        self._entries_seen: dict[tuple[str, str, str | None], Event] = {}

    def to_job(self, row: Sequence[Any]) -> Job:
        """The job in a row of ``COLUMNS`` (never raises: a row that is not a valid job comes
        back salvaged, ``malformed`` set)."""
        values = tuple(row)
        job = self.fast_job(values)
        if job is not None:
            return job
        problems: list[str] = []
        try:
            doc = row_to_doc(dict(zip(COLUMNS, values, strict=True)), problems)
        except Exception as exc:  # whatever it is, one row must not stop a read
            doc, problems = {"_id": values[0] if values else None}, [f"cannot be read ({type(exc).__name__})"]
        if problems:
            return Job.salvage(doc, "malformed job: " + "; ".join(problems))
        return Job.from_doc(doc)

    def events(self, raw: str) -> list[Event]:
        """A stored history; each entry validated (pydantic) once (raises when invalid)."""
        items = load_json(raw)
        if type(items) is not list:
            raise ValueError("events is not a list")
        seen = self._entries_seen
        out = []
        for item in items:
            at, status, reason = item.get("at"), item.get("status"), item.get("reason")
            if type(at) is not str or type(status) is not str or not (reason is None or type(reason) is str):
                out.append(Event.model_validate(item))
                continue
            key = (at, status, reason)
            event = seen.get(key)
            if event is None:
                event = Event.model_validate(item)
                if len(seen) >= self.EVENTS_SIZE:
                    seen.clear()
                seen[key] = event
            out.append(event)
        return out

    def fast_job(self, values: Sequence[Any]) -> Job | None:
        """A row as this engine writes it, as a Job without validating it field by field
        (every value type-checked exactly; anything unexpected: None, the validating path
        decides)."""
        if not FAST:
            return None
        (
            id_,
            name,
            label,
            data,
            status,
            created,
            available,
            started,
            ended,
            finished,
            attempts,
            result,
            reason,
            events,
            worker,
            progress,
            note,
            cancel_reason,
            heartbeat,
            trace,
        ) = values
        if not (
            type(id_) is str
            and len(id_) == 24
            and type(name) is str
            and type(label) is str
            and type(data) is str
            and type(status) is str
            and type(created) is datetime
            and type(available) is datetime
            and type(attempts) is int
            and type(reason) is str
            and type(events) is str
            and type(worker) is str
            and type(note) is str
            and (progress is None or type(progress) is float)
            and (cancel_reason is None or type(cancel_reason) is str)
            and (trace is None or type(trace) is str)
            and (result is None or type(result) is str)
            and (started is None or type(started) is datetime)
            and (ended is None or type(ended) is datetime)
            and (finished is None or type(finished) is datetime)
            and (heartbeat is None or type(heartbeat) is datetime)
        ):
            return None
        state = STATUSES.get(status)
        if state is None:
            return None
        try:
            oid = ObjectId(id_)
            if data.count("{") + data.count("[") > MAX_DEPTH:
                return None  # perhaps nested too deeply: the validating path looks closer
            if result is not None and result.count("{") + result.count("[") > MAX_DEPTH:
                return None
            decoded = load_json(data)
            outcome = None if result is None else load_json(result)
            history = self.events(events)
        except Exception:  # whatever it is, the validating path reports it
            return None
        if type(decoded) is not dict or not (outcome is None or type(outcome) is dict):
            return None
        decode = pgtext.decode
        return Job.trusted(
            id=oid,
            name=decode(name),
            label=decode(label),
            data=decoded,
            status=state,
            created=_utc(created),
            available=_utc(available),
            started=_utc(started),
            ended=_utc(ended),
            finished=_utc(finished),
            attempts=attempts,
            result=outcome,
            reason=decode(reason),
            events=history,
            worker=decode(worker),
            progress=progress,
            note=decode(note),
            cancel_reason=None if cancel_reason is None else decode(cancel_reason),
            heartbeat=_utc(heartbeat),
            trace=None if trace is None else decode(trace),
            malformed=None,
        )

    def insert_values(self, job: Job, lock: bool) -> list[Any]:
        """A new job's values for ``writes.INSERT_COLUMNS``: every stored field, then the lock."""
        return [*(_stored(f.kind, getattr(job, f.attr)) for f in FIELDS), lock]

    def append_args(self, event: Event) -> tuple[Any, ...]:
        """The parameters of ``writes.APPEND`` for ``event``."""
        entry = event_json(event)
        return (entry, MAX_EVENTS, entry, entry)


def _stored(kind: Kind, value: Any) -> Any:
    """A job's value of a field of ``kind``, as its column is written."""
    if value is None:
        return None
    if kind is Kind.ID:
        return str(value)
    if kind is Kind.STATUS:
        return value.value if isinstance(value, Status) else str(value)
    if kind is Kind.TEXT:
        return pgtext.encode(value)
    if kind is Kind.OBJECT:
        return dump_json(value)
    if kind is Kind.EVENTS:
        return "[" + ",".join(event_json(e) for e in value) + "]"
    return value


def _utc(value: datetime | None) -> datetime | None:
    """A time read back (the session's time zone is UTC) with the tzinfo every engine gives."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)
