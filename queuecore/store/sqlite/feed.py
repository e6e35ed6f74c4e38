"""The SQLite store's change feed: ``watch()`` tails the ``<table>_changes`` table.

Triggers (``schema.sql``) write every insert, update and delete of a job into the feed, in
commit order, so a watcher sees the writes of other processes too. A watcher reads it by
sequence number on a connection and a thread of its own (:class:`Tail`):

- a write of this process wakes its watchers at once (:meth:`Feed.wake`), and a woken
  watcher reads the few newest rows right on the event loop's thread, like the write itself
  (:meth:`Tail.read_here`), unless that would wait;
- other processes' writes are noticed within ``feed_interval`` seconds, by a cheap
  ``PRAGMA data_version`` check on the watcher's thread;
- the feed keeps the newest ``FEED_KEEP`` rows (:func:`trim`); a watcher left further behind
  (or finding a gap after its position) yields ``reset`` and goes on from the newest row.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ...job import Change, Job
from ..base import parse_id
from . import file as dbfile
from .codec import FEED_SELECT, Codec
from .decode import tolerant
from .executor import SQLThread

#: Keep at most this many rows in the change feed (older ones are trimmed).
FEED_KEEP = 50_000
#: At most this many change-feed rows are deleted by one trim.
TRIM_CHUNK = 20_000
#: Rows read by one poll; a full batch is followed by the next one at once.
BATCH = 1000
#: Rows read at most on the event loop's thread after a write of this process (a bulk
#: write's backlog is read on the feed's thread: read here it held keys and frames ~60 ms).
HERE = 100
#: A position from which the feed's history is lost (trimmed): the watcher resets.
LOST = -1

#: Rows read by a poll (``_seq, _op, _cid`` and the job's ``COLUMNS``), and the new position.
Rows = tuple[list[sqlite3.Row], int]


def trim(conn: sqlite3.Connection, table: str) -> None:
    """Delete all but the newest FEED_KEEP rows of the change feed (a watcher further behind
    resets), at most ``TRIM_CHUNK`` of the oldest per call: a long backlog (a file from before
    trimming) goes over several calls instead of holding the write lock for one long delete."""
    conn.execute(
        f"DELETE FROM {table}_changes WHERE seq <= min("
        f"(SELECT MAX(seq) FROM {table}_changes) - ?, (SELECT MIN(seq) FROM {table}_changes) + ?)",
        (FEED_KEEP, TRIM_CHUNK),
    )


class Feed:
    """One store's side of its change feed: its watchers (:meth:`watch`), woken by its writes
    (:meth:`wake`), and the pacing of trims (:meth:`trim_due`)."""

    def __init__(self, table: str, file: dbfile.StoreFile, codec: Codec) -> None:
        self._t = table
        self._file = file
        self._codec = codec
        #: Each watcher's waker, with the event loop it waits on.
        self.wakers: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        self._writes = 0  # rows written since the last trim

    def wake(self) -> None:
        """Wake every watcher of this store: a write of this process is in the feed."""
        here = asyncio.get_running_loop()
        for waker, loop in list(self.wakers.items()):  # a copy: another loop's thread may change it
            if loop is here:
                waker.set()
            else:  # an asyncio.Event is not thread-safe: set it on its own loop
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(waker.set)

    def trim_due(self, rows: int) -> bool:
        """Count ``rows`` written; True once every ``FEED_KEEP // 10`` rows (without a retention
        nothing else trims the feed)."""
        self._writes += rows
        if self._writes < max(1, FEED_KEEP // 10):
            return False
        self._writes = 0
        return True

    async def watch(
        self,
        connect: Callable[[], sqlite3.Connection],
        interval: Callable[[], float],
        here: Callable[[], bool] = lambda: True,
    ) -> AsyncIterator[Change]:
        """Tail the feed on a connection from ``connect``; first yields ``reset``. ``interval``:
        the seconds between two looks for other processes' writes (read at each wait);
        ``here()``: whether a read after this process's write may run on the loop's thread."""
        executor = SQLThread("queuecore-feed")
        waker = asyncio.Event()
        self.wakers[waker] = asyncio.get_running_loop()
        tail: Tail | None = None
        try:
            tail = Tail(await executor.run(connect), self._file, self._t)
            seq = await executor.run(tail.position)
            yield Change("reset")
            version = -1  # PRAGMA data_version at the last look
            local = False  # woken by a write of this process
            while True:
                waker.clear()
                rows, new_seq, limit = await self._next(tail, executor, seq, local and here())
                if new_seq == LOST:
                    seq = await executor.run(tail.position)
                    yield Change("reset")
                    local = False
                    continue
                seq = new_seq
                parsed: dict[str, tuple[tuple[Any, ...], Job]] = {}
                for row in rows:
                    yield change(row, parsed, self._codec)
                if len(rows) == limit:  # more are waiting: read on the feed's thread
                    local = False
                    continue
                local, version = await _wait(waker, executor, tail, version, interval)
        finally:
            self.wakers.pop(waker, None)
            if tail is not None:
                with contextlib.suppress(Exception):
                    await executor.run(tail.close)
            executor.shutdown(wait=False)

    @staticmethod
    async def _next(
        tail: Tail, executor: SQLThread, seq: int, local: bool
    ) -> tuple[list[sqlite3.Row], int, int]:
        """The changes after ``seq``, the new position and the most that read could return. After
        a write of this process they are read right here, on the event loop's thread, like the
        write itself (an indexed read of at most ``HERE`` of the newest rows), unless the feed's
        thread is using the connection or the read would wait for a lock. Polls for other
        processes' writes, and a backlog after a full batch, stay on the feed's thread."""
        found = tail.read_here(seq) if local else None
        if found is not None:
            return *found, HERE
        return *await executor.run(tail.poll, seq, quick=True), BATCH


async def _wait(
    waker: asyncio.Event, executor: SQLThread, tail: Tail, version: int, interval: Callable[[], float]
) -> tuple[bool, int]:
    """Wait for a write of this process (True), or poll until another process wrote (the
    file's ``data_version`` changed: False); returns that and the version last seen."""
    if waker.is_set():
        return True, version
    while True:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # races with the waker, and close() would hang.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval()):
                await waker.wait()
        if waker.is_set():
            return True, version
        current = await executor.run(tail.data_version)
        if current != version:
            return False, current


class Tail:
    """One watcher's reads of the feed, on a connection of its own.

    The connection is used from two threads (the watcher's and the event loop's), one call at
    a time: a lock also keeps a call left running by a cancelled await from overlapping the
    next one (or the close)."""

    def __init__(self, conn: sqlite3.Connection, file: dbfile.StoreFile, table: str) -> None:
        self._conn = conn
        self._file = file
        self._t = table
        self._using = threading.Lock()
        self._select = (
            f"SELECT c.seq AS _seq, c.op AS _op, c.id AS _cid, {FEED_SELECT} FROM {table}_changes c"
            f" LEFT JOIN {table} j ON j.id = c.id WHERE c.seq > ? ORDER BY c.seq LIMIT ?"
        )

    def position(self) -> int:
        """The newest row's sequence number (0: none)."""
        with self._using:
            row = self._conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {self._t}_changes").fetchone()
            seq: int = row[0]
            return seq

    def poll(self, after: int) -> Rows:
        """:meth:`_read` on the watcher's thread, after a look at the file (StoreGone)."""
        with self._using:
            self._file.check(self._conn, every=dbfile.CHECK_EVERY)
            return self._read_tolerant(after, BATCH)

    def read_here(self, after: int) -> Rows | None:
        """:meth:`_read` on the calling thread if that costs no waiting, else None."""
        if self._file.gone or not self._using.acquire(blocking=False):
            return None
        try:
            self._conn.execute("PRAGMA busy_timeout = 0")
            try:
                return self._read_tolerant(after, HERE)
            except sqlite3.OperationalError:  # busy: the feed's thread waits instead
                return None
            finally:
                self._conn.execute(f"PRAGMA busy_timeout = {dbfile.BUSY_TIMEOUT_MS}")
        finally:
            self._using.release()

    def data_version(self) -> int:
        """``PRAGMA data_version``: changes when another connection committed."""
        with self._using:
            self._file.check(self._conn, every=dbfile.CHECK_EVERY)
            version: int = self._conn.execute("PRAGMA data_version").fetchone()[0]
            return version

    def close(self) -> None:
        with self._using:
            self._file.release(self._conn)

    def _read_tolerant(self, after: int, limit: int) -> Rows:
        """:meth:`_read`, again leniently when a value is not UTF-8 (see ``decode.py``)."""
        return tolerant(lambda conn: self._read(conn, after, limit))(self._conn)

    def _read(self, conn: sqlite3.Connection, after: int, limit: int) -> Rows:
        """The changes after ``after`` (at most ``limit``), and the new position (``LOST``)."""
        rows = conn.execute(self._select, (after, limit)).fetchall()
        # A gap after our position: if the feed was trimmed past it, history is lost
        # (checked after reading, so a trim between the two queries is noticed too).
        if rows and rows[0][0] != after + 1:
            first = conn.execute(f"SELECT MIN(seq) FROM {self._t}_changes").fetchone()[0]
            if first is not None and first > after + 1:
                return [], LOST
        return rows, (rows[-1][0] if rows else after)


def change(row: sqlite3.Row, parsed: dict[str, tuple[tuple[Any, ...], Job]], codec: Codec) -> Change:
    """A change-feed row (``_seq, _op, _cid`` and the job's ``COLUMNS``) as a Change.

    Each row carries the job as it is at the poll, so several changes of one job in one
    poll carry the same row: ``parsed`` (per poll) parses it once for all of them.
    """
    cid = row[2]
    oid = parse_id(cid)
    if row[1] == "delete" or row[3] is None:
        return Change("delete", oid)
    values = tuple(row)[3:]
    known = parsed.get(cid)
    if known is not None and known[0] == values:
        job = known[1]
    else:
        job = codec.feed_job(values)
        parsed[cid] = (values, job)
    return Change("insert" if row[1] == "insert" else "update", oid, job)
