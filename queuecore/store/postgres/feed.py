"""The PostgreSQL change feed: ``watch()`` reads ``<table>_changes``, woken by LISTEN/NOTIFY.

Statement triggers (``schema.sql``) write every insert, update and delete of a job into the
feed and notify the channel ``<table>_changes`` (once per transaction). A watcher listens on a
connection of its own and reads the rows after its position on each notification — and every
``poll_interval`` seconds in any case, so nothing depends on a notification arriving.

Sequence numbers are taken when a row is written, not when its transaction commits: a
transaction may commit a lower number after a higher one was read. So the position is the
highest number read *and* the transactions that were still running then (the snapshot's
``xip``): the next read takes the rows after that number and the rows of those transactions
(their earlier numbers), whichever committed meanwhile. Nothing committed is ever passed over,
however transactions interleave.

A lost connection is reopened with backoff (``store.mode`` is ``reconnecting`` meanwhile) and
the watcher goes on from its position: no transition is missed. The feed keeps the newest
``FEED_KEEP`` rows; a watcher whose position was trimmed away yields ``reset`` and goes on
from the newest row.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from ...backoff import backoff
from ...job import Change, Job
from ..base import MODE_RECONNECTING, parse_id
from .codec import JOINED
from .connect import connect_kwargs

if TYPE_CHECKING:
    from .store import PostgresStore

#: What ``store.mode`` says while a watcher is connected.
MODE_LISTEN_NOTIFY = "listen/notify"
#: Keep at most this many rows in the change feed (older ones are trimmed).
FEED_KEEP = 50_000
#: Rows read by one poll; a full batch is followed by the next one at once.
BATCH = 1000


@dataclass
class Position:
    """Where a watcher is: the highest sequence number read, and the transactions running at
    that read (rows of theirs may have lower numbers and commit later)."""

    seq: int = 0
    pending: list[int] = field(default_factory=list)


def read_sql(table: str) -> str:
    """The rows after a position (parameters: seq, limit, pending, seq, the trimmed key), each
    with the job as it is now, and the running transactions and the trimmed mark of the same
    snapshot (on every row; one row with NULLs when there is nothing new)."""
    return (
        "WITH s AS MATERIALIZED (SELECT ARRAY(SELECT x::text::bigint FROM"
        " pg_snapshot_xip(pg_current_snapshot()) x) AS xip),"
        f' c AS ((SELECT seq, op, id FROM "{table}_changes" WHERE seq > %s ORDER BY seq LIMIT %s)'
        f' UNION ALL (SELECT seq, op, id FROM "{table}_changes" WHERE xid = ANY(%s) AND seq <= %s))'
        " SELECT s.xip, (SELECT value FROM queuecore_meta WHERE key = %s), c.seq, c.op, c.id,"
        f' {JOINED} FROM s LEFT JOIN (c LEFT JOIN "{table}" j ON j.id = c.id) ON true ORDER BY c.seq'
    )


def trim_sql(table: str) -> str:
    """Delete all but the newest ``FEED_KEEP`` rows (of finished transactions), and record the
    highest number deleted under ``<table>.trimmed``: a watcher behind it resets."""
    return (
        f'WITH gone AS (DELETE FROM "{table}_changes"'
        f' WHERE seq <= (SELECT max(seq) FROM "{table}_changes") - %s'
        " AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint RETURNING seq)"
        " INSERT INTO queuecore_meta (key, value) SELECT %s, max(seq)::text FROM gone HAVING count(*) > 0"
        " ON CONFLICT (key) DO UPDATE SET value = GREATEST(queuecore_meta.value::bigint,"
        " excluded.value::bigint)::text"
    )


async def watch(store: PostgresStore) -> AsyncIterator[Change]:
    """Change events of ``store``'s table (see the module); the first is ``reset``."""
    table = store.collection
    sql = read_sql(table)
    trimmed_key = f"{table}.trimmed"
    position: Position | None = None
    failures = 0
    conn: psycopg.AsyncConnection[Any] | None = None
    idle = False  # the last read found everything: wait for a notification first
    try:
        while True:
            try:
                if idle and conn is not None and not conn.closed:
                    await _wait(conn, store.poll_interval)
                idle = False
                if conn is None or conn.closed:
                    conn = await _listen(store)
                    store._mode = MODE_LISTEN_NOTIFY
                if position is None:
                    position = await _newest(conn, table)
                    yield Change("reset")
                rows, lost = await _read(conn, sql, position, trimmed_key)
                failures = 0
            except (psycopg.Error, OSError):  # a lost connection (or a dropped table): again, later
                store._mode = MODE_RECONNECTING
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                conn = None
                delay = backoff(0.1, 10, 2, failures).total_seconds()
                failures += 1
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                continue
            if lost:
                position = None
                continue
            parsed: dict[str, tuple[tuple[Any, ...], Job]] = {}
            for row in rows:
                yield _change(row, parsed, store)
            idle = len(rows) < BATCH
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


async def _listen(store: PostgresStore) -> psycopg.AsyncConnection[Any]:
    """A connection of the watcher's own, listening on the table's channel."""
    uri = store.conninfo
    conn = await psycopg.AsyncConnection.connect(uri, **connect_kwargs(uri, store.timeout))
    await conn.execute(f'LISTEN "{store.collection}_changes"')
    return conn


async def _newest(conn: psycopg.AsyncConnection[Any], table: str) -> Position:
    """The position after every committed row, and after the trimmed ones (the running
    transactions' rows still to come)."""
    cur = await conn.execute(
        "SELECT GREATEST(COALESCE(max(seq), 0),"
        " COALESCE((SELECT value::bigint FROM queuecore_meta WHERE key = %s), 0)),"
        " ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) x)"
        f' FROM "{table}_changes"',
        [f"{table}.trimmed"],
    )
    row = await cur.fetchone()
    assert row is not None
    return Position(int(row[0]), list(row[1]))


async def _read(
    conn: psycopg.AsyncConnection[Any], sql: str, position: Position, trimmed_key: str
) -> tuple[list[tuple[Any, ...]], bool]:
    """The rows after ``position`` (which moves past them), and whether history was lost."""
    cur = await conn.execute(sql, [position.seq, BATCH, position.pending, position.seq, trimmed_key])
    rows = await cur.fetchall()
    before = position.seq
    xip, trimmed = rows[0][0], rows[0][1]
    changes = [r[2:] for r in rows if r[2] is not None]
    if trimmed is not None and int(trimmed) > before:
        return [], True
    if changes:
        position.seq = max(position.seq, max(int(r[0]) for r in changes))
    position.pending = list(xip)
    return changes, False


async def _wait(conn: psycopg.AsyncConnection[Any], interval: float) -> None:
    """Until a notification arrives (or one arrived during the read), at most ``interval`` s."""
    async for _ in conn.notifies(timeout=interval, stop_after=1):
        break


def _change(
    row: tuple[Any, ...], parsed: dict[str, tuple[tuple[Any, ...], Job]], store: PostgresStore
) -> Change:
    """A feed row (``seq, op, id`` and the job's ``COLUMNS``) as a Change; several changes of
    one job in one read carry the same row, parsed once."""
    cid = row[2]
    oid = parse_id(cid)
    values = tuple(row[3:])
    if row[1] == "delete" or values[0] is None:
        return Change("delete", oid)
    known = parsed.get(cid)
    if known is not None and known[0] == values:
        job = known[1]
    else:
        job = store.codec.to_job(values)
        parsed[cid] = (values, job)
    return Change("insert" if row[1] == "insert" else "update", oid, job)
