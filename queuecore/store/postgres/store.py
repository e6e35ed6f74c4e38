"""The PostgreSQL store: the :class:`~queuecore.store.base.Store` methods as SQL (see the package)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import psycopg_pool
from bson import ObjectId

from ..._time import as_utc, utcnow
from ...audit import AuditEntry
from ...errors import QueryTimeout
from ...job import ACTIVE, FINISHED, Change, Job, Status
from ...query import Query, QueryRefused
from ...sort import NEWEST, Sort
from ..base import Store, find_query, parse_id, row_count
from ..changes import Changes, Guard
from ..common import Counts, audit_record, claim_changes
from . import batch, feed, schema, writes
from . import counts as pg_counts
from . import filter as pg_filter
from . import order as pg_order
from . import text as pgtext
from .codec import SELECT, Codec, dump_json, load_json
from .connect import connection, reachable, reaching

#: The server's refusals of a filter's statement as written (its fault, not the store's).
_REFUSED = (
    psycopg.errors.InvalidRegularExpression,
    psycopg.errors.ProgramLimitExceeded,
    psycopg.errors.StatementTooComplex,
    psycopg.errors.TooManyArguments,
)


class PostgresStore(Store):
    """Jobs in a PostgreSQL table. Open with ``queuecore.connect("postgresql://…")``."""

    engine = "postgresql"
    driver_errors = (psycopg.Error,)  # the pool's PoolTimeout and PoolClosed too

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool,
        conninfo: str,
        display_uri: str,
        collection: str,
        *,
        timeout: float = 5.0,
        icu: bool = True,
        poll_interval: float = 1.0,
    ) -> None:
        schema.check_name(collection)
        super().__init__(display_uri, collection)
        self.pool = pool
        #: The URI connections are made with (watchers open their own).
        self.conninfo = conninfo
        self.timeout = timeout
        #: Seconds a watcher waits for a notification before it reads the feed anyway.
        self.poll_interval = poll_interval
        self.codec = Codec()
        self.dialect = pg_filter.Dialect(icu)
        self._t = collection
        self._insert_sql = writes.insert_sql(collection)
        self._claim_sql = writes.claim_sql(collection)
        self._mode = feed.MODE_LISTEN_NOTIFY
        self._purger: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._writes = 0
        self._closed = False

    async def open(self, create: bool = True) -> None:
        from ...errors import ConnectError

        with reachable(self.display_uri):
            async with connection(self.pool) as conn:
                if not create:
                    if await schema.version(conn, self._t) is None:
                        raise ConnectError(f"no store at {self.display_uri} (no table {self._t!r})")
                else:
                    try:
                        await schema.migrate(conn, self._t)
                    except psycopg.errors.DuplicateTable as exc:
                        raise ConnectError(f"cannot open {self.display_uri}: {exc}") from None
                    except psycopg.errors.InsufficientPrivilege as exc:
                        raise ConnectError(f"PostgreSQL at {self.display_uri} refused: {exc}") from None
                retention = await schema.read_retention(conn, self._t)
        if retention:
            self._start_purger(timedelta(seconds=retention))

    def _wrote(self, rows: int = 1) -> None:
        """Trim the change feed every ``FEED_KEEP // 10`` rows written (in the background)."""
        self._writes += rows
        if self._writes < feed.FEED_KEEP // 10:
            return
        self._writes = 0
        task = asyncio.get_running_loop().create_task(self._trim())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _trim(self) -> None:
        with contextlib.suppress(psycopg.Error, psycopg_pool.PoolTimeout):
            async with connection(self.pool) as conn:
                await conn.execute(feed.trim_sql(self._t), [feed.FEED_KEEP, f"{self._t}.trimmed"])

    # -- writes ---------------------------------------------------------------

    @reaching
    async def insert(self, job: Job, *, lock: bool, unless_finished_after: datetime | None = None) -> bool:
        values = self.codec.insert_values(job, lock and bool(job.label))
        async with connection(self.pool) as conn:
            if unless_finished_after is None:
                cur = await conn.execute(self._insert_sql, values)
                inserted = cur.rowcount == 1
            else:
                async with conn.transaction(), conn.cursor() as cur:
                    await cur.execute(
                        writes.period_lock_sql(), [writes.period_key(self._t, job.name, job.label)]
                    )
                    inserted = await batch.insert_periodic(cur, self._t, job, values, unless_finished_after)
        if inserted:
            self._wrote()
        return inserted

    @reaching
    async def insert_many(
        self, items: Sequence[tuple[Job, bool]], *, since: Sequence[datetime | None] | None = None
    ) -> list[bool]:
        """One transaction for the whole call: all or nothing (see ``batch.py``)."""
        if not items:
            return []
        since = since or [None] * len(items)
        rows = [(job, self.codec.insert_values(job, lock and bool(job.label))) for job, lock in items]
        async with connection(self.pool) as conn:
            out = await batch.insert_all(conn, self._t, rows, since)
        if any(out):
            self._wrote(sum(out))
        return out

    @reaching
    async def claim(self, id: ObjectId, now: datetime, timeout: timedelta, worker: str) -> Job | None:
        changes = claim_changes(now, timeout, worker)
        assert changes.event is not None
        args = writes.claim_args(changes, self.codec.append_args(changes.event), str(id), now)
        async with connection(self.pool) as conn:
            cur = await conn.execute(self._claim_sql, args)
            row = await cur.fetchone()
        if row is None:
            return None
        self._wrote()
        return self.codec.to_job(row)

    @reaching
    async def update(self, id: ObjectId, guard: Guard, changes: Changes) -> Job | None:
        sql, args = self._guarded(id, guard, changes)
        async with connection(self.pool) as conn, conn.cursor() as cur:
            await writes.lock_checked(cur, self._t, sql + f" RETURNING {SELECT}", args)
            row = await cur.fetchone()
        if row is None:
            return None
        self._wrote()
        return self.codec.to_job(row)

    @reaching
    async def update_only(self, id: ObjectId, guard: Guard, changes: Changes) -> bool:
        sql, args = self._guarded(id, guard, changes)
        async with connection(self.pool) as conn, conn.cursor() as cur:
            await writes.lock_checked(cur, self._t, sql, args)
            count = cur.rowcount
        if count != 1:
            return False
        self._wrote()
        return True

    def _guarded(self, id: ObjectId, guard: Guard, changes: Changes) -> tuple[str, list[Any]]:
        event = changes.event
        return writes.guarded(
            self._t,
            str(id),
            guard,
            changes,
            event_args=None if event is None else self.codec.append_args(event),
        )

    @reaching
    async def delete(self, ids: Sequence[ObjectId]) -> int:
        if not ids:
            return 0
        async with connection(self.pool) as conn:
            cur = await conn.execute(f'DELETE FROM "{self._t}" WHERE id = ANY(%s)', [[str(i) for i in ids]])
            count = cur.rowcount
        if count:
            self._wrote(count)
        return count

    # -- reads ----------------------------------------------------------------

    @reaching
    async def get(self, id: ObjectId | str) -> Job | None:
        oid = parse_id(id)
        if oid is None:
            return None
        async with connection(self.pool) as conn:
            cur = await conn.execute(f'SELECT {SELECT} FROM "{self._t}" WHERE id = %s', [str(oid)])
            row = await cur.fetchone()
        return self.codec.to_job(row) if row is not None else None

    async def _filtered(self, sql: str, args: Sequence[Any], seconds: float | None) -> list[tuple[Any, ...]]:
        """A filtered read, stopped by the server after ``seconds`` (None: no limit) with
        :class:`QueryTimeout`; a statement the server refuses to run is :class:`QueryRefused`."""
        with reachable(self.display_uri):
            async with connection(self.pool) as conn:
                try:
                    if seconds is None:
                        cur = await conn.execute(sql, args)
                        return await cur.fetchall()
                    async with asyncio.timeout(seconds + self.timeout), conn.transaction():
                        await conn.execute(f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}")
                        cur = await conn.execute(sql, args)
                        return await cur.fetchall()
                except psycopg.errors.QueryCanceled:
                    raise QueryTimeout(seconds or 0) from None
                except TimeoutError:
                    raise QueryTimeout(seconds or 0) from None
                except _REFUSED as exc:
                    raise QueryRefused(
                        f"PostgreSQL cannot run this filter ({exc}); make it smaller"
                    ) from None

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
        q = find_query(status, name, text, query)
        order = sort or NEWEST
        where, args = pg_filter.compile_query(q, utcnow(), self.dialect)
        keyset, after_args = ("true", []) if after is None else pg_order.after(order, after)
        sql = (
            f'SELECT {SELECT} FROM "{self._t}" WHERE ({where}) AND {keyset}'
            f" ORDER BY {pg_order.order_by(order)} LIMIT %s OFFSET %s"
        )
        rows = await self._filtered(
            sql, [*args, *after_args, row_count(limit), row_count(skip)], self.read_limit(q)
        )
        return [self.codec.to_job(r) for r in rows]

    async def count(self, query: Query | None = None, *, cap: int | None = None) -> int:
        q = query or Query()
        where, args = pg_filter.compile_query(q, utcnow(), self.dialect)
        if cap is None:
            sql = f'SELECT count(*) FROM "{self._t}" WHERE {where}'
        else:
            sql = f'SELECT count(*) FROM (SELECT 1 FROM "{self._t}" WHERE {where} LIMIT %s) s'
            args = [*args, row_count(cap)]
        rows = await self._filtered(sql, args, self.read_limit(q))
        return int(rows[0][0])

    @reaching
    async def counts(self, cap: int | None = None) -> Counts:
        async with connection(self.pool) as conn:
            return await pg_counts.read(conn, self._t, utcnow(), cap)

    @reaching
    async def active(self, names: Collection[str]) -> list[Job]:
        names = list(names)
        if not names:
            return []
        async with connection(self.pool) as conn:
            cur = await conn.execute(*self._active_sql(names))
            rows = await cur.fetchall()
        return [self.codec.to_job(r) for r in rows]

    def _active_sql(self, names: list[str]) -> tuple[str, list[Any]]:
        sql = f'SELECT {SELECT} FROM "{self._t}" WHERE status = ANY(%s) AND name = ANY(%s)'
        return sql, [[s.value for s in ACTIVE], [pgtext.encode(n) for n in names]]

    async def active_pages(self, names: Collection[str], size: int = 5000) -> AsyncGenerator[list[Job], None]:
        """One snapshot for the whole load (a server-side cursor in a repeatable-read
        transaction), read a page at a time."""
        names = list(names)
        if not names:
            return
        with reachable(self.display_uri):
            async with connection(self.pool) as conn:
                async with conn.transaction():
                    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    async with conn.cursor(name="queuecore_active") as cur:
                        await cur.execute(*self._active_sql(names))
                        while rows := await cur.fetchmany(max(1, size)):
                            yield [self.codec.to_job(r) for r in rows]

    @reaching
    async def oldest_waiting(self, now: datetime | None = None) -> dict[str, datetime]:
        sql = (
            f'SELECT name, min(available_at) FROM "{self._t}"'
            " WHERE status IN ('enqueued', 'failed') AND available_at <= %s GROUP BY name"
        )
        async with connection(self.pool) as conn:
            cur = await conn.execute(sql, [now or utcnow()])
            rows = await cur.fetchall()
        out: dict[str, datetime] = {}
        for name, oldest in rows:
            if isinstance(name, str) and type(oldest) is datetime:
                out[pgtext.decode(name)] = as_utc(oldest)
        return out

    # -- audit log ------------------------------------------------------------

    @reaching
    async def insert_audit(self, entry: AuditEntry) -> None:
        record = audit_record(entry)
        values = [
            record["at"],
            *(pgtext.encode(record[k]) for k in ("who", "source", "action")),
            dump_json(record["ids"]),
            pgtext.encode(record["detail"]),
        ]
        sql = (
            f'INSERT INTO "{self._t}_audit" (at, who, source, action, ids, detail)'
            " VALUES (%s, %s, %s, %s, %s::jsonb, %s)"
        )
        async with connection(self.pool) as conn:
            await conn.execute(sql, values)

    @reaching
    async def find_audit(self, limit: int = 100) -> list[AuditEntry]:
        sql = f'SELECT at, who, source, action, ids, detail FROM "{self._t}_audit" ORDER BY seq DESC LIMIT %s'
        async with connection(self.pool) as conn:
            cur = await conn.execute(sql, [row_count(limit)])
            rows = await cur.fetchall()
        return [_audit_entry(r) for r in rows]

    # -- changes --------------------------------------------------------------

    def watch(self) -> AsyncIterator[Change]:
        """Read the change feed as notifications come (see ``feed.py``); first yields ``reset``."""
        return feed.watch(self)

    # -- maintenance ----------------------------------------------------------

    @reaching
    async def ensure_indexes(self, remove_after: timedelta | None = None) -> None:
        async with connection(self.pool) as conn:
            await schema.ensure_indexes(conn, self._t, remove_after)
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
                with contextlib.suppress(psycopg.Error, psycopg_pool.PoolTimeout, OSError):
                    await self.purge()

        self._purger = asyncio.get_running_loop().create_task(loop(), name="queuecore-purge")

    @reaching
    async def purge(self) -> int:
        """Delete finished jobs older than the retention, and trim the change feed."""
        removed = 0
        async with connection(self.pool) as conn:
            if self.retention:
                cur = await conn.execute(
                    f'DELETE FROM "{self._t}" WHERE status = ANY(%s) AND finished_at < %s',
                    [[s.value for s in FINISHED], utcnow() - self.retention],
                )
                removed = cur.rowcount
            await conn.execute(feed.trim_sql(self._t), [feed.FEED_KEEP, f"{self._t}.trimmed"])
        return removed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = [t for t in (self._purger, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.pool.close()


def _audit_entry(row: tuple[Any, ...]) -> AuditEntry:
    """An audit row as an entry; odd values (another program's) read as text or empty."""
    at, who, source, action, ids, detail = row
    try:
        listed = load_json(ids) if isinstance(ids, str) else []
    except (ValueError, RecursionError):
        listed = []
    return AuditEntry(
        at=as_utc(at) if type(at) is datetime else datetime.fromtimestamp(0, UTC),
        who=pgtext.decode(who or ""),
        source=pgtext.decode(source or ""),
        action=pgtext.decode(action or ""),
        ids=[str(i) for i in listed] if isinstance(listed, list) else [],
        detail=pgtext.decode(detail or ""),
    )
