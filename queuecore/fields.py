"""The stored fields of a job, in one table: attribute, stored key, kind, default.

Everything that lists a job's fields is driven from :data:`FIELDS`: the model
(:class:`queuecore.job.Job` takes each field's alias and default from here), ``Job.salvage``
(what a malformed document still shows), the stored keys updates write
(:class:`~queuecore.store.changes.Changes`), SQLite's columns and row codec, and the CLI's
JSON and ``show``. MongoDB stores the model's aliases as they are, so its documents follow.

The keys are those the Go original (fire/axe) writes, so its collections read as they are;
the additions of this port (``events``, ``worker``, ``progress``, ``note``,
``cancel_reason``, ``heartbeat_at``, ``trace``) have a default, so documents and rows
written before them still read. A field added later must have one too (SQLite adds its
column to an existing table, a MongoDB document without it reads as the default).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What a field holds, which decides how each engine stores it and how it is shown."""

    #: The job's ObjectId (``_id``; SQLite: 24 hex digits, the primary key ``id``).
    ID = "id"
    #: Text (a NULL stored where a default exists reads as that default).
    TEXT = "text"
    #: One of :class:`~queuecore.job.Status` (stored as its value).
    STATUS = "status"
    #: A UTC time (a BSON date; SQLite: epoch milliseconds).
    TIME = "time"
    #: An integer.
    INT = "int"
    #: A float.
    FLOAT = "float"
    #: A JSON object (a BSON document; SQLite: JSON text).
    OBJECT = "object"
    #: The bounded history, a list of ``{at, status, reason}`` (SQLite: JSON text).
    EVENTS = "events"


#: SQLite's column type per kind.
SQL_TYPES: dict[Kind, str] = {
    Kind.ID: "TEXT",
    Kind.TEXT: "TEXT",
    Kind.STATUS: "TEXT",
    Kind.TIME: "INTEGER",
    Kind.INT: "INTEGER",
    Kind.FLOAT: "REAL",
    Kind.OBJECT: "TEXT",
    Kind.EVENTS: "TEXT",
}


class _Required:
    """The default of a field that has none: a document must hold it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored field of a job.

    ``attr``: the :class:`~queuecore.job.Job` attribute; ``key``: the stored key (MongoDB's
    field, the model's alias); ``default``: what a document without it reads as
    (:data:`REQUIRED`: none, it must be there; None: the field is nullable); ``factory``
    instead for an empty container; ``salvage``: kept from a document that is not a valid
    job when it has the right type (``Job.salvage``; the others show their default there);
    ``column``: SQLite's column, when it is not ``key``.
    """

    attr: str
    key: str
    kind: Kind
    default: Any = REQUIRED
    factory: Callable[[], Any] | None = None
    salvage: bool = False
    column: str = ""

    @property
    def required(self) -> bool:
        """Whether a stored job must hold this field (it has no default)."""
        return self.default is REQUIRED and self.factory is None

    @property
    def nullable(self) -> bool:
        """Whether None is a value of this field (its default)."""
        return self.default is None

    @property
    def sql_column(self) -> str:
        """The SQLite column's name."""
        return self.column or self.key

    def empty(self) -> Any:
        """The default value (a new container for ``factory``); raises for a required field."""
        if self.factory is not None:
            return self.factory()
        if self.required:
            raise ValueError(f"the job field {self.attr!r} has no default")
        return self.default

    def sql(self) -> str:
        """The column's definition in SQLite's ``CREATE TABLE``."""
        text = f"{self.sql_column} {SQL_TYPES[self.kind]}"
        if self.kind is Kind.ID:
            return f"{text} PRIMARY KEY"
        if self.nullable:
            return text
        text += " NOT NULL"
        if self.required:
            return text
        value = self.empty()
        if isinstance(value, dict | list):
            value = json.dumps(value)
        if isinstance(value, str):
            quoted = value.replace("'", "''")
            return f"{text} DEFAULT '{quoted}'"
        return f"{text} DEFAULT {value!r}"


#: Every stored field, in the model's order (SQLite's columns, the CLI's JSON and ``show``).
FIELDS: tuple[Stored, ...] = (
    Stored("id", "_id", Kind.ID, salvage=True, column="id"),
    Stored("name", "name", Kind.TEXT, salvage=True),
    Stored("label", "label", Kind.TEXT, default="", salvage=True),
    Stored("data", "data", Kind.OBJECT, factory=dict, salvage=True),
    Stored("status", "status", Kind.STATUS, salvage=True),
    Stored("created", "created_at", Kind.TIME, salvage=True),
    Stored("available", "available_at", Kind.TIME, salvage=True),
    Stored("started", "started_at", Kind.TIME, default=None, salvage=True),
    Stored("ended", "ended_at", Kind.TIME, default=None, salvage=True),
    Stored("finished", "finished_at", Kind.TIME, default=None, salvage=True),
    Stored("attempts", "attempts", Kind.INT, default=0, salvage=True),
    Stored("result", "result", Kind.OBJECT, default=None),
    Stored("reason", "reason", Kind.TEXT, default="", salvage=True),
    # the additions of this port
    Stored("events", "events", Kind.EVENTS, factory=list),
    Stored("worker", "worker", Kind.TEXT, default=""),
    Stored("progress", "progress", Kind.FLOAT, default=None),
    Stored("note", "note", Kind.TEXT, default=""),
    Stored("cancel_reason", "cancel_reason", Kind.TEXT, default=None),
    Stored("heartbeat", "heartbeat_at", Kind.TIME, default=None),
    Stored("trace", "trace", Kind.TEXT, default=None),
)

#: The fields by attribute.
BY_ATTR: dict[str, Stored] = {f.attr: f for f in FIELDS}


def stored_key(attr: str) -> str:
    """The stored key of the job attribute ``attr`` (``ended`` → ``ended_at``)."""
    return BY_ATTR[attr].key


def of_kind(*kinds: Kind) -> tuple[Stored, ...]:
    """The fields of these kinds, in order."""
    return tuple(f for f in FIELDS if f.kind in kinds)


__all__ = ["BY_ATTR", "FIELDS", "REQUIRED", "SQL_TYPES", "Kind", "Stored", "of_kind", "stored_key"]
