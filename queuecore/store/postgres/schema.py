"""The PostgreSQL store's tables, created on open and migrated forward by version.

A collection's DDL is in ``schema.sql`` (version 1) and ``indexes.sql`` (package data),
written with ``{t}`` for its name, checked (:func:`check_name`) before it is put in since a
table name cannot be a bound parameter. ``queuecore_schema`` records each collection's
version; :data:`MIGRATIONS` lists the scripts in order, and opening a store runs those past
its version, under an advisory lock (two processes opening a new collection at once would
otherwise race in ``CREATE TABLE IF NOT EXISTS``). ``queuecore_meta`` keeps settings per
collection: ``<collection>.remove_after`` (the retention, seconds), ``<collection>.trimmed``
(the change feed's last trimmed row). A stored field added to :data:`queuecore.fields.FIELDS`
since a table was made gets its column when a store opens it (with the field's default).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from importlib import resources
from typing import Any

import psycopg

from ...fields import FIELDS, Stored
from .codec import PG_TYPES

#: The scripts of each version, in order: a collection at version n has run the first n.
MIGRATIONS = ("schema.sql",)
VERSION = len(MIGRATIONS)
#: The name's longest form: ``<name>_changes_xid`` must fit PostgreSQL's 63-byte identifiers.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
_SHARED = """
CREATE TABLE IF NOT EXISTS queuecore_schema (collection text PRIMARY KEY, version integer NOT NULL);
CREATE TABLE IF NOT EXISTS queuecore_meta (key text PRIMARY KEY, value text);
"""
#: The key of the advisory lock held while a schema is created or migrated.
_LOCK = "queuecore.schema"


def _script(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def check_name(collection: str) -> None:
    """Raise ValueError unless ``collection`` can name the store's tables."""
    if not _NAME.match(collection):
        raise ValueError(
            f"invalid collection name {collection!r}: use letters, digits and underscores (at most 50)"
        )


def _for(script: str, table: str) -> str:
    check_name(table)
    return script.replace("{t}", table)


async def version(conn: psycopg.AsyncConnection[Any], table: str) -> int | None:
    """The collection's schema version; None when it has no jobs table."""
    cur = await conn.execute(
        "SELECT to_regclass('queuecore_schema') IS NOT NULL, to_regclass(%s) IS NOT NULL", [f'"{table}"']
    )
    row = await cur.fetchone()
    assert row is not None
    registry, exists = row
    if not exists:
        return None
    if registry:
        cur = await conn.execute("SELECT version FROM queuecore_schema WHERE collection = %s", [table])
        found = await cur.fetchone()
        if found is not None:
            return int(found[0])
    return 0


async def migrate(conn: psycopg.AsyncConnection[Any], table: str) -> None:
    """Create the collection's tables, or bring them to :data:`VERSION`. A table of that name
    that is not a jobs table (another program's) is refused before anything is changed."""
    check_name(table)
    if await version(conn, table) == VERSION and not await missing_columns(conn, table):
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [_LOCK])
        await conn.execute(_SHARED)
        current = await version(conn, table)
        if current == 0:  # a table of that name no migration made
            cur = await conn.execute(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = %s AND column_name IN ('id', 'name', 'status', 'locked')",
                [table],
            )
            row = await cur.fetchone()
            if row is None or row[0] < 4:
                raise psycopg.errors.DuplicateTable(f"table {table!r} is not a queuecore jobs table")
        for script in MIGRATIONS[current or 0 :]:
            await conn.execute(_for(_script(script), table))
        for field in await missing_columns(conn, table):  # a field added since the table was made
            await conn.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS {column_sql(field)}')
        await conn.execute(
            "INSERT INTO queuecore_schema (collection, version) VALUES (%s, %s)"
            " ON CONFLICT (collection) DO UPDATE SET version = excluded.version",
            [table, VERSION],
        )


async def missing_columns(conn: psycopg.AsyncConnection[Any], table: str) -> list[Stored]:
    """The stored fields (:data:`queuecore.fields.FIELDS`) the table has no column for."""
    cur = await conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        [table],
    )
    existing = {row[0] for row in await cur.fetchall()}
    return [f for f in FIELDS if f.sql_column not in existing]


def column_sql(field: Stored) -> str:
    """A field's column definition (``ALTER TABLE … ADD COLUMN``): its type, and its default."""
    text = f"{field.sql_column} {PG_TYPES[field.kind]}"
    if field.nullable or field.required:
        return text
    value = field.empty()
    if isinstance(value, dict | list):
        return f"{text} NOT NULL DEFAULT '{json.dumps(value)}'"
    if isinstance(value, str):
        quoted = value.replace("'", "''")
        return f"{text} NOT NULL DEFAULT '{quoted}'"
    return f"{text} DEFAULT {value!r}"


async def ensure_indexes(
    conn: psycopg.AsyncConnection[Any], table: str, remove_after: timedelta | None
) -> None:
    """``queuecore.ensure_indexes``: the indexes, and the retention recorded in the database
    (so every store opening the collection purges, and dashboards show it)."""
    async with conn.transaction():
        await conn.execute(_for(_script("indexes.sql"), table))
        await set_meta(
            conn, f"{table}.remove_after", str(remove_after.total_seconds()) if remove_after else ""
        )


async def set_meta(conn: psycopg.AsyncConnection[Any], key: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO queuecore_meta (key, value) VALUES (%s, %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


async def read_retention(conn: psycopg.AsyncConnection[Any], table: str) -> float | None:
    """The retention recorded by :func:`ensure_indexes`, in seconds (None: none)."""
    cur = await conn.execute("SELECT value FROM queuecore_meta WHERE key = %s", [f"{table}.remove_after"])
    row = await cur.fetchone()
    return float(row[0]) if row and row[0] else None


def drop_sql(table: str) -> str:
    """Everything of one collection, removed (tests and tools)."""
    check_name(table)
    return (
        f'DROP TABLE IF EXISTS "{table}", "{table}_changes", "{table}_audit" CASCADE;'
        f' DROP FUNCTION IF EXISTS "{table}_feed"(), "{table}_period"();'
        f" DELETE FROM queuecore_schema WHERE collection = '{table}';"
        f" DELETE FROM queuecore_meta WHERE key LIKE '{table}.%'"
    )
