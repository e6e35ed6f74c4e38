"""``enqueue_many`` on PostgreSQL: one transaction for the whole call, all or nothing.

The jobs without a period go in with one ``INSERT … SELECT FROM unnest(…)`` in their order
(``ON CONFLICT … DO NOTHING`` skips one whose lock a job earlier in the list, or an active one,
holds); those with a period follow one by one, each after the advisory lock of its name and
label (taken for all of them at the start, in one order, so two batches never deadlock).
A failure anywhere rolls the whole call back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from ...fields import FIELDS, Kind
from ...job import Job
from . import writes

#: The array type of each kind's column, for ``unnest`` (JSON passed as text, then cast).
_ARRAYS = {
    Kind.ID: "text",
    Kind.TEXT: "text",
    Kind.STATUS: "text",
    Kind.TIME: "timestamptz",
    Kind.INT: "integer",
    Kind.FLOAT: "float8",
    Kind.OBJECT: "text",
    Kind.EVENTS: "text",
}
#: The array types of ``writes.INSERT_COLUMNS`` (the lock last), and each one's cast.
_TYPES = (*(_ARRAYS[f.kind] for f in FIELDS), "bool")
_CASTS = (*("::jsonb" if f.kind in (Kind.OBJECT, Kind.EVENTS) else "" for f in FIELDS), "")


def unnest_sql(table: str) -> str:
    """The insert of many new jobs from one array per column; returns the ids inserted."""
    names = writes.INSERT_COLUMNS.split(", ")
    arrays = ", ".join(f"%s::{kind}[]" for kind in _TYPES)
    select = ", ".join(f"u.{n}{cast}" for n, cast in zip(names, _CASTS, strict=True))
    return (
        f'INSERT INTO "{table}" ({writes.INSERT_COLUMNS}) SELECT {select}'
        f" FROM unnest({arrays}) WITH ORDINALITY AS u({', '.join(names)}, n) ORDER BY u.n"
        f" ON CONFLICT {writes.lock_target(table)} DO NOTHING RETURNING id"
    )


async def insert_plain(cur: psycopg.AsyncCursor[Any], table: str, rows: Sequence[list[Any]]) -> set[str]:
    """Insert these rows (``Codec.insert_values``) at once; the ids inserted."""
    if not rows:
        return set()
    columns = [list(column) for column in zip(*rows, strict=True)]
    await cur.execute(unnest_sql(table), columns)
    return {str(r[0]) for r in await cur.fetchall()}


async def insert_periodic(
    cur: psycopg.AsyncCursor[Any], table: str, job: Job, values: list[Any], since: datetime
) -> bool:
    """One insert under the period rule (its advisory lock already held)."""
    await cur.execute(writes.periodic_sql(table), writes.period_args(job, values, since))
    return cur.rowcount == 1


async def insert_all(
    conn: psycopg.AsyncConnection[Any],
    table: str,
    items: Sequence[tuple[Job, list[Any]]],
    since: Sequence[datetime | None],
) -> list[bool]:
    """Every item (a job and its insert values) in one transaction; whether each went in."""
    out = [False] * len(items)
    async with conn.transaction(), conn.cursor() as cur:
        periodic = [i for i, at in enumerate(since) if at is not None]
        keys = sorted({writes.period_key(table, items[i][0].name, items[i][0].label) for i in periodic})
        for key in keys:
            await cur.execute(writes.period_lock_sql(), [key])
        plain = [i for i, at in enumerate(since) if at is None]
        inserted = await insert_plain(cur, table, [items[i][1] for i in plain])
        for i in plain:
            out[i] = str(items[i][0].id) in inserted
        for i in periodic:
            at = since[i]
            assert at is not None
            out[i] = await insert_periodic(cur, table, items[i][0], items[i][1], at)
    return out
