"""The SQLite store: the :class:`~queuecore.store.base.Store` methods as SQL (see the package)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bson import ObjectId

from ..._time import from_ms, to_ms, utcnow
from ...audit import AuditEntry
from ...errors import ConnectError, StoreGone
from ...job import FINISHED, MAX_DEPTH, MAX_EVENTS, Change, Event, Job, Status, too_deep
from ...query import RUNNING, STALLED, Query
from ...sort import NEWEST, Sort
from .._limits import sqlite_read
from ..base import MODE_CHANGE_FEED, Counts, LockConflict, Store, find_query, lock_key, parse_id, row_count
from . import batch
from . import file as dbfile
from . import filter as sqlite_filter
from .decode import NotUTF8, audit_entry, fetch_rows, returned_row, tolerant
from .executor import GROUP, Inline, SQLThread

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
#: How long a write waits for another process's write lock (on the store's thread).
BUSY_TIMEOUT_MS = 30_000
#: The WAL is checkpointed and truncated past this size (see ``file.py``).
WAL_LIMIT = dbfile.WAL_LIMIT


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


def _row_to_doc(row: dict[str, Any], problems: list[str] | None = None) -> dict[str, Any]:
    """A stored row in the MongoDB document shape, for Job.from_doc.

    Undecodable JSON is passed on as the raw text, so the job comes back salvaged
    with ``malformed`` set instead of raising. What validation cannot see is added to
    ``problems``: text that is not UTF-8 (see ``decode.py``), JSON nested too deeply
    to decode (then read as null).
    """
    doc: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, NotUTF8):
            if problems is not None:
                problems.append(f"{key}: not UTF-8 text")
            value = str(value)  # shown with U+FFFD for each bad byte
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
            except RecursionError:
                doc[key] = None
                if problems is not None:
                    problems.append(f"{key}: nested deeper than {MAX_DEPTH} levels")
        else:
            doc[key] = value
    return doc


#: The job columns in the order every query here selects them (``_fast_job`` reads them by position).
_SELECT = ", ".join(_COLUMNS)
_FEED_SELECT = ", ".join(f"j.{c}" for c in _COLUMNS)
_STATUSES: dict[str, Status] = {s.value: s for s in Status}


#: Validated history entries by (at, status, reason): events are immutable, and a job's
#: history is read again after each of its writes (RETURNING, then the change feed), so
#: most entries were validated before.
_EVENT_CACHE: dict[tuple[str, str, str | None], Event] = {}
_EVENT_CACHE_SIZE = 4096


#: The last history parsed per job id, as (text, events): a write appends one entry to a
#: history read before, so only the new tail needs parsing (see :func:`_events`).
_HISTORIES: dict[str, tuple[str, tuple[Event, ...]]] = {}
_HISTORIES_SIZE = 1024


def _events(text: str, id: str | None = None) -> list[Event]:
    """A stored event history; each entry is validated (pydantic) once (raises when invalid).

    With the job's ``id``: when the text extends the last history parsed for that job by
    entries at its end (a write appended one), the known entries are reused as they are —
    the same text gives the same entries — and only the new ones are parsed."""
    known = _HISTORIES.get(id) if id is not None else None
    if known is not None and text == known[0]:
        events = [*known[1]]
    elif (
        known is not None
        and known[1]  # "[A,B]" → "[A,B,C]": "[A,B" + "," + "C]"
        and known[0].endswith("]")
        and len(text) > len(known[0])
        and text[len(known[0]) - 1] == ","
        and text.startswith(known[0][:-1])
    ):
        added = _entries(json.loads("[" + text[len(known[0]) :]))
        events = [*known[1], *added] if added else _entries(json.loads(text))  # "[A,]": not JSON
    else:
        events = _entries(json.loads(text))
    if id is not None:
        if len(_HISTORIES) >= _HISTORIES_SIZE:
            _HISTORIES.clear()
        _HISTORIES[id] = (text, tuple(events))
    return events


def _entries(items: Any) -> list[Event]:
    """Parsed history entries (validated once each, see ``_EVENT_CACHE``)."""
    if type(items) is not list:
        raise ValueError("events is not a list")
    out = []
    for item in items:
        at, status, reason = item.get("at"), item.get("status"), item.get("reason")
        if type(at) is not str or type(status) is not str or not (reason is None or type(reason) is str):
            out.append(Event.model_validate(item))  # not as written here: validate, don't cache
            continue
        key = (at, status, reason)
        event = _EVENT_CACHE.get(key)
        if event is None:
            event = Event.model_validate(item)
            if len(_EVENT_CACHE) >= _EVENT_CACHE_SIZE:
                _EVENT_CACHE.clear()
            _EVENT_CACHE[key] = event
        out.append(event)
    return out


#: The last jobs parsed from rows this process's writes returned (RETURNING), with those
#: rows, by (id, status, attempts): the change feed usually reads the very same row right
#: after the write — or the row of the write before (a claim, read by the feed after the
#: completion of the same attempt was written), hence not keyed by id alone.
_WRITTEN: dict[tuple[Any, Any, Any], tuple[tuple[Any, ...], Job]] = {}
_WRITTEN_SIZE = 1024


def _written_key(values: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    return values[0], values[4], values[10]


def _written_job(row: Sequence[Any]) -> Job:
    """The job in a row a write returned; remembered for :func:`_feed_job`."""
    values = tuple(row)
    job = _to_job(values)
    if job.malformed is None:
        if len(_WRITTEN) >= _WRITTEN_SIZE:
            _WRITTEN.clear()
        _WRITTEN[_written_key(values)] = (values, job)
    return job


def _feed_job(values: tuple[Any, ...]) -> Job:
    """The job in a change-feed row. When the row is exactly one a write of this process
    returned, its parse is reused: the same values always give the same job. The copy
    gets containers of its own (data and result decoded again, a new events list), so a
    job a watcher gets shares no mutable part with the one the writer got."""
    known = _WRITTEN.get(_written_key(values))
    if known is None or known[0] != values:
        return _to_job(values)
    fields = dict(known[1].__dict__)
    fields["data"] = json.loads(values[3])
    fields["result"] = None if values[11] is None else json.loads(values[11])
    fields["events"] = list(fields["events"])  # Event objects are immutable
    return Job.trusted(**fields)


def _to_job(row: Sequence[Any], offset: int = 0) -> Job:
    """The job in a row that holds ``_COLUMNS`` from position ``offset`` on (never raises:
    a row that is not a valid job comes back salvaged, ``malformed`` set)."""
    values = tuple(row)[offset : offset + len(_COLUMNS)]
    job = _fast_job(values)
    if job is None:  # not exactly what this module writes: validate, or salvage as malformed
        problems: list[str] = []
        try:
            doc = _row_to_doc(dict(zip(_COLUMNS, values, strict=True)), problems)
        except Exception as exc:  # whatever it is, one row must not stop a read
            doc, problems = {"_id": values[0] if values else None}, [f"cannot be read ({type(exc).__name__})"]
        job = Job.salvage(doc, "malformed job: " + "; ".join(problems)) if problems else Job.from_doc(doc)
    return job


def _fast_job(values: Sequence[Any]) -> Job | None:
    """A row as this module writes it, turned into a Job without validating it field by field.

    Every value is type-checked exactly (``type(x) is int``, a known status, a 24-digit id,
    JSON that decodes to a dict, events that validate), and the result equals what
    ``Job.from_doc(_row_to_doc(row))`` returns; anything unexpected returns None so that
    path decides (and flags a malformed row). Pydantic validation of every field costs
    several times more, and the hot path parses each job after each of its writes.
    """
    (
        id_,
        name,
        label,
        data,
        status,
        created,
        available,
        started,
        ended,
        finished,
        attempts,
        result,
        reason,
        events,
        worker,
        progress,
        note,
        cancel_reason,
        heartbeat,
        trace,
        _lock,
    ) = values
    if not (
        type(id_) is str
        and len(id_) == 24
        and type(name) is str
        and type(label) is str
        and type(data) is str
        and type(status) is str
        and type(created) is int
        and type(available) is int
        and type(attempts) is int
        and type(reason) is str
        and type(events) is str
        and type(worker) is str
        and type(note) is str
        and (progress is None or type(progress) is float)
        and (cancel_reason is None or type(cancel_reason) is str)
        and (trace is None or type(trace) is str)
        and (result is None or type(result) is str)
        and (started is None or type(started) is int)
        and (ended is None or type(ended) is int)
        and (finished is None or type(finished) is int)
        and (heartbeat is None or type(heartbeat) is int)
    ):
        return None
    state = _STATUSES.get(status)
    if state is None:
        return None
    try:
        oid = ObjectId(id_)
        decoded = json.loads(data)
        outcome = None if result is None else json.loads(result)
        history = _events(events, id_)
        times = [None if t is None else from_ms(t) for t in (created, available, started, ended, finished)]
        beat = None if heartbeat is None else from_ms(heartbeat)
    except Exception:  # whatever it is, the validating path reports it
        return None
    if type(decoded) is not dict or not (outcome is None or type(outcome) is dict):
        return None
    # only text with more brackets than the limit can be nested that deep: look closer
    if data.count("{") + data.count("[") > MAX_DEPTH and too_deep(decoded):
        return None
    if result is not None and result.count("{") + result.count("[") > MAX_DEPTH and too_deep(outcome):
        return None
    return Job.trusted(
        id=oid,
        name=name,
        label=label,
        data=decoded,
        status=state,
        created=times[0],
        available=times[1],
        started=times[2],
        ended=times[3],
        finished=times[4],
        attempts=attempts,
        result=outcome,
        reason=reason,
        events=history,
        worker=worker,
        progress=progress,
        note=note,
        cancel_reason=cancel_reason,
        heartbeat=beat,
        trace=trace,
        malformed=None,
    )


class SQLiteStore(Store):
    """Jobs in a SQLite file. Open with ``queuecore.connect("sqlite:///jobs.db")``; ``create=False``
    never makes the file, and one deleted or replaced while open raises StoreGone (``file.py``)."""

    engine = "sqlite"

    def __init__(
        self, path: Path, collection: str = "jobs", *, feed_interval: float = 0.02, create: bool = True
    ) -> None:
        if not _IDENT.match(collection):
            raise ValueError(f"invalid collection name {collection!r}: use letters, digits and underscores")
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
        self._mode = MODE_CHANGE_FEED
        #: Each watcher's waker, with the event loop it waits on.
        self._wakers: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        self._writes = 0
        self._purger: asyncio.Task[None] | None = None
        self._closed = False

    # -- plumbing -------------------------------------------------------------

    def _open(self, first: bool = False) -> sqlite3.Connection:
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
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
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
        if self._inline is not None:
            return await self._inline.write(fn, here=here, weight=weight)
        return await self._executor.write(self._conn, fn)

    def _wrote(self, rows: int = 1) -> None:
        """Wake this process's watchers, and trim the feed after every ``FEED_KEEP // 10`` rows written."""
        here = asyncio.get_running_loop()
        for waker, loop in list(self._wakers.items()):  # a copy: another loop's thread may change it
            if loop is here:
                waker.set()
            else:  # an asyncio.Event is not thread-safe: set it on its own loop
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(waker.set)
        # without retention nothing else trims the feed: every FEED_KEEP/10 rows, here
        self._writes += rows
        if self._writes >= max(1, FEED_KEEP // 10) and self._conn is not None:
            self._writes = 0
            t = self._t

            def trim(conn: sqlite3.Connection) -> None:
                with contextlib.suppress(sqlite3.Error):  # busy or failed: the next one tries again
                    _trim_feed(conn, t)

            # on the store's thread, not awaited; retrieve the outcome (a close meanwhile)
            trimmed = self._executor.run(self._file.call, trim, self._conn, True)
            trimmed.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def open(self) -> None:
        """Create the file (with ``create``), tables, triggers and indexes (idempotent)."""
        try:
            self._conn = await self._executor.run(self._open, True)
            await self._run(self._schema)
            self._file.record()
            inline = await self._executor.run(self._open)
            self._inline = Inline(inline, self._executor, self._conn)
        except (ConnectError, StoreGone):
            self._executor.shutdown(wait=False)
            raise
        except (OSError, sqlite3.Error) as exc:
            self._executor.shutdown(wait=False)
            raise ConnectError(f"cannot open SQLite database {self.path}: {exc}") from None
        retention = await self._run(self._read_retention)
        if retention:
            self._start_purger(timedelta(seconds=retention))

    def _schema(self, conn: sqlite3.Connection) -> None:
        t = self._t
        existing = {row[1] for row in conn.execute(f"PRAGMA table_info({t})")}
        missing = [c for c in _COLUMNS if c not in existing]
        if existing and missing:
            # another program's table (a wrong file or --collection): refuse before anything is
            # created, since the change-feed triggers below would break every insert into it
            raise sqlite3.DatabaseError(
                f"table {t!r} is not a queuecore jobs table (it has no column {', '.join(missing[:3])}"
                + (", …)" if len(missing) > 3 else ")")
            )
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
                lock TEXT
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
            CREATE INDEX IF NOT EXISTS {t}_created ON {t} (created_at, id);
            """
        )
        # The label guarantee: a unique lock. Only labeled active jobs have one, so the index
        # holds only them (an unlabeled job's writes never touch it). Tables made by earlier
        # versions have a UNIQUE column constraint instead, which does the same.
        unique = [
            row[1]
            for row in conn.execute(f"PRAGMA index_list({t})")
            if row[2] and [c[2] for c in conn.execute(f"PRAGMA index_info({row[1]})")] == ["lock"]
        ]
        if not unique:
            conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {t}_lock ON {t} (lock) WHERE lock IS NOT NULL")

    def _read_retention(self, conn: sqlite3.Connection) -> float | None:
        row = conn.execute(
            "SELECT value FROM queuecore_meta WHERE key = ?", (f"{self._t}.remove_after",)
        ).fetchone()
        return float(row[0]) if row and row[0] else None

    # -- writes ---------------------------------------------------------------

    async def insert(self, job: Job, *, lock: bool, unless_finished_after: datetime | None = None) -> bool:
        values = _insert_values(job, lock)
        sql = self._insert_sql
        if unless_finished_after is not None:  # the period check in the same statement
            sql = (
                f"INSERT INTO {self._t} ({_INSERT_COLUMNS}) SELECT {_INSERT_MARKS} WHERE NOT EXISTS"
                f" (SELECT 1 FROM {self._t} WHERE name = ? AND label = ? AND finished_at > ?)"
            )
            values += [job.name, job.label, to_ms(unless_finished_after)]

        def run(conn: sqlite3.Connection) -> bool:
            return _inserted(conn, sql, values)

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
        periodic = batch.periodic_sql(self._t, _INSERT_COLUMNS, _INSERT_MARKS)
        statements = [
            (self._insert_sql, _insert_values(job, lock), False)
            if at is None
            else (periodic, [*_insert_values(job, lock), job.name, job.label, to_ms(at)], True)
            for (job, lock), at in zip(items, since, strict=True)
        ]
        # more rows than one group commit takes, or a period check (a scan): on the store's
        # thread, so the event loop is never held for the batch
        here = len(items) <= GROUP and all(at is None for at in since)
        run = batch.insert_all(statements, _inserted)
        out = await self._write(run, here=here, weight=len(items))
        if any(out):
            self._wrote(sum(out))
        return out

    @property
    def _insert_sql(self) -> str:
        return f"INSERT INTO {self._t} ({_INSERT_COLUMNS}) VALUES ({_INSERT_MARKS})"

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
            f" RETURNING {_SELECT}"
        )
        ms = to_ms(now)
        args = (ms, to_ms(now + timeout), worker, *_append_args(event), str(id), ms)
        again = (f"SELECT {_SELECT} FROM {self._t} WHERE id = ?", (str(id),))
        row = await self._write(lambda c: returned_row(c.execute(sql, args), *again))
        if row is None:
            return None
        self._wrote()
        return _written_job(row)

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
        sql, args = self._guarded(id, statuses, set, event, attempts, stalled_before, lock)
        sql += f" RETURNING {_SELECT}"
        again = (f"SELECT {_SELECT} FROM {self._t} WHERE id = ?", (str(id),))
        row = await self._write(lambda conn: returned_row(_lock_checked(conn, sql, args), *again))
        if row is None:
            return None
        self._wrote()
        return _written_job(row)

    async def update_only(
        self,
        id: ObjectId,
        *,
        statuses: Collection[Status] | None,
        set: dict[str, Any],
        event: Event | None = None,
        attempts: int | None = None,
        stalled_before: datetime | None = None,
        lock: bool | None = None,
    ) -> bool:
        sql, args = self._guarded(id, statuses, set, event, attempts, stalled_before, lock)
        count = await self._write(lambda conn: _lock_checked(conn, sql, args).rowcount)
        if count != 1:
            return False
        self._wrote()
        return True

    def _guarded(
        self,
        id: ObjectId,
        statuses: Collection[Status] | None,
        set: dict[str, Any],
        event: Event | None,
        attempts: int | None,
        stalled_before: datetime | None,
        lock: bool | None,
    ) -> tuple[str, list[Any]]:
        """The statement and arguments of a guarded update (see :meth:`Store.update`)."""
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
        return f"UPDATE {self._t} SET {', '.join(assignments)} WHERE {' AND '.join(where)}", args

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
        sql = f"SELECT {_SELECT} FROM {self._t} WHERE id = ?"
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
        sort: Sort | None = None,
        after: Job | None = None,
    ) -> list[Job]:
        q, order = find_query(status, name, text, query), (sort or NEWEST).sql()
        # keyset paging: only the rows after ``after`` in this order (see Sort.after_sql)
        keyset, after_args = ("1", []) if after is None else (sort or NEWEST).after_sql(after)
        sql = (
            f"SELECT {_SELECT} FROM {self._t} WHERE ({{where}}) AND {keyset}"
            f" ORDER BY {order} LIMIT ? OFFSET ?"
        )
        read = self._filtering.read(q, utcnow(), sql, [*after_args, row_count(limit), row_count(skip)])
        return [_to_job(r) for r in await sqlite_read(self._run, read, self.read_limit(q))]

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
            f"SELECT {_SELECT} FROM {self._t} WHERE status IN ('enqueued', 'dequeued', 'failed')"
            f" AND name IN ({', '.join('?' for _ in names)})"
        )
        rows = await self._run(lambda c: c.execute(sql, names).fetchall())
        return [_to_job(r) for r in rows]

    async def active_pages(self, names: Collection[str], size: int = 5000) -> AsyncGenerator[list[Job], None]:
        if self._conn is None:
            raise RuntimeError("the store is closed")
        names = list(names)
        if not names:
            return
        sql = (
            f"SELECT {_SELECT} FROM {self._t} WHERE status IN ('enqueued', 'dequeued', 'failed')"
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
                yield [_to_job(r) for r in rows]
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
        sql = f"INSERT INTO {self._t}_audit (at, who, source, action, ids, detail) VALUES (?, ?, ?, ?, ?, ?)"
        args = (to_ms(entry.at), entry.who, entry.source, entry.action, json.dumps(entry.ids), entry.detail)
        await self._run(lambda c: c.execute(sql, args), write=True)

    async def find_audit(self, limit: int = 100) -> list[AuditEntry]:
        sql = f"SELECT at, who, source, action, ids, detail FROM {self._t}_audit ORDER BY seq DESC LIMIT ?"
        rows = await self._run(lambda c: c.execute(sql, (row_count(limit),)).fetchall())
        return [audit_entry(r) for r in rows]

    # -- changes --------------------------------------------------------------

    async def watch(self) -> AsyncIterator[Change]:  # type: ignore[override]
        """Tail the change feed (see the module docstring); first yields ``reset``."""
        executor = SQLThread("queuecore-feed")
        waker = asyncio.Event()
        self._wakers[waker] = asyncio.get_running_loop()
        conn = await executor.run(self._open)
        t = self._t
        # The connection is used from two threads (this feed's and the store's), one call at
        # a time; the lock also keeps a call left running by a cancelled await from
        # overlapping the next one (or the close).
        using = threading.Lock()

        def position(c: sqlite3.Connection) -> int:
            with using:
                return c.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {t}_changes").fetchone()[0]

        def read(c: sqlite3.Connection, after: int) -> tuple[list[sqlite3.Row], int]:
            """The changes after ``after`` (at most 1,000), and the new position (-1: lost)."""
            rows = c.execute(
                f"SELECT c.seq AS _seq, c.op AS _op, c.id AS _cid, {_FEED_SELECT} FROM {t}_changes c"
                f" LEFT JOIN {t} j ON j.id = c.id WHERE c.seq > ? ORDER BY c.seq LIMIT 1000",
                (after,),
            ).fetchall()
            # A gap after our position: if the feed was trimmed past it, history is lost
            # (checked after reading, so a trim between the two queries is noticed too).
            if rows and rows[0][0] != after + 1:
                first = c.execute(f"SELECT MIN(seq) FROM {t}_changes").fetchone()[0]
                if first is not None and first > after + 1:
                    return [], -1
            return rows, (rows[-1][0] if rows else after)

        def read_tolerant(c: sqlite3.Connection, after: int) -> tuple[list[sqlite3.Row], int]:
            """:func:`read`, again leniently when a value is not UTF-8 (see ``decode.py``)."""
            return tolerant(lambda conn: read(conn, after))(c)

        def poll(c: sqlite3.Connection, after: int) -> tuple[list[sqlite3.Row], int]:
            with using:
                self._file.check(c, every=dbfile.CHECK_EVERY)
                return read_tolerant(c, after)

        def read_here(c: sqlite3.Connection, after: int) -> tuple[list[sqlite3.Row], int] | None:
            """:func:`read` on the calling thread if that costs no waiting, else None."""
            if self._file.gone or not using.acquire(blocking=False):
                return None
            try:
                c.execute("PRAGMA busy_timeout = 0")
                try:
                    return read_tolerant(c, after)
                except sqlite3.OperationalError:  # busy: the feed's thread waits instead
                    return None
                finally:
                    c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            finally:
                using.release()

        def data_version(c: sqlite3.Connection) -> int:
            with using:
                self._file.check(c, every=dbfile.CHECK_EVERY)
                return c.execute("PRAGMA data_version").fetchone()[0]

        def close(c: sqlite3.Connection) -> None:
            with using:
                self._file.release(c)

        try:
            seq = await executor.run(position, conn)
            yield Change("reset")
            version = -1
            local = False  # woken by a write of this process
            while True:
                waker.clear()
                # After a write of this process, read its changes right here, on the event
                # loop's thread, like the write itself (an indexed read of the few newest
                # rows), unless this feed's thread is using the connection or the read would
                # wait for a lock. Polls for other processes' writes, and a backlog after a
                # full batch, stay on this feed's thread.
                found = read_here(conn, seq) if local else None
                rows, new_seq = found or await executor.run(poll, conn, seq, quick=True)
                local = False
                if new_seq == -1:
                    seq = await executor.run(position, conn)
                    yield Change("reset")
                    continue
                seq = new_seq
                parsed: dict[str, tuple[tuple[Any, ...], Job]] = {}
                for row in rows:
                    yield _feed_change(row, parsed)
                if len(rows) == 1000:
                    continue
                # Wait for a write of this process, or poll for other processes' writes.
                local = waker.is_set()
                while not local:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                    # cancellation that races with the waker, and close() would hang.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.feed_interval):
                            await waker.wait()
                    local = waker.is_set()
                    if local:
                        break
                    current = await executor.run(data_version, conn)
                    if current != version:
                        version = current
                        break
        finally:
            self._wakers.pop(waker, None)
            with contextlib.suppress(Exception):
                await executor.run(close, conn)
            executor.shutdown(wait=False)

    # -- maintenance ----------------------------------------------------------

    async def ensure_indexes(self, remove_after: timedelta | None = None) -> None:
        t = self._t

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_status ON {t} (status, available_at)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_name ON {t} (name, status)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_created ON {t} (created_at, id)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_finished ON {t} (finished_at)")
            conn.execute(
                "INSERT INTO queuecore_meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"{t}.remove_after", str(remove_after.total_seconds()) if remove_after else ""),
            )

        await self._run(run, write=True)
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
            _trim_feed(conn, t)
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


_INSERT_COLUMNS = "id, name, label, data, status, created_at, available_at, events, trace, lock"
_INSERT_MARKS = ", ".join("?" * len(_INSERT_COLUMNS.split(", ")))


def _insert_values(job: Job, lock: bool) -> list[Any]:
    """A new job's values for ``_INSERT_COLUMNS``."""
    return [
        str(job.id),
        job.name,
        job.label,
        _encode("data", job.data),
        job.status.value,
        to_ms(job.created),
        to_ms(job.available),
        json.dumps([_event_entry(e) for e in job.events]),
        job.trace,
        lock_key(job.name, job.label) if lock else None,
    ]


def _trim_feed(conn: sqlite3.Connection, table: str) -> None:
    """Delete all but the newest FEED_KEEP rows of the change feed (a watcher further behind
    resets), at most ``_TRIM_CHUNK`` of the oldest per call: a long backlog (a file from before
    trimming) goes over several calls instead of holding the write lock for one long delete."""
    conn.execute(
        f"DELETE FROM {table}_changes WHERE seq <= min("
        f"(SELECT MAX(seq) FROM {table}_changes) - ?, (SELECT MIN(seq) FROM {table}_changes) + ?)",
        (FEED_KEEP, _TRIM_CHUNK),
    )


#: At most this many change-feed rows are deleted by one trim.
_TRIM_CHUNK = 20_000


def _lock_checked(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
    """Run a guarded update; a clash on the name+label lock is a :class:`LockConflict`."""
    try:
        return conn.execute(sql, args)
    except sqlite3.IntegrityError as exc:
        if "lock" in str(exc):
            raise LockConflict(str(exc)) from None
        raise


def _inserted(conn: sqlite3.Connection, sql: str, values: Sequence[Any]) -> bool:
    """Run one insert; False when the label's lock is held (nothing inserted)."""
    try:
        return conn.execute(sql, values).rowcount == 1
    except sqlite3.IntegrityError as exc:
        if "lock" in str(exc):
            return False
        raise


# Append one event to the JSON history, keeping the newest MAX_EVENTS.
_APPEND = (
    "CASE WHEN json_array_length(events) >= ?"
    " THEN json_insert(json_remove(events, '$[0]'), '$[#]', json(?))"
    " ELSE json_insert(events, '$[#]', json(?)) END"
)


def _append_args(event: Event) -> tuple[Any, ...]:
    encoded = json.dumps(_event_entry(event))
    return (MAX_EVENTS, encoded, encoded)


def _event_entry(event: Event) -> dict[str, Any]:
    """The stored form of an event about to be written; the event itself is what reading
    that entry back validates to, so it goes into the cache of validated entries."""
    entry = {"at": event.at.isoformat(), "status": str(event.status), "reason": event.reason}
    if type(event) is Event and type(event.status) is str and type(event.reason) is str:
        if len(_EVENT_CACHE) >= _EVENT_CACHE_SIZE:
            _EVENT_CACHE.clear()
        _EVENT_CACHE[(entry["at"], entry["status"], entry["reason"])] = event
    return entry


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


def _feed_change(row: sqlite3.Row, parsed: dict[str, tuple[tuple[Any, ...], Job]]) -> Change:
    """A change-feed row (``_seq, _op, _cid`` and the job's ``_COLUMNS``) as a Change.

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
        job = _feed_job(values)
        parsed[cid] = (values, job)
    return Change("insert" if row[1] == "insert" else "update", oid, job)
