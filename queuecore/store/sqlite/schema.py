"""The SQLite store's tables, triggers and indexes, and the settings kept in its file.

The DDL is in ``schema.sql`` and ``indexes.sql`` (package data), written for one collection
with ``{t}`` for its table name; the name is checked (:func:`check_name`) before it is put in,
since a table name cannot be a bound parameter. The jobs table's columns are the job's stored
fields (:data:`queuecore.fields.FIELDS`, :func:`columns`); a table made before a field was
added gets its column when a store opens it (every field but the required ones has a default).
"""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from importlib import resources

from ...fields import FIELDS

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SCHEMA = resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")
_INDEXES = resources.files(__package__).joinpath("indexes.sql").read_text(encoding="utf-8")


def check_name(collection: str) -> None:
    """Raise ValueError unless ``collection`` can name the store's tables."""
    if not _NAME.match(collection):
        raise ValueError(f"invalid collection name {collection!r}: use letters, digits and underscores")


def columns() -> str:
    """The jobs table's column definitions, one per stored field (``{columns}`` in schema.sql)."""
    return ",\n    ".join(f.sql() for f in FIELDS)


def create(conn: sqlite3.Connection, table: str) -> None:
    """Create the collection's tables, triggers and indexes where missing (not in a
    transaction: the script commits as it goes), and add to a jobs table the columns of fields
    added since it was made. A table of that name that is not a jobs table (another
    program's: a wrong file or ``--collection``; it lacks a column every job has) is refused
    before anything is created, since the change-feed triggers would break every insert into it."""
    existing = _columns(conn, table)
    needed = [*(f.sql_column for f in FIELDS if f.required), "lock"]
    missing = [c for c in needed if c not in existing]
    if existing and missing:
        raise sqlite3.DatabaseError(
            f"table {table!r} is not a queuecore jobs table (it has no column {', '.join(missing[:3])}"
            + (", …)" if len(missing) > 3 else ")")
        )
    if existing and any(f.sql_column not in existing for f in FIELDS):
        _add_columns(conn, table)
    conn.executescript(_for(_SCHEMA, table))
    # The label guarantee: a unique lock. Only labeled active jobs have one, so the index
    # holds only them (an unlabeled job's writes never touch it). Tables made by earlier
    # versions have a UNIQUE column constraint instead, which does the same.
    unique = [
        row[1]
        for row in conn.execute(f"PRAGMA index_list({table})")
        if row[2] and [c[2] for c in conn.execute(f"PRAGMA index_info({row[1]})")] == ["lock"]
    ]
    if not unique:
        conn.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_lock ON {table} (lock) WHERE lock IS NOT NULL"
        )


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _add_columns(conn: sqlite3.Connection, table: str) -> None:
    """Add the columns of the fields a jobs table lacks (each with its default: existing rows
    read as jobs without that field), in one write transaction, looking again inside it (so
    two stores opening the file at once add each column once)."""
    check_name(table)
    conn.execute("BEGIN IMMEDIATE")
    try:
        existing = _columns(conn, table)
        for f in FIELDS:
            if f.sql_column not in existing:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {f.sql()}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def ensure_indexes(conn: sqlite3.Connection, table: str, remove_after: timedelta | None) -> None:
    """``queuecore.ensure_indexes``: the indexes, and the retention recorded in the file (so
    every store opening it purges, and dashboards show it). Runs inside a write transaction."""
    for statement in _statements(_for(_INDEXES, table)):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO queuecore_meta (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (f"{table}.remove_after", str(remove_after.total_seconds()) if remove_after else ""),
    )


def read_retention(conn: sqlite3.Connection, table: str) -> float | None:
    """The retention recorded by :func:`ensure_indexes`, in seconds (None: none)."""
    key = f"{table}.remove_after"
    row = conn.execute("SELECT value FROM queuecore_meta WHERE key = ?", (key,)).fetchone()
    return float(row[0]) if row and row[0] else None


def _for(script: str, table: str) -> str:
    """``script`` for the collection ``table`` (checked by :func:`check_name`)."""
    check_name(table)
    return script.replace("{t}", table).replace("{columns}", columns())


def _statements(script: str) -> list[str]:
    """The statements of a script, one by one (``executescript`` would commit the
    transaction the caller is in)."""
    out, pending = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    return out
