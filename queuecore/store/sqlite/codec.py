"""Rows of the SQLite jobs table ↔ :class:`~queuecore.job.Job`.

The table has a column per stored field (:data:`queuecore.fields.FIELDS`, named by its key,
``id`` for ``_id``) and the label's lock; which columns hold dates or JSON, and where each one
is in a row, come from that table, so a field added there is read and written here.

Rows are read back without pydantic validating every field when they are exactly what this
engine writes (:meth:`Codec.fast_job`); anything else is validated, or salvaged as
malformed (:func:`row_to_doc`, ``Job.salvage``): reading never raises.

A :class:`Codec` belongs to one store and keeps what makes the hot path cheap: every job is
parsed again after each of its writes (the row ``RETURNING`` gives), and once more when the
change feed reads the same row. Its caches are bounded and per store, so two stores in one
process never share parsed objects, and a closed store's go with it. Each lookup is an
attribute and a dict access: as cheap as the process-global caches they replaced (parsing a
returned row and its change-feed copy measured 16.6 µs against 16.9 µs, best of 8 runs each).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..._time import from_ms, to_ms
from ...fields import FIELDS, Kind, of_kind
from ...job import MAX_DEPTH, MAX_EVENTS, Event, Job, Status
from . import rowcode
from .decode import NotUTF8

#: The job table's columns: one per stored field (:data:`queuecore.fields.FIELDS`, in its
#: order), then the label's lock; every query selects them in this order (``Codec.fast_job``
#: reads them by position).
COLUMNS = (*(f.sql_column for f in FIELDS), "lock")
#: The stored keys (column names but ``id``) of the fields held as epoch milliseconds, as
#: JSON objects, as JSON text of any kind.
DATETIME_KEYS = frozenset(f.key for f in of_kind(Kind.TIME))
JSON_KEYS = frozenset(f.key for f in of_kind(Kind.OBJECT))
DECODED_KEYS = frozenset(f.key for f in of_kind(Kind.OBJECT, Kind.EVENTS))
#: ``SELECT {SELECT} FROM jobs``: every column, in order.
SELECT = ", ".join(COLUMNS)
#: The same, from the jobs table joined as ``j`` (the change feed's read).
FEED_SELECT = ", ".join(f"j.{c}" for c in COLUMNS)
#: The columns a new job is inserted with: all of them (``Codec.insert_values``).
INSERT_COLUMNS = SELECT
INSERT_MARKS = ", ".join("?" * len(COLUMNS))

#: Each column's stored key (the document key :func:`row_to_doc` gives it; the lock has none).
_KEYS = {f.sql_column: f.key for f in FIELDS}


def _position(kind: Kind) -> int:
    """The position in ``COLUMNS`` of the one field of this kind."""
    [index] = [i for i, f in enumerate(FIELDS) if f.kind is kind]
    return index


# Positions the change feed's reuse of a written row needs, worked out once from the table.
_ID, _STATUS = _position(Kind.ID), _position(Kind.STATUS)
_ATTEMPTS = COLUMNS.index("attempts")
_OBJECTS = tuple((i, f.attr) for i, f in enumerate(FIELDS) if f.kind is Kind.OBJECT)


def encode(key: str, value: Any) -> Any:
    """A value of the job field stored in column ``key``, as that column holds it."""
    if value is None:
        return None
    if key in DATETIME_KEYS:
        return to_ms(value)
    if key in JSON_KEYS:
        return json.dumps(value, default=str)
    if isinstance(value, Status):
        return value.value
    return value


def row_to_doc(row: dict[str, Any], problems: list[str] | None = None) -> dict[str, Any]:
    """A stored row in the MongoDB document shape, for Job.from_doc.

    Undecodable JSON is passed on as the raw text, so the job comes back salvaged
    with ``malformed`` set instead of raising. What validation cannot see is added to
    ``problems``: text that is not UTF-8 (see ``decode.py``), JSON nested too deeply
    to decode (then read as null).
    """
    doc: dict[str, Any] = {}
    for column, value in row.items():
        key = _KEYS.get(column)
        if isinstance(value, NotUTF8):
            if problems is not None:
                problems.append(f"{column}: not UTF-8 text")
            value = str(value)  # shown with U+FFFD for each bad byte
        if key is None:  # the lock
            continue
        elif value is None:
            doc[key] = None
        elif key in DATETIME_KEYS:
            try:
                doc[key] = from_ms(value) if isinstance(value, int | float) else value
            except (ValueError, OverflowError, OSError):  # out of range, NaN: salvaged as malformed
                doc[key] = f"{value} (out of range)"
        elif key in DECODED_KEYS:
            try:
                doc[key] = json.loads(value)
            except (TypeError, ValueError):
                doc[key] = value
            except RecursionError:
                doc[key] = None
                if problems is not None:
                    problems.append(f"{key}: nested deeper than {MAX_DEPTH} levels")
        else:
            doc[key] = value
    return doc


class Codec:
    """One store's row ↔ Job codec, with its caches (see the module)."""

    #: Validated history entries kept, by (at, status, reason).
    EVENTS_SIZE = 4096
    #: Job ids whose last parsed history is kept.
    HISTORIES_SIZE = 1024
    #: Jobs kept from the rows writes returned.
    WRITTEN_SIZE = 1024

    __slots__ = ("_entries_seen", "_histories", "_written")

    def __init__(self) -> None:
        #: Validated history entries by (at, status, reason): events are immutable, and a
        #: job's history is read again after each of its writes (RETURNING, then the change
        #: feed), so most entries were validated before.
        self._entries_seen: dict[tuple[str, str, str | None], Event] = {}
        #: The last history parsed per job id, as (text, events): a write appends one entry
        #: to a history read before, so only the new tail needs parsing (see :meth:`events`).
        self._histories: dict[str, tuple[str, tuple[Event, ...]]] = {}
        #: The last jobs parsed from rows the store's writes returned (RETURNING), with those
        #: rows, by (id, status, attempts): the change feed usually reads the very same row
        #: right after the write — or the row of the write before (a claim, read by the feed
        #: after the completion of the same attempt was written), hence not keyed by id alone.
        self._written: dict[tuple[Any, Any, Any], tuple[tuple[Any, ...], Job]] = {}

    # -- reading ----------------------------------------------------------------------

    def to_job(self, row: Sequence[Any]) -> Job:
        """The job in a row of ``COLUMNS`` (never raises: a row that is not a valid job comes
        back salvaged, ``malformed`` set)."""
        values = tuple(row)
        job = rowcode.fast_job(self, values)
        if job is None:  # not exactly what this engine writes: validate, or salvage as malformed
            problems: list[str] = []
            try:
                doc = row_to_doc(dict(zip(COLUMNS, values, strict=True)), problems)
            except Exception as exc:  # whatever it is, one row must not stop a read
                doc, problems = (
                    {"_id": values[0] if values else None},
                    [f"cannot be read ({type(exc).__name__})"],
                )
            job = Job.salvage(doc, "malformed job: " + "; ".join(problems)) if problems else Job.from_doc(doc)
        return job

    def written_job(self, row: Sequence[Any]) -> Job:
        """The job in a row a write returned; remembered for :meth:`feed_job`."""
        values = tuple(row)
        job = self.to_job(values)
        if job.malformed is None:
            if len(self._written) >= self.WRITTEN_SIZE:
                self._written.clear()
            self._written[_written_key(values)] = (values, job)
        return job

    def feed_job(self, values: tuple[Any, ...]) -> Job:
        """The job in a change-feed row. When the row is exactly one a write of this store
        returned, its parse is reused: the same values always give the same job. The copy
        gets containers of its own (data and result decoded again, a new events list), so a
        job a watcher gets shares no mutable part with the one the writer got."""
        known = self._written.get(_written_key(values))
        if known is None or known[0] != values:
            return self.to_job(values)
        fields = dict(known[1].__dict__)
        for index, attr in _OBJECTS:
            fields[attr] = None if values[index] is None else json.loads(values[index])
        fields["events"] = list(fields["events"])  # Event objects are immutable
        return Job.trusted(**fields)

    def events(self, text: str, id: str | None = None) -> list[Event]:
        """A stored event history; each entry is validated (pydantic) once (raises when invalid).

        With the job's ``id``: when the text extends the last history parsed for that job by
        entries at its end (a write appended one), the known entries are reused as they are —
        the same text gives the same entries — and only the new ones are parsed."""
        known = self._histories.get(id) if id is not None else None
        if known is not None and text == known[0]:
            events = [*known[1]]
        elif (
            known is not None
            and known[1]  # "[A,B]" → "[A,B,C]": "[A,B" + "," + "C]"
            and known[0].endswith("]")
            and len(text) > len(known[0])
            and text[len(known[0]) - 1] == ","
            and text.startswith(known[0][:-1])
        ):
            added = self._entries(json.loads("[" + text[len(known[0]) :]))
            events = [*known[1], *added] if added else self._entries(json.loads(text))  # "[A,]": not JSON
        else:
            events = self._entries(json.loads(text))
        if id is not None:
            if len(self._histories) >= self.HISTORIES_SIZE:
                self._histories.clear()
            self._histories[id] = (text, tuple(events))
        return events

    def _entries(self, items: Any) -> list[Event]:
        """Parsed history entries (validated once each, see ``_entries_seen``)."""
        if type(items) is not list:
            raise ValueError("events is not a list")
        seen = self._entries_seen
        out = []
        for item in items:
            at, status, reason = item.get("at"), item.get("status"), item.get("reason")
            if type(at) is not str or type(status) is not str or not (reason is None or type(reason) is str):
                out.append(Event.model_validate(item))  # not as written here: validate, don't cache
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
        """A row as this module writes it, turned into a Job without validating it field by field.

        Every value is type-checked exactly (``type(x) is int``, a known status, a 24-digit id,
        JSON that decodes to a dict, events that validate), and the result equals what
        ``Job.from_doc(row_to_doc(row))`` returns; anything unexpected returns None so that
        path decides (and flags a malformed row). Pydantic validation of every field costs
        several times more, and the hot path parses each job after each of its writes. The
        code is written from the field table at import (:mod:`.rowcode`).
        """
        return rowcode.fast_job(self, values)

    # -- writing ----------------------------------------------------------------------

    def insert_values(self, job: Job, lock: bool) -> list[Any]:
        """A new job's values for ``INSERT_COLUMNS``: every field as its column holds it, and
        the lock (with ``lock``: the job takes its name and label's). Written from the field
        table at import (:mod:`.rowcode`)."""
        return rowcode.insert_values(self, job, lock)

    def append_args(self, event: Event) -> tuple[Any, ...]:
        """The parameters of ``writes.APPEND`` for ``event``."""
        encoded = json.dumps(self.event_entry(event))
        return (MAX_EVENTS, encoded, encoded)

    def event_entry(self, event: Event) -> dict[str, Any]:
        """The stored form of an event about to be written; the event itself is what reading
        that entry back validates to, so it goes into the cache of validated entries."""
        entry = {"at": event.at.isoformat(), "status": str(event.status), "reason": event.reason}
        if type(event) is Event and type(event.status) is str and type(event.reason) is str:
            if len(self._entries_seen) >= self.EVENTS_SIZE:
                self._entries_seen.clear()
            self._entries_seen[(entry["at"], entry["status"], entry["reason"])] = event
        return entry


def _written_key(values: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    """A returned row's (id, status, attempts)."""
    return values[_ID], values[_STATUS], values[_ATTEMPTS]
