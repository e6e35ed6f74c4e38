"""``store.counts()`` on PostgreSQL: jobs per status, and per running/stalled.

Exact counts are one ``GROUP BY`` statement (one snapshot). With a ``cap``, the planner's
estimate of the table's size decides (``EXPLAIN``: the current number of pages and the
statistics' density, no scan): above the cap each count stops there (``Counts.capped`` names
those that reached it), each an index range scan of at most ``cap`` rows, and the status
values other programs wrote are found by range scans of the status index around the five
known ones. ``running``/``stalled`` are :func:`queuecore.status.derived_status` translated.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

import psycopg

from ...job import Status
from ...status import RUNNING, STALLED
from ..common import UNKNOWN_STATUSES, Counts, capped_counts, count_limit, exact_counts
from . import text as pgtext
from .filter import RUNNING_SQL, STALLED_SQL


async def read(conn: psycopg.AsyncConnection[Any], table: str, now: datetime, cap: int | None) -> Counts:
    """The counts of ``table`` at ``now``, each at most ``cap`` (None: exact)."""
    if cap is not None and await estimate(conn, table) > cap:
        return await _capped(conn, table, now, count_limit(cap))
    cur = await conn.execute(
        f'SELECT status, count(*), count(*) FILTER (WHERE {STALLED_SQL}) FROM "{table}" GROUP BY status',
        [now],
    )
    rows = await cur.fetchall()
    stalled = sum(n for _, _, n in rows)
    return exact_counts(((pgtext.decode(str(s)), n) for s, n, _ in rows), stalled)


async def estimate(conn: psycopg.AsyncConnection[Any], table: str) -> float:
    """The planner's estimate of the table's rows (no scan)."""
    cur = await conn.execute(f'EXPLAIN (FORMAT JSON) SELECT 1 FROM "{table}"')
    row = await cur.fetchone()
    assert row is not None
    plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return float(plan[0]["Plan"]["Plan Rows"])


async def _capped(conn: psycopg.AsyncConnection[Any], table: str, now: datetime, limit: int) -> Counts:
    async def upto(where: str, *args: Any) -> int:
        sql = f'SELECT count(*) FROM (SELECT 1 FROM "{table}" WHERE {where} LIMIT %s) s'
        cur = await conn.execute(sql, [*args, limit])
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    out = {s.value: await upto("status = %s", s.value) for s in Status}
    out[RUNNING] = await upto(RUNNING_SQL, now)
    out[STALLED] = await upto(STALLED_SQL, now)
    for status in await _unknown_statuses(conn, table):
        out[pgtext.decode(status)] = await upto("status = %s", status)
    return capped_counts(out, limit)


async def _unknown_statuses(conn: psycopg.AsyncConnection[Any], table: str) -> list[str]:
    """Status values other than the five (other programs' rows), by range scans of the index:
    the gaps around the known values are empty in a healthy table, so this costs nothing."""
    known = sorted(s.value for s in Status)
    ranges = [
        ("status < %s", (known[0],)),
        *(("status > %s AND status < %s", pair) for pair in itertools.pairwise(known)),
        ("status > %s", (known[-1],)),
    ]
    found: list[str] = []
    for where, args in ranges:
        sql = f'SELECT DISTINCT status FROM "{table}" WHERE {where} LIMIT {UNKNOWN_STATUSES}'
        cur = await conn.execute(sql, args)
        found.extend(str(r[0]) for r in await cur.fetchall())
    return found[:UNKNOWN_STATUSES]
