"""``store.counts()`` on SQLite: jobs per status, and per running/stalled, in one snapshot.

``running`` and ``stalled`` are :func:`queuecore.status.derived_status` translated (the
conditions of ``status:running``/``status:stalled`` in :mod:`.filter`).

Exact counts are one ``GROUP BY`` over the (status, available_at) index. In a table of more
than ``cap`` rows each count stops at ``cap`` instead (``Counts.capped`` names those that
reached it), and the status values other programs wrote are found by index range scans.
"""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

from ...job import Status
from ...status import RUNNING, STALLED
from ..common import UNKNOWN_STATUSES, Counts, capped_counts, count_limit, exact_counts
from .filter import RUNNING_SQL, STALLED_SQL


def read(conn: sqlite3.Connection, table: str, now: int, cap: int | None) -> Counts:
    """The counts of ``table`` at ``now`` (ms), each at most ``cap`` (None: exact)."""
    conn.execute("BEGIN")  # one read snapshot for every count
    try:
        if cap is not None:
            # rowids only grow: MAX(rowid) bounds the number of rows, in O(log n)
            size = conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()[0]
            if size > cap:
                return _capped(conn, table, now, count_limit(cap))
        return _exact(conn, table, now)
    finally:
        conn.execute("COMMIT")


def _exact(conn: sqlite3.Connection, table: str, now: int) -> Counts:
    rows = conn.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status").fetchall()
    stalled = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {STALLED_SQL}", (now,)).fetchone()[0]
    return exact_counts(((str(status), n) for status, n in rows), stalled)


def _capped(conn: sqlite3.Connection, table: str, now: int, limit: int) -> Counts:
    def upto(where: str, *args: Any) -> int:
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT ?)"
        count: int = conn.execute(sql, (*args, limit)).fetchone()[0]
        return count

    out = {s.value: upto("status = ?", s.value) for s in Status}
    out[RUNNING] = upto(RUNNING_SQL, now)
    out[STALLED] = upto(STALLED_SQL, now)
    for status in _unknown_statuses(conn, table):
        out[status] = upto("status = ?", status)
    return capped_counts(out, limit)


def _unknown_statuses(conn: sqlite3.Connection, table: str) -> list[str]:
    """Status values other than the five (malformed rows), found with index range scans:
    the gaps around the known values are empty in a healthy table, so this costs nothing."""
    known = sorted(s.value for s in Status)
    ranges = [
        ("status < ?", (known[0],)),
        *(("status > ? AND status < ?", pair) for pair in itertools.pairwise(known)),
        ("status > ?", (known[-1],)),
    ]
    found: list[str] = []
    for where, args in ranges:
        sql = f"SELECT DISTINCT status FROM {table} WHERE {where} LIMIT {UNKNOWN_STATUSES}"
        rows = conn.execute(sql, args).fetchall()
        found.extend(str(r[0]) for r in rows)
    return found[:UNKNOWN_STATUSES]
