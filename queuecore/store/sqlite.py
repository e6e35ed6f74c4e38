"""The embedded SQLite engine: zero set-up, safe for several processes on one machine.

- WAL journal and a busy timeout, so readers never block the writer and
  concurrent writers wait instead of failing.
- Every transition is one ``UPDATE … WHERE <guard> RETURNING *`` statement:
  atomic across processes without explicit locking.
- Labeled de-duplication: a ``lock`` column with a UNIQUE index, set only while
  a labeled job is active (NULLs never collide).
- The change feed: triggers write every insert/update/delete into
  ``<table>_changes``; ``watch()`` tails it by sequence number, so it sees the
  writes of other processes too. Writes of this process wake watchers at once;
  other processes' writes are noticed within ``feed_interval`` (cheap
  ``PRAGMA data_version`` check).
- All SQL runs on one thread per connection; the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import queue
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bson import ObjectId

from .._time import from_ms, to_ms, utcnow
from ..audit import AuditEntry
from ..errors import ConnectError
from ..job import FINISHED, MAX_EVENTS, Change, Event, Job, Status
from ..query import RUNNING, STALLED, Query, icontains, regexp
from .base import MODE_CHANGE_FEED, Counts, LockConflict, Store, find_query, lock_key, parse_id

T = TypeVar("T")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DATETIME_KEYS = {
    "created_at",
    "available_at",
    "started_at",
    "ended_at",
    "finished_at",
    "heartbeat_at",
}
_JSON_KEYS = {"data", "result"}
_DECODED_KEYS = frozenset({*_JSON_KEYS, "events"})
_COLUMNS = (
    "id",
    "name",
    "label",
    "data",
    "status",
    "created_at",
    "available_at",
    "started_at",
    "ended_at",
    "finished_at",
    "attempts",
    "result",
    "reason",
    "events",
    "worker",
    "progress",
    "note",
    "cancel_reason",
    "heartbeat_at",
    "trace",
    "lock",
)
#: Keep at most this many rows in the change feed (older ones are trimmed).
FEED_KEEP = 50_000


def _encode(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in _DATETIME_KEYS:
        return to_ms(value)
    if key in _JSON_KEYS:
        return json.dumps(value, default=str)
    if isinstance(value, Status):
        return value.value
    return value


def _row_to_doc(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row in the MongoDB document shape, for Job.from_doc.

    Undecodable JSON is passed on as the raw text, so the job comes back salvaged
    with ``malformed`` set instead of raising.
    """
    doc: dict[str, Any] = {}
    for key, value in row.items():
        if key == "id":
            doc["_id"] = value
        elif key == "lock":
            continue
        elif value is None:
            doc[key] = None
        elif key in _DATETIME_KEYS:
            try:
                doc[key] = from_ms(value) if isinstance(value, int | float) else value
            except (ValueError, OverflowError, OSError):  # out of range, NaN: salvaged as malformed
                doc[key] = f"{value} (out of range)"
        elif key in _DECODED_KEYS:
            try:
                doc[key] = json.loads(value)
            except (TypeError, ValueError):
                doc[key] = value
        else:
            doc[key] = value
    return doc


def _to_job(row: sqlite3.Row) -> Job:
    return Job.from_doc(_row_to_doc(dict(row)))


class _SQLThread:
    """One thread that runs a connection's SQL for the event loop.

    Cheaper per call than ``loop.run_in_executor`` (no concurrent.futures.Future chained
    to the asyncio one), with the same semantics: calls run in order, one at a time, and
    a call whose awaiting task was cancelled before it started is skipped. A daemon thread:
    a store left open does not keep the interpreter alive (each write is one transaction).
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on the thread; await the returned future for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, fn, args))
        return future

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, fn, args = call
            if future.cancelled():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                _post(loop, _fail, future, exc)
            else:
                _post(loop, _resolve, future, result)

    def shutdown(self, wait: bool = False) -> None:
        """Stop the thread once the calls queued so far have run."""
        self._calls.put(None)
        if wait:
            self._thread.join()


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile: nobody waits
        loop.call_soon_threadsafe(fn, *args)


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class SQLiteStore(Store):
    """Jobs in a SQLite file. Open with ``queuecore.connect("sqlite:///jobs.db")``."""

    engine = "sqlite"

    def __init__(self, path: Path, collection: str = "jobs", *, feed_interval: float = 0.02) -> None:
        if not _IDENT.match(collection):
            raise ValueError(f"invalid collection name {collection!r}: use letters, digits and underscores")
        super().__init__(f"sqlite:///{path}", collection)
        self.path = path
        self.feed_interval = feed_interval
        self._t = collection
        self._executor = _SQLThread("queuecore-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._mode = MODE_CHANGE_FEED
        self._wakers: set[asyncio.Event] = set()
        self._writes = 0
        self._purger: asyncio.Task[None] | None = None
        self._closed = False

    # -- plumbing -------------------------------------------------------------

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.create_function("queuecore_lock_key", 2, lock_key, deterministic=True)
        # the filter language (queuecore.query): the same Python semantics as Query.matches
        conn.create_function("queuecore_icontains", 2, icontains, deterministic=True)
        conn.create_function("regexp", 2, regexp, deterministic=True)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise RuntimeError("the store is closed")
        conn = self._conn
        return await self._executor.run(fn, conn)

    def _wrote(self) -> None:
        """Wake this process's watchers and trim the feed now and then."""
        for waker in self._wakers:
            waker.set()

    async def open(self) -> None:
        """Create the file, tables, triggers and indexes (idempotent)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = await self._executor.run(self._open, self.path)
            await self._run(self._schema)
        except (OSError, sqlite3.Error) as exc:
            self._executor.shutdown(wait=False)
            raise ConnectError(f"cannot open SQLite database {self.path}: {exc}") from None
        retention = await self._run(self._read_retention)
        if retention:
            self._start_purger(timedelta(seconds=retention))

    def _schema(self, conn: sqlite3.Connection) -> None:
        t = self._t
        conn.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS {t} (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                label TEXT NOT NULL DEFAULT '',
                data TEXT NOT NULL DEFAULT '{{}}',
                status TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                available_at INTEGER NOT NULL,
                started_at INTEGER,
                ended_at INTEGER,
                finished_at INTEGER,
                attempts INTEGER NOT NULL DEFAULT 0,
                result TEXT,
                reason TEXT NOT NULL DEFAULT '',
                events TEXT NOT NULL DEFAULT '[]',
                worker TEXT NOT NULL DEFAULT '',
                progress REAL,
                note TEXT NOT NULL DEFAULT '',
                cancel_reason TEXT,
                heartbeat_at INTEGER,
                trace TEXT,
                lock TEXT UNIQUE
            );
            CREATE TABLE IF NOT EXISTS {t}_changes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL,
                op TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS queuecore_meta (
                key TEXT PRIMARY KEY,
                value TEXT
            );
            CREATE TABLE IF NOT EXISTS {t}_audit (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                at INTEGER NOT NULL,
                who TEXT NOT NULL,
                source TEXT NOT NULL,
                action TEXT NOT NULL,
                ids TEXT NOT NULL,
                detail TEXT NOT NULL DEFAULT ''
            );
            CREATE TRIGGER IF NOT EXISTS {t}_ins AFTER INSERT ON {t} BEGIN
                INSERT INTO {t}_changes (id, op) VALUES (NEW.id, 'insert');
            END;
            CREATE TRIGGER IF NOT EXISTS {t}_upd AFTER UPDATE ON {t} BEGIN
                INSERT INTO {t}_changes (id, op) VALUES (NEW.id, 'update');
            END;
            CREATE TRIGGER IF NOT EXISTS {t}_del AFTER DELETE ON {t} BEGIN
                INSERT INTO {t}_changes (id, op) VALUES (OLD.id, 'delete');
            END;
            CREATE INDEX IF NOT EXISTS {t}_status ON {t} (status, available_at);
            CREATE INDEX IF NOT EXISTS {t}_name ON {t} (name, status);
            """
        )

    def _read_retention(self, conn: sqlite3.Connection) -> float | None:
        row = conn.execute(
            "SELECT value FROM queuecore_meta WHERE key = ?", (f"{self._t}.remove_after",)
        ).fetchone()
        return float(row[0]) if row and row[0] else None

    # -- writes ---------------------------------------------------------------

    async def insert(self, job: Job, *, lock: bool) -> bool:
        values = [
            str(job.id),
            job.name,
            job.label,
            _encode("data", job.data),
            job.status.value,
            to_ms(job.created),
            to_ms(job.available),
            json.dumps([_event_json(e) for e in job.events]),
            job.trace,
            lock_key(job.name, job.label) if lock else None,
        ]
        sql = (
            f"INSERT INTO {self._t} (id, name, label, data, status, created_at, available_at,"
            " events, trace, lock) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )

        def run(conn: sqlite3.Connection) -> bool:
            try:
                conn.execute(sql, values)
            except sqlite3.IntegrityError as exc:
                if "lock" in str(exc):
                    return False
                raise
            return True

        inserted = await self._run(run)
        if inserted:
            self._wrote()
        return inserted

    async def finished_since(self, name: str, label: str, since: datetime) -> bool:
        sql = f"SELECT 1 FROM {self._t} WHERE name = ? AND label = ? AND finished_at > ? LIMIT 1"
        row = await self._run(lambda c: c.execute(sql, (name, label, to_ms(since))).fetchone())
        return row is not None

    async def claim(self, id: ObjectId, now: datetime, timeout: timedelta, worker: str) -> Job | None:
        event = Event(at=now, status=Status.DEQUEUED, reason="")
        sql = (
            f"UPDATE {self._t} SET status = 'dequeued', started_at = ?, available_at = ?,"
            f" attempts = attempts + 1, worker = ?, progress = NULL, note = '',"
            f" heartbeat_at = NULL, events = {_APPEND} WHERE id = ?"
            " AND status IN ('enqueued', 'failed', 'dequeued') AND available_at <= ?"
            " RETURNING *"
        )
        ms = to_ms(now)
        args = (ms, to_ms(now + timeout), worker, *_append_args(event), str(id), ms)
        row = await self._run(lambda c: c.execute(sql, args).fetchone())
        if row is None:
            return None
        self._wrote()
        return _to_job(row)

    async def update(
        self,
        id: ObjectId,
        *,
        statuses: Collection[Status] | None,
        set: dict[str, Any],
        event: Event | None = None,
        attempts: int | None = None,
        stalled_before: datetime | None = None,
        lock: bool | None = None,
    ) -> Job | None:
        assignments = [f"{key} = ?" for key in set]
        args: list[Any] = [_encode(key, value) for key, value in set.items()]
        if event is not None:
            assignments.append(f"events = {_APPEND}")
            args.extend(_append_args(event))
        if lock is True:
            assignments.append("lock = CASE WHEN label != '' THEN queuecore_lock_key(name, label) END")
        elif lock is False:
            assignments.append("lock = NULL")
        where = ["id = ?"]
        args.append(str(id))
        guards = []
        if statuses is not None:
            guards.append(f"status IN ({', '.join('?' for _ in statuses)})")
            args.extend(Status(s).value for s in statuses)
        if stalled_before is not None:
            guards.append("(status = 'dequeued' AND available_at <= ?)")
            args.append(to_ms(stalled_before))
        if guards:
            where.append(f"({' OR '.join(guards)})")
        if attempts is not None:
            where.append("attempts = ?")
            args.append(attempts)
        sql = f"UPDATE {self._t} SET {', '.join(assignments)} WHERE {' AND '.join(where)} RETURNING *"

        def run(conn: sqlite3.Connection) -> sqlite3.Row | None:
            try:
                return conn.execute(sql, args).fetchone()
            except sqlite3.IntegrityError as exc:
                if "lock" in str(exc):
                    raise LockConflict(str(exc)) from None
                raise

        row = await self._run(run)
        if row is None:
            return None
        self._wrote()
        return _to_job(row)

    async def delete(self, ids: Sequence[ObjectId]) -> int:
        if not ids:
            return 0
        sql = f"DELETE FROM {self._t} WHERE id IN ({', '.join('?' for _ in ids)})"
        count = await self._run(lambda c: c.execute(sql, [str(i) for i in ids]).rowcount)
        if count:
            self._wrote()
        return count

    # -- reads ----------------------------------------------------------------

    async def get(self, id: ObjectId | str) -> Job | None:
        oid = parse_id(id)
        if oid is None:
            return None
        sql = f"SELECT * FROM {self._t} WHERE id = ?"
        row = await self._run(lambda c: c.execute(sql, (str(oid),)).fetchone())
        return _to_job(row) if row is not None else None

    async def find(
        self,
        status: Status | str | Collection[Status | str] | None = None,
        name: str | None = None,
        text: str | None = None,
        limit: int = 100,
        skip: int = 0,
        *,
        query: Query | None = None,
    ) -> list[Job]:
        where, args = find_query(status, name, text, query).sql(utcnow())
        sql = f"SELECT * FROM {self._t} WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?"
        args.extend([max(0, int(limit)), max(0, int(skip))])
        rows = await self._run(lambda c: c.execute(sql, args).fetchall())
        return [_to_job(r) for r in rows]

    async def count(self, query: Query | None = None, *, cap: int | None = None) -> int:
        where, args = (query or Query()).sql(utcnow())
        if cap is None:
            sql = f"SELECT COUNT(*) FROM {self._t} WHERE {where}"
        else:
            sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {self._t} WHERE {where} LIMIT ?)"
            args.append(max(0, int(cap)))
        return await self._run(lambda c: c.execute(sql, args).fetchone()[0])

    async def counts(self, cap: int | None = None) -> Counts:
        t = self._t
        now = to_ms(utcnow())
        stalled_sql = f"SELECT COUNT(*) FROM {t} WHERE status = 'dequeued' AND available_at <= ?"

        def exact(conn: sqlite3.Connection) -> Counts:
            rows = conn.execute(f"SELECT status, COUNT(*) FROM {t} GROUP BY status").fetchall()
            stalled = conn.execute(stalled_sql, (now,)).fetchone()[0]
            out = Counts({s.value: 0 for s in Status})
            for status, n in rows:
                out[str(status)] = n
            out[STALLED] = stalled
            out[RUNNING] = max(0, out[Status.DEQUEUED.value] - stalled)
            return out

        def capped(conn: sqlite3.Connection, limit: int) -> Counts:
            def upto(where: str, *args: Any) -> int:
                sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {t} WHERE {where} LIMIT ?)"
                return conn.execute(sql, (*args, limit)).fetchone()[0]

            out = Counts()
            for s in Status:
                out[s.value] = upto("status = ?", s.value)
            out[RUNNING] = upto("status = 'dequeued' AND available_at > ?", now)
            out[STALLED] = upto("status = 'dequeued' AND available_at <= ?", now)
            for status in _unknown_statuses(conn, t):
                out[status] = upto("status = ?", status)
            out.capped = {key for key, n in out.items() if n >= limit}
            return out

        def run(conn: sqlite3.Connection) -> Counts:
            conn.execute("BEGIN")  # one read snapshot for every count
            try:
                if cap is not None:
                    # rowids only grow: MAX(rowid) bounds the number of rows, in O(log n)
                    size = conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {t}").fetchone()[0]
                    if size > cap:
                        return capped(conn, max(1, int(cap)))
                return exact(conn)
            finally:
                conn.execute("COMMIT")

        return await self._run(run)

    async def active(self, names: Collection[str]) -> list[Job]:
        names = list(names)
        if not names:
            return []
        sql = (
            f"SELECT * FROM {self._t} WHERE status IN ('enqueued', 'dequeued', 'failed')"
            f" AND name IN ({', '.join('?' for _ in names)})"
        )
        rows = await self._run(lambda c: c.execute(sql, names).fetchall())
        return [_to_job(r) for r in rows]

    # -- audit log ------------------------------------------------------------

    async def insert_audit(self, entry: AuditEntry) -> None:
        sql = f"INSERT INTO {self._t}_audit (at, who, source, action, ids, detail) VALUES (?, ?, ?, ?, ?, ?)"
        args = (to_ms(entry.at), entry.who, entry.source, entry.action, json.dumps(entry.ids), entry.detail)
        await self._run(lambda c: c.execute(sql, args))

    async def find_audit(self, limit: int = 100) -> list[AuditEntry]:
        sql = f"SELECT at, who, source, action, ids, detail FROM {self._t}_audit ORDER BY seq DESC LIMIT ?"
        rows = await self._run(lambda c: c.execute(sql, (max(0, int(limit)),)).fetchall())
        return [
            AuditEntry(
                at=from_ms(r["at"]),
                who=r["who"],
                source=r["source"],
                action=r["action"],
                ids=_json_list(r["ids"]),
                detail=r["detail"],
            )
            for r in rows
        ]

    # -- changes --------------------------------------------------------------

    async def watch(self) -> AsyncIterator[Change]:  # type: ignore[override]
        """Tail the change feed (see the module docstring); first yields ``reset``."""
        executor = _SQLThread("queuecore-feed")
        waker = asyncio.Event()
        self._wakers.add(waker)
        conn = await executor.run(self._open, self.path)
        t = self._t

        def position(c: sqlite3.Connection) -> int:
            return c.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {t}_changes").fetchone()[0]

        def poll(c: sqlite3.Connection, after: int) -> tuple[list[sqlite3.Row], int]:
            first = c.execute(f"SELECT MIN(seq) FROM {t}_changes").fetchone()[0]
            if first is not None and first > after + 1:
                return [], -1  # trimmed past our position: history lost
            rows = c.execute(
                f"SELECT c.seq AS _seq, c.op AS _op, c.id AS _cid, j.* FROM {t}_changes c"
                f" LEFT JOIN {t} j ON j.id = c.id WHERE c.seq > ? ORDER BY c.seq LIMIT 1000",
                (after,),
            ).fetchall()
            return rows, (rows[-1]["_seq"] if rows else after)

        def data_version(c: sqlite3.Connection) -> int:
            return c.execute("PRAGMA data_version").fetchone()[0]

        try:
            seq = await executor.run(position, conn)
            yield Change("reset")
            version = -1
            while True:
                waker.clear()
                rows, new_seq = await executor.run(poll, conn, seq)
                if new_seq == -1:
                    seq = await executor.run(position, conn)
                    yield Change("reset")
                    continue
                seq = new_seq
                for row in rows:
                    yield _feed_change(row)
                if len(rows) == 1000:
                    continue
                # Wait for a write of this process, or poll for other processes' writes.
                while not waker.is_set():
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                    # cancellation that races with the waker, and close() would hang.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.feed_interval):
                            await waker.wait()
                    if waker.is_set():
                        break
                    current = await executor.run(data_version, conn)
                    if current != version:
                        version = current
                        break
        finally:
            self._wakers.discard(waker)
            with contextlib.suppress(Exception):
                await executor.run(conn.close)
            executor.shutdown(wait=False)

    # -- maintenance ----------------------------------------------------------

    async def ensure_indexes(self, remove_after: timedelta | None = None) -> None:
        t = self._t

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_status ON {t} (status, available_at)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_name ON {t} (name, status)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_finished ON {t} (finished_at)")
            conn.execute(
                "INSERT INTO queuecore_meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"{t}.remove_after", str(remove_after.total_seconds()) if remove_after else ""),
            )

        await self._run(run)
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
            while True:
                await asyncio.sleep(interval)
                with contextlib.suppress(sqlite3.Error):
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
            conn.execute(
                f"DELETE FROM {t}_changes WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM {t}_changes) - ?",
                (FEED_KEEP,),
            )
            return removed

        removed = await self._run(run)
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
        if conn is not None:
            await self._executor.run(conn.close)
        self._executor.shutdown(wait=False)


# Append one event to the JSON history, keeping the newest MAX_EVENTS.
_APPEND = (
    "CASE WHEN json_array_length(events) >= ?"
    " THEN json_insert(json_remove(events, '$[0]'), '$[#]', json(?))"
    " ELSE json_insert(events, '$[#]', json(?)) END"
)


def _event_json(event: Event) -> dict[str, Any]:
    return {"at": event.at.isoformat(), "status": str(event.status), "reason": event.reason}


def _append_args(event: Event) -> tuple[Any, ...]:
    encoded = json.dumps(_event_json(event))
    return (MAX_EVENTS, encoded, encoded)


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


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
        rows = conn.execute(f"SELECT DISTINCT status FROM {table} WHERE {where} LIMIT 20", args).fetchall()
        found.extend(str(r[0]) for r in rows)
    return found[:20]


def _feed_change(row: sqlite3.Row) -> Change:
    oid = parse_id(row["_cid"])
    if row["_op"] == "delete" or row["id"] is None:
        return Change("delete", oid)
    values = {k: v for k, v in dict(row).items() if not k.startswith("_")}
    kind = "insert" if row["_op"] == "insert" else "update"
    return Change(kind, oid, Job.from_doc(_row_to_doc(values)))
