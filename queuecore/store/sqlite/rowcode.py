"""The SQLite codec's two hot functions, written from the field table once, at import.

Every job is parsed after each of its writes (and again by the change feed), so reading a
row must cost as little as straight-line code: a loop over :data:`queuecore.fields.FIELDS`
per row (type checks, conversions by kind) measured 10-15 % slower than the hand-written
parser it replaced. So that code is written here from the table — one exact type check and
one conversion per field, by its kind — and compiled once; adding a field to the table adds
its lines. :data:`SOURCE` is the code, to read (``python -c "from queuecore.store.sqlite
import rowcode; print(rowcode.SOURCE)"``).

- ``fast_job(codec, values)``: a row of ``COLUMNS`` (the fields, then the lock) as the Job it
  holds when every value is exactly what this engine writes, else None (``Codec.fast_job``).
- ``insert_values(codec, job, lock)``: a new job's values for every column
  (``Codec.insert_values``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from bson import ObjectId

from ..._time import from_ms, to_ms
from ...fields import FIELDS, Kind, Stored
from ...job import MAX_DEPTH, Job, Status, too_deep
from ..common import lock_key

#: The exact Python type of each kind's column value, as this engine writes it.
TYPES: dict[Kind, str] = {
    Kind.ID: "str",
    Kind.TEXT: "str",
    Kind.STATUS: "str",
    Kind.TIME: "int",
    Kind.INT: "int",
    Kind.FLOAT: "float",
    Kind.OBJECT: "str",
    Kind.EVENTS: "str",
}
#: A stored value (``{}``) as the job's: ``{}`` as a Python expression on the column's value.
_READ: dict[Kind, str] = {
    Kind.ID: "ObjectId({})",
    Kind.STATUS: "state",  # looked up (and checked) before
    Kind.TIME: "from_ms({})",
    Kind.OBJECT: "json.loads({})",
    Kind.EVENTS: "codec.events({}, {id})",
}
#: A job's value (``{}``) as its column holds it.
_WRITE: dict[Kind, str] = {
    Kind.ID: "str({})",
    Kind.STATUS: "{}.value",
    Kind.TIME: "to_ms({})",
    Kind.OBJECT: "json.dumps({}, default=str)",
    Kind.EVENTS: "json.dumps([codec.event_entry(e) for e in {}])",
}
STATUSES: dict[str, Status] = {s.value: s for s in Status}


def _raw(f: Stored) -> str:
    return f"r_{f.sql_column}"


def _check(f: Stored) -> str:
    """The exact type check of a column's value."""
    test = f"type({_raw(f)}) is {TYPES[f.kind]}"
    if f.kind is Kind.ID:
        test += f" and len({_raw(f)}) == 24"
    return f"({_raw(f)} is None or {test})" if f.nullable else test


def _read(f: Stored, id_column: str) -> str:
    """The expression giving the job's value of ``f`` from its column's."""
    template = _READ.get(f.kind, "{}")
    value = template.replace("{id}", id_column).format(_raw(f))
    return f"None if {_raw(f)} is None else {value}" if f.nullable and value != _raw(f) else value


def _write(f: Stored) -> str:
    """The expression giving the column's value of ``f`` from the job's."""
    template = _WRITE.get(f.kind)
    if template is None:
        return f"job.{f.attr}"
    if f.nullable:
        return f"(None if (v := job.{f.attr}) is None else {template.format('v')})"
    return template.format(f"job.{f.attr}")


def source(fields: Sequence[Stored] = FIELDS) -> str:
    """The code of ``fast_job`` and ``insert_values`` for these fields (see the module)."""
    for f in fields:
        if not (f.attr.isidentifier() and f.sql_column.isidentifier()):
            raise ValueError(f"a job field needs identifiers for its attribute and column: {f}")
    [ident] = [f for f in fields if f.kind is Kind.ID]
    [status] = [f for f in fields if f.kind is Kind.STATUS]
    objects = [f for f in fields if f.kind is Kind.OBJECT]
    converted = [f for f in fields if f.kind in _READ and f.kind is not Kind.STATUS]
    lines = [
        "def fast_job(codec, values):",
        f"    ({', '.join(_raw(f) for f in fields)}, _lock) = values",
        "    if not (",
        "        " + "\n        and ".join(_check(f) for f in fields),
        "    ):",
        "        return None",
        f"    state = STATUSES.get({_raw(status)})",
        "    if state is None:",
        "        return None",
        "    try:",
        *(f"        v_{f.attr} = {_read(f, _raw(ident))}" for f in converted),
        "    except Exception:  # whatever it is, the validating path reports it",
        "        return None",
    ]
    for f in objects:
        raw, value = _raw(f), f"v_{f.attr}"
        maybe = f"{raw} is not None and " if f.nullable else ""
        lines += [
            f"    if {f'{value} is not None and ' if f.nullable else ''}type({value}) is not dict:",
            "        return None",
            "    # only text with more brackets than the limit can be nested that deep: look closer",
            f"    if {maybe}{raw}.count('{{') + {raw}.count('[') > MAX_DEPTH and too_deep({value}):",
            "        return None",
        ]
    values = (f"{f.attr}=v_{f.attr}" if f in converted else f"{f.attr}={_read(f, '')}" for f in fields)
    lines += [
        "    return Job.trusted(",
        *(f"        {value}," for value in values),
        "        malformed=None,",
        "    )",
        "",
        "",
        "def insert_values(codec, job, lock):",
        "    return [",
        *(f"        {_write(f)}," for f in fields),
        "        lock_key(job.name, job.label) if lock else None,",
        "    ]",
    ]
    return "\n".join(lines) + "\n"


#: The code of this table's functions (see the module).
SOURCE = source()

_NAMES: dict[str, Any] = {
    "json": json,
    "ObjectId": ObjectId,
    "from_ms": from_ms,
    "to_ms": to_ms,
    "Job": Job,
    "STATUSES": STATUSES,
    "MAX_DEPTH": MAX_DEPTH,
    "too_deep": too_deep,
    "lock_key": lock_key,
}
exec(compile(SOURCE, f"<{__name__}.SOURCE>", "exec"), _NAMES)

#: A row as its Job, or None unless it is exactly what this engine writes.
fast_job: Callable[[Any, Sequence[Any]], Job | None] = _NAMES["fast_job"]
#: A new job's values for every column (the lock's from ``lock``: whether it takes it).
insert_values: Callable[[Any, Job, bool], list[Any]] = _NAMES["insert_values"]

__all__ = ["SOURCE", "STATUSES", "TYPES", "fast_job", "insert_values", "source"]
