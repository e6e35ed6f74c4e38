"""The SQLite store: the :class:`~queuecore.store.base.Store` methods as SQL (see the package)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bson import ObjectId

from ..._time import from_ms, to_ms, utcnow
from ...audit import AuditEntry
from ...errors import ConnectError, StoreGone
from ...job import FINISHED, Change, Job, Status
from ...query import Query
from ...sort import NEWEST, Sort
from .._limits import sqlite_read
from ..base import MODE_CHANGE_FEED, Store, find_query, parse_id, row_count
from ..changes import Changes, Guard
from ..common import Counts, audit_record, claim_changes, lock_key
from . import batch, feed, schema, writes
from . import file as dbfile
from . import filter as sqlite_filter
from . import order as sql_order
from .codec import SELECT, Codec
from .counts import read as read_counts
from .decode import audit_entry, fetch_rows, returned_row, tolerant
from .executor import GROUP, Inline, SQLThread
from .file import BUSY_TIMEOUT_MS

T = TypeVar("T")


class SQLiteStore(Store):
    """Jobs in a SQLite file. Open with ``queuecore.connect("sqlite:///jobs.db")``; ``create=False``
    never makes the file, and one deleted or replaced while open raises StoreGone (``file.py``)."""

    engine = "sqlite"
    driver_errors = (sqlite3.Error,)

    def __init__(
        self, path: Path, collection: str = "jobs", *, feed_interval: float = 0.02, create: bool = True
    ) -> None:
        schema.check_name(collection)
        super().__init__(f"sqlite:///{path}", collection)
        self.path = path
        self.feed_interval = feed_interval
        self.create = create
        self._t = collection
        self._file = dbfile.StoreFile(path)
        self._executor = SQLThread("queuecore-sqlite", idle=lambda: self._file.idle(self._conn))
        self._conn: sqlite3.Connection | None = None
        self._inline: Inline | None = None
        self._filtering = sqlite_filter.Filtering()  # filters over text that is not UTF-8
        self._codec = Codec()  # rows ↔ jobs, with this store's caches
        self._insert_sql = writes.insert_sql(collection)
        self._periodic_sql = writes.periodic_sql(collection)
        self._claim_sql = writes.claim_sql(collection)
        self._reread_sql = writes.reread_sql(collection)
        self._mode = MODE_CHANGE_FEED
        self._feed = feed.Feed(collection, self._file, self._codec)  # watchers, and trimming
        self._purger: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def location(self) -> str:
        """The engine and the file (the table is ``jobs`` but for a few: not worth the room)."""
        return f"{self.engine} {self.path}"

    # -- plumbing -------------------------------------------------------------

    def _open(self, first: bool = False) -> dbfile.Connection:
        """A connection to the store's file; only the ``first`` of a ``create`` store may create it."""
        create = first and self.create
        conn = self._file.connect(create=create, table=self._t if first and not create else None)
        conn.row_factory = sqlite3.Row
        conn.create_function("queuecore_lock_key", 2, lock_key, deterministic=True)
        sqlite_filter.register(conn)  # the filter language: the functions of Query.matches (RE2)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Switching a new file to WAL takes an exclusive lock, which SQLite does not wait for
        # with the busy timeout: processes opening a new file together retry.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        conn.execute("PRAGMA synchronous = NORMAL")
        # after a burst (or while a reader held old pages) cut the WAL back when it starts over
        conn.execute(f"PRAGMA journal_size_limit = {dbfile.WAL_LIMIT}")
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """Run ``fn`` on the store's thread: a read, or a ``write`` in a transaction of its own."""
        if self._conn is None:
            raise RuntimeError("the store is closed")
        conn = self._conn
        return await self._executor.run(self._file.call, tolerant(fn), conn, write)

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, here: bool = True, weight: int = 1) -> T:
        """Run one guarded write, in one transaction with the others of this loop iteration:
        on the loop's thread when the database is free (see :class:`Inline`), else on the
        store's thread."""
        if self._conn is None:
            raise RuntimeError("the store is closed")
        self._file.ensure()
        if self._inline is not None and not self.keep_loop_free:
            return await self._inline.write(fn, here=here, weight=weight)
        return await self._executor.write(self._conn, fn)

    def _wrote(self, rows: int = 1) -> None:
        """Wake this process's watchers, and trim the feed every ``FEED_KEEP // 10`` rows written."""
        self._feed.wake()
        if self._feed.trim_due(rows) and self._conn is not None:
            t = self._t

            def trim(conn: sqlite3.Connection) -> None:
                with contextlib.suppress(sqlite3.Error):  # busy or failed: the next one tries again
                    feed.trim(conn, t)

            # on the store's thread, not awaited; retrieve the outcome (a close meanwhile)
            trimmed = self._executor.run(self._file.call, trim, self._conn, True)
            trimmed.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def open(self, create: bool = True) -> None:
        """Create the file (unless ``create`` is False here or when the store was made),
        tables, triggers and indexes (idempotent)."""
        self.create = self.create and create
        try:
            self._conn = await self._executor.run(self._open, True)
            await self._run(lambda c: schema.create(c, self._t))
            self._file.record()
            inline = await self._executor.run(self._open)
            self._inline = Inline(inline, self._executor, self._conn)
        except (ConnectError, StoreGone):
            self._executor.shutdown(wait=False)
            raise
        except (OSError, sqlite3.Error) as exc:
            self._executor.shutdown(wait=False)
            raise ConnectError(f"cannot open SQLite database {self.path}: {exc}") from None
        retention = await self._run(lambda c: schema.read_retention(c, self._t))
        if retention:
            self._start_purger(timedelta(seconds=retention))

    # -- writes ---------------------------------------------------------------

    async def insert(self, job: Job, *, lock: bool, unless_finished_after: datetime | None = None) -> bool:
        values = self._codec.insert_values(job, lock)
        sql = self._insert_sql
        if unless_finished_after is not None:  # the period check in the same statement
            sql = self._periodic_sql
            values += [job.name, job.label, to_ms(unless_finished_after)]

        def run(conn: sqlite3.Connection) -> bool:
            return writes.inserted(conn, sql, values)

        # the period check scans the jobs of that name: not on the event loop's thread
        inserted = await self._write(run, here=unless_finished_after is None)
        if inserted:
            self._wrote()
        return inserted

    async def insert_many(
        self, items: Sequence[tuple[Job, bool]], *, since: Sequence[datetime | None] | None = None
    ) -> list[bool]:
        """One transaction for the whole call: all or nothing (see ``batch.py``)."""
        if not items:
            return []
        since = since or [None] * len(items)
        values = self._codec.insert_values
        statements = [
            (self._insert_sql, values(job, lock), False)
            if at is None
            else (self._periodic_sql, [*values(job, lock), job.name, job.label, to_ms(at)], True)
            for (job, lock), at in zip(items, since, strict=True)
        ]
        # more rows than one group commit takes, or a period check (a scan): on the store's
        # thread, so the event loop is never held for the batch
        here = len(items) <= GROUP and all(at is None for at in since)
        run = batch.insert_all(statements, writes.inserted)
        out = await self._write(run, here=here, weight=len(items))
        if any(out):
            self._wrote(sum(out))
        return out

    async def claim(self, id: ObjectId, now: datetime, timeout: timedelta, worker: str) -> Job | None:
        changes = claim_changes(now, timeout, worker)
        assert changes.event is not None
        sql = self._claim_sql
        args = writes.claim_args(changes, self._codec.append_args(changes.event), str(id), to_ms(now))
        again = (self._reread_sql, (str(id),))
        row = await self._write(lambda c: returned_row(c.execute(sql, args), *again))
        if row is None:
            return None
        self._wrote()
        return self._codec.written_job(row)

    async def update(self, id: ObjectId, guard: Guard, changes: Changes) -> Job | None:
        sql, args = self._guarded(id, guard, changes)
        sql += f" RETURNING {SELECT}"
        again = (self._reread_sql, (str(id),))
        row = await self._write(lambda conn: returned_row(writes.lock_checked(conn, sql, args), *again))
        if row is None:
            return None
        self._wrote()
        return self._codec.written_job(row)

    async def update_only(self, id: ObjectId, guard: Guard, changes: Changes) -> bool:
        sql, args = self._guarded(id, guard, changes)
        count = await self._write(lambda conn: writes.lock_checked(conn, sql, args).rowcount)
        if count != 1:
            return False
        self._wrote()
        return True

    def _guarded(self, id: ObjectId, guard: Guard, changes: Changes) -> tuple[str, list[Any]]:
        """The statement and arguments of a guarded update (see :meth:`Store.update`)."""
        event = changes.event
        return writes.guarded(
            self._t,
            str(id),
            guard,
            changes,
            event_args=None if event is None else self._codec.append_args(event),
        )

    async def delete(self, ids: Sequence[ObjectId]) -> int:
        if not ids:
            return 0
        sql = f"DELETE FROM {self._t} WHERE id IN ({', '.join('?' for _ in ids)})"
        count = await self._run(lambda c: c.execute(sql, [str(i) for i in ids]).rowcount, write=True)
        if count:
            self._wrote(count)
        return count

    # -- reads ----------------------------------------------------------------

    async def get(self, id: ObjectId | str) -> Job | None:
        oid = parse_id(id)
        if oid is None:
            return None
        sql = f"SELECT {SELECT} FROM {self._t} WHERE id = ?"
        row = await self._run(lambda c: c.execute(sql, (str(oid),)).fetchone())
        return self._codec.to_job(row) if row is not None else None

    async def find(
        self,
        status: Status | str | Collection[Status | str] | None = None,
        name: str | None = None,
        text: str | None = None,
        limit: int = 100,
        skip: int = 0,
        *,
        query: Query | None = None,
        sort: Sort | None = None,
        after: Job | None = None,
    ) -> list[Job]:
        q, order = find_query(status, name, text, query), sql_order.order_by(sort or NEWEST)
        # keyset paging: only the rows after ``after`` in this order (see order.after)
        keyset, after_args = ("1", []) if after is None else sql_order.after(sort or NEWEST, after)
        sql = (
            f"SELECT {SELECT} FROM {self._t} WHERE ({{where}}) AND {keyset} ORDER BY {order} LIMIT ? OFFSET ?"
        )
        read: Callable[[sqlite3.Connection], list[sqlite3.Row]] = self._filtering.read(
            q, utcnow(), sql, [*after_args, row_count(limit), row_count(skip)]
        )
        return [self._codec.to_job(r) for r in await sqlite_read(self._run, read, self.read_limit(q))]

    async def count(self, query: Query | None = None, *, cap: int | None = None) -> int:
        q = query or Query()
        sql, extra = f"SELECT COUNT(*) FROM {self._t} WHERE {{where}}", []
        if cap is not None:
            sql, extra = (
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {self._t} WHERE {{where}} LIMIT ?)",
                [row_count(cap)],
            )
        read = self._filtering.read(q, utcnow(), sql, extra, sqlite_filter.first_value)
        return await sqlite_read(self._run, read, self.read_limit(q))

    async def counts(self, cap: int | None = None) -> Counts:
        t, now = self._t, to_ms(utcnow())
        return await self._run(lambda c: read_counts(c, t, now, cap))

    async def active(self, names: Collection[str]) -> list[Job]:
        names = list(names)
        if not names:
            return []
        sql = (
            f"SELECT {SELECT} FROM {self._t} WHERE status IN ('enqueued', 'dequeued', 'failed')"
            f" AND name IN ({', '.join('?' for _ in names)})"
        )
        rows = await self._run(lambda c: c.execute(sql, names).fetchall())
        return [self._codec.to_job(r) for r in rows]

    async def active_pages(self, names: Collection[str], size: int = 5000) -> AsyncGenerator[list[Job], None]:
        if self._conn is None:
            raise RuntimeError("the store is closed")
        names = list(names)
        if not names:
            return
        sql = (
            f"SELECT {SELECT} FROM {self._t} WHERE status IN ('enqueued', 'dequeued', 'failed')"
            f" AND name IN ({', '.join('?' for _ in names)})"
        )
        # A connection of its own, its statement open from the first page to the last: one
        # snapshot for the whole load, while this store's other calls go on between pages.
        reader = await self._executor.run(self._open)
        cursor: sqlite3.Cursor | None = None

        def close() -> None:  # the statement first: until it is finalized it holds the snapshot
            if cursor is not None:
                cursor.close()
            self._file.release(reader)

        try:
            cursor = await self._executor.run(reader.execute, sql, names)
            while rows := await self._executor.run(fetch_rows, cursor, max(1, size)):
                yield [self._codec.to_job(r) for r in rows]
        finally:
            closing = self._executor.run(close)  # after any call still using the cursor
            try:
                await asyncio.shield(closing)  # runs even if this load is being cancelled
            except RuntimeError:  # the store's thread has stopped: nothing else uses them
                close()

    async def oldest_waiting(self, now: datetime | None = None) -> dict[str, datetime]:
        # the (status, available_at) index finds the waiting rows; a number compared with
        # TEXT/BLOB is always smaller, so malformed available_at values never match
        sql = (
            f"SELECT name, MIN(available_at) FROM {self._t}"
            " WHERE status IN ('enqueued', 'failed') AND available_at <= ? GROUP BY name"
        )
        at = to_ms(now or utcnow())
        rows = await self._run(lambda c: c.execute(sql, (at,)).fetchall())
        out: dict[str, datetime] = {}
        for name, oldest in rows:
            if isinstance(name, str) and isinstance(oldest, int | float):
                with contextlib.suppress(ValueError, OverflowError, OSError):  # out of range
                    out[name] = from_ms(oldest)
        return out

    # -- audit log ------------------------------------------------------------

    async def insert_audit(self, entry: AuditEntry) -> None:
        record = audit_record(entry)
        record["at"], record["ids"] = to_ms(record["at"]), json.dumps(record["ids"])
        sql = f"INSERT INTO {self._t}_audit ({', '.join(record)}) VALUES ({', '.join('?' * len(record))})"
        args = tuple(record.values())
        await self._run(lambda c: c.execute(sql, args), write=True)

    async def find_audit(self, limit: int = 100) -> list[AuditEntry]:
        sql = f"SELECT at, who, source, action, ids, detail FROM {self._t}_audit ORDER BY seq DESC LIMIT ?"
        rows = await self._run(lambda c: c.execute(sql, (row_count(limit),)).fetchall())
        return [audit_entry(r) for r in rows]

    # -- changes --------------------------------------------------------------

    def watch(self) -> AsyncIterator[Change]:
        """Tail the change feed (see ``feed.py``); first yields ``reset``."""
        return self._feed.watch(self._open, lambda: self.feed_interval, lambda: not self.keep_loop_free)

    # -- maintenance ----------------------------------------------------------

    async def ensure_indexes(self, remove_after: timedelta | None = None) -> None:
        await self._run(lambda c: schema.ensure_indexes(c, self._t, remove_after), write=True)
        if self._purger is not None:
            self._purger.cancel()
            self._purger = None
        if remove_after:
            self._start_purger(remove_after)
            await self.purge()
        else:
            self.retention = None

    def _start_purger(self, remove_after: timedelta) -> None:
        self.retention = remove_after
        interval = min(60.0, max(0.05, remove_after.total_seconds() / 4))

        async def loop() -> None:
            while not self._file.gone:
                await asyncio.sleep(interval)
                with contextlib.suppress(sqlite3.Error, StoreGone):
                    await self.purge()

        self._purger = asyncio.get_running_loop().create_task(loop(), name="queuecore-purge")

    async def purge(self) -> int:
        """Delete finished jobs older than the retention, and trim the change feed."""
        t = self._t
        cutoff = to_ms(utcnow() - self.retention) if self.retention else None

        def run(conn: sqlite3.Connection) -> int:
            removed = 0
            if cutoff is not None:
                removed = conn.execute(
                    f"DELETE FROM {t} WHERE status IN (?, ?) AND finished_at < ?",
                    (*(s.value for s in FINISHED), cutoff),
                ).rowcount
            feed.trim(conn, t)
            return removed

        removed = await self._run(run, write=True)
        if removed:
            self._wrote()
        return removed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        conn, self._conn = self._conn, None
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        if conn is not None:
            await self._executor.run(self._file.release, conn)  # abandoned if the file changed
        self._executor.shutdown(wait=False)
