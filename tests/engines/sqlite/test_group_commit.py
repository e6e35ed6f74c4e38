"""The SQLite engine's hot path (issue 6): jobs read back without field-by-field validation
are exactly the validated jobs; writes that share a transaction keep their own outcomes;
writes run on the event loop only while the database is free; the change feed notices
lost history; tracing costs nothing until a provider is set."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import ObjectId
from support.engines import insert_raw
from support.waits import wait_all

import queuecore
from queuecore import Blueprint, Change, Context, Job, Queue, Status, Task
from queuecore.job import MAX_EVENTS, Event
from queuecore.store.changes import Changes, Guard
from queuecore.store.sqlite import SQLiteStore
from queuecore.store.sqlite.codec import COLUMNS, SELECT, Codec, row_to_doc


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    assert isinstance(store, SQLiteStore)
    try:
        yield store
    finally:
        await store.close()


async def rows(store: SQLiteStore) -> list[tuple]:
    sql = f"SELECT {SELECT} FROM {store.collection} ORDER BY id"
    return [tuple(r) for r in await store._run(lambda c: c.execute(sql).fetchall())]


def validated(values: tuple) -> Job:
    """The job pydantic validates from a stored row (the path for rows of other programs)."""
    return Job.from_doc(row_to_doc(dict(zip(COLUMNS, values, strict=True))))


async def test_jobs_in_every_state_read_back_exactly_as_validated(sqlite: SQLiteStore) -> None:
    store = sqlite
    plain = await queuecore.enqueue(store, Blueprint("mail", data={"to": ["a", "b"], "n": 1.5}))
    labeled = await queuecore.enqueue(
        store, Blueprint("mail", label="weekly", delay=30), trace="00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    )
    done = await queuecore.enqueue(store, Blueprint("report"))
    running = await queuecore.enqueue(store, Blueprint("report"))
    busy = await queuecore.enqueue(store, Blueprint("report"))
    assert plain and labeled and done and running and busy
    await queuecore.dequeue(store, done.id, 30, worker="host:1:report")
    await queuecore.complete(store, done.id, {"rows": [1, 2], "nested": {"ok": True}})
    await queuecore.dequeue(store, running.id, 30)
    await queuecore.cancel_job(store, running.id, "operator said so")  # a cancel request
    await store.update(
        running.id,
        Guard.status(Status.DEQUEUED),
        Changes(progress=0.5, note="half", heartbeat=datetime.now(UTC)),
    )
    for _ in range(MAX_EVENTS):  # more history than is kept
        await queuecore.dequeue(store, busy.id, 30)
        await queuecore.fail(store, busy.id, "again", delay=0)
    await queuecore.cancel_job(store, plain.id)
    await queuecore.requeue(store, plain.id, delay=5)

    found = await rows(store)
    assert len(found) == 5
    codec = store._codec
    for values in found:
        fast = codec.fast_job(values)
        assert fast is not None, values
        slow = validated(values)
        assert fast == slow and fast.model_dump() == slow.model_dump()
        assert slow.malformed is None
        assert await store.get(fast.id) == slow
        assert codec.feed_job(values) == slow  # reused from the write's RETURNING where it matches
    assert len((await store.get(busy.id)).events) == MAX_EVENTS  # type: ignore[union-attr]


async def test_the_feed_copy_of_a_written_job_is_equal_but_shares_nothing(sqlite: SQLiteStore) -> None:
    feed = sqlite.watch()
    try:
        async with asyncio.timeout(10):
            assert (await anext(feed)).kind == "reset"
            job = await queuecore.enqueue(sqlite, Blueprint("mail", data={"to": ["a"]}))
            assert job is not None
            claimed = await queuecore.dequeue(sqlite, job.id, 30)
            assert claimed is not None
            while (change := await anext(feed)).job is None or change.job.status is not Status.DEQUEUED:
                pass
    finally:
        await feed.aclose()
    seen = change.job
    assert seen == claimed == await sqlite.get(job.id)
    assert seen.data is not claimed.data and seen.data["to"] is not claimed.data["to"]
    assert seen.events is not claimed.events


async def test_rows_written_by_other_programs_are_validated(sqlite: SQLiteStore) -> None:
    now = datetime.now(UTC)
    base = {"name": "work", "status": "enqueued", "created_at": now, "available_at": now}
    odd_but_valid = {
        **base,
        "_id": ObjectId(),
        "events": [
            {"at": "2024-05-01T10:00:00Z", "status": "enqueued", "extra": 1},
            {"at": 1714557600, "status": "dequeued", "reason": None},
        ],
        "progress": 1,
    }
    broken = {**base, "_id": ObjectId(), "data": "[1, 2]", "events": '[{"at": "soon"}]'}
    for doc in (odd_but_valid, broken):
        await insert_raw(sqlite, dict(doc))
    for values in await rows(sqlite):
        job = await sqlite.get(values[0])
        assert job == validated(values)
    good = await sqlite.get(odd_but_valid["_id"])
    assert good is not None and good.malformed is None and good.progress == 1.0
    assert [e.at for e in good.events] == [datetime(2024, 5, 1, 10, tzinfo=UTC)] * 2
    bad = await sqlite.get(broken["_id"])
    assert bad is not None and bad.malformed is not None


async def test_writes_in_one_transaction_keep_their_own_outcomes(sqlite: SQLiteStore) -> None:
    store = sqlite
    finished = await queuecore.enqueue(store, Blueprint("mail", label="L"))
    assert finished is not None
    await queuecore.dequeue(store, finished.id, 30)
    await queuecore.complete(store, finished.id)
    holder = await queuecore.enqueue(store, Blueprint("mail", label="L"))  # now holds the lock
    target = await queuecore.enqueue(store, Blueprint("mail"))
    assert holder is not None and target is not None

    # issued together, so they reach the SQLite thread as one batch (one transaction)
    outcomes = await asyncio.gather(
        *(queuecore.enqueue(store, Blueprint("mail", label="M")) for _ in range(5)),
        *(queuecore.dequeue(store, target.id, 30) for _ in range(5)),
        queuecore.requeue(store, finished.id),  # refused: "L" is active
        queuecore.enqueue(store, Blueprint("mail", data={"after": "the refused write"})),
        return_exceptions=True,
    )
    labeled, claims, requeued, last = outcomes[:5], outcomes[5:10], outcomes[10], outcomes[11]
    assert sum(j is not None for j in labeled) == 1  # the unique lock, inside one transaction
    assert sum(j is not None for j in claims) == 1  # the claim's guard, inside one transaction
    assert isinstance(requeued, queuecore.TransitionError)
    assert isinstance(last, Job) and await store.get(last.id) == last
    assert (await store.get(finished.id)).status is Status.COMPLETED  # type: ignore[union-attr]
    claimed = await store.get(target.id)
    assert claimed is not None and claimed.attempts == 1 and claimed.status is Status.DEQUEUED
    counts = await store.counts()
    assert counts.total == 5  # finished, holder, target, one "M", last


@pytest.mark.parametrize("where", ["event loop", "store thread"])
async def test_a_failed_group_transaction_reruns_each_write_once(sqlite: SQLiteStore, where: str) -> None:
    """When SQLite rolls a shared transaction back as a whole, nothing of it was written:
    each write runs again on its own, so none is lost and none is applied twice. Writes
    run on the event loop's thread when the database is free, else on the store's thread."""
    t = sqlite.collection
    executor, conn, inline = sqlite._executor, sqlite._conn, sqlite._inline
    assert conn is not None and inline is not None

    def write(fn):
        return inline.write(fn) if where == "event loop" else executor.write(conn, fn)

    def insert(name: str):
        def run(c) -> int:
            return c.execute(
                f"INSERT INTO {t} (id, name, status, created_at, available_at)"
                " VALUES (?, ?, 'enqueued', 0, 0)",
                (str(ObjectId()), name),
            ).rowcount

        return run

    def sabotage(c) -> None:
        c.execute("ROLLBACK")  # as SQLite does on some errors (SQLITE_FULL, SQLITE_IOERR, ...)
        raise OSError("disk trouble")

    results = await asyncio.gather(
        write(insert("a")), write(sabotage), write(insert("b")), return_exceptions=True
    )
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], Exception)
    names = sorted(r[1] for r in await rows(sqlite))
    assert names == ["a", "b"]


async def test_a_write_waits_for_a_lock_held_elsewhere_without_blocking_the_event_loop(
    sqlite: SQLiteStore,
) -> None:
    """Writes run on the event loop only when the database is free: while another
    connection holds the write lock, the write waits on the store's thread (the loop goes
    on) and lands once the lock is released."""
    other = sqlite3.connect(sqlite.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        pending = asyncio.create_task(queuecore.enqueue(sqlite, Blueprint("mail", data={"n": 1})))
        began = time.monotonic()
        for _ in range(20):  # the loop keeps turning while the write waits
            await asyncio.sleep(0.01)
        assert time.monotonic() - began < 2  # not stuck in a busy wait of the loop's thread
        assert not pending.done()
        other.execute("COMMIT")
        job = await asyncio.wait_for(pending, 10)
    finally:
        other.close()
    assert job is not None and await sqlite.get(job.id) == job


async def test_a_burst_of_writes_larger_than_one_transaction_is_written_whole(sqlite: SQLiteStore) -> None:
    jobs = await asyncio.gather(
        *(queuecore.enqueue(sqlite, Blueprint("mail", data={"n": n})) for n in range(700))
    )
    assert len({j.id for j in jobs if j is not None}) == 700
    stored = await sqlite.find(limit=1000)
    assert sorted(j.data["n"] for j in stored) == list(range(700))


async def test_a_board_load_stopped_midway_holds_no_snapshot(sqlite: SQLiteStore) -> None:
    """The paged load reads one snapshot on a connection of its own; once the load stops,
    even by cancellation with its traceback still around, no snapshot is left open (an open
    one would keep every process from starting the WAL over)."""
    await queuecore.enqueue_many(sqlite, [Blueprint("a", data={"n": n}) for n in range(10)])
    pages = sqlite.active_pages(["a"], size=2)
    assert len(await anext(pages)) == 2
    await queuecore.enqueue_many(sqlite, [Blueprint("b") for _ in range(50)])  # after the snapshot
    waiting = asyncio.ensure_future(anext(pages))
    waiting.cancel()
    try:
        await waiting
    except asyncio.CancelledError as exc:
        kept = exc  # as a cancelled feed task keeps it, with the load's frame in its traceback
    assert kept.__traceback__ is not None
    other = sqlite3.connect(sqlite.path, isolation_level=None)
    try:
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    assert busy == 0


async def test_the_wal_stays_small_while_the_event_loop_writes(sqlite: SQLiteStore) -> None:
    """The event loop's connection never checkpoints (a checkpoint syncs to disk): the
    store's thread does, so the WAL file is reused instead of growing with every write."""
    for n in range(1000):  # one commit each: ~20 KB of WAL apiece when never checkpointed
        await queuecore.enqueue(sqlite, Blueprint("mail", data={"n": n}))
    for _ in range(20):  # bursts: many writes per commit
        await asyncio.gather(
            *(queuecore.enqueue(sqlite, Blueprint("mail", data={"x": "x" * 1000})) for _ in range(100))
        )
    # batches: one transaction per call (all or nothing, so a call's rows are in the WAL at once)
    for _ in range(120):
        await queuecore.enqueue_many(sqlite, [Blueprint("mail", data={"x": "x" * 300}) for _ in range(250)])
    wal = sqlite.path.with_name(sqlite.path.name + "-wal")
    assert wal.stat().st_size < 10_000_000
    assert (await sqlite.counts()).total == 33_000


async def test_no_transaction_on_the_event_loop_writes_more_than_256_rows(sqlite: SQLiteStore) -> None:
    """Concurrent batches share transactions, but the event loop's thread holds the lock for
    at most 256 rows: a bigger batch (one transaction, all or nothing) runs on the store's thread."""
    inline = sqlite._inline
    assert inline is not None
    sizes: list[int] = []

    class Counting:
        """The event loop's connection, counting the rows each of its transactions inserts."""

        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, sql: str, *args):
            if sql.startswith("BEGIN"):
                sizes.append(0)
            elif sql.startswith("INSERT INTO jobs "):
                sizes[-1] += 1
            return self.conn.execute(sql, *args)

        def __getattr__(self, name: str):
            return getattr(self.conn, name)

    inline.conn = Counting(inline.conn)  # type: ignore[assignment]
    # a batch of more than 256 rows never runs there (it is one transaction: the store's thread)
    batches = [
        [Blueprint("mail", data={"b": b, "n": n}) for n in range(300 if b % 2 else 100)] for b in range(8)
    ]
    results = await asyncio.gather(*(queuecore.enqueue_many(sqlite, batch) for batch in batches))
    assert all(job is not None for batch in results for job in batch)
    assert sizes and max(sizes) <= 256
    assert (await sqlite.counts()).total == 1600


async def test_close_writes_what_was_made_before_it_and_refuses_what_comes_after(tmp_path: Path) -> None:
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    before = await asyncio.gather(
        queuecore.enqueue(store, Blueprint("mail", data={"n": 1})),  # made in the same iteration as the close
        store.close(),
    )
    with pytest.raises(RuntimeError, match="closed"):
        await queuecore.enqueue(store, Blueprint("mail"))
    with pytest.raises(RuntimeError, match="closed"):
        await asyncio.wait_for(store._executor.run(lambda: None), 5)  # type: ignore[attr-defined]
    reopened = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    try:
        assert before[0] is not None and await reopened.get(before[0].id) == before[0]
    finally:
        await reopened.close()


async def test_writes_are_committed_in_the_order_they_were_made(sqlite: SQLiteStore) -> None:
    """A burst whose first part finds the lock held elsewhere (and so goes to the store's
    thread) is still committed in order: the rest follows it there."""
    other = sqlite3.connect(sqlite.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        burst = asyncio.gather(
            *(queuecore.enqueue(sqlite, Blueprint("mail", data={"n": n})) for n in range(600))
        )
        await asyncio.sleep(0)  # the first transaction's worth is tried now, and handed over
        await asyncio.sleep(0)
        other.execute("COMMIT")
        await asyncio.wait_for(burst, 30)
    finally:
        other.close()
    t = sqlite.collection
    sql = f"SELECT j.data FROM {t}_changes c JOIN {t} j ON j.id = c.id WHERE c.op = 'insert' ORDER BY c.seq"
    committed = [json.loads(r[0])["n"] for r in await sqlite._run(lambda c: c.execute(sql).fetchall())]
    assert committed == list(range(600))


def test_a_history_read_again_after_a_write_equals_a_full_parse() -> None:
    """A job's history is parsed again after each write; only the entries appended since
    the last parse are new, and the result is always exactly what a full parse gives."""
    id = str(ObjectId())
    codec = Codec()

    def entry(second: int, reason: str = "") -> dict:
        return {"at": f"2026-01-01T00:00:{second:02d}+00:00", "status": "enqueued", "reason": reason}

    def text(*entries: dict) -> str:
        return json.dumps(list(entries), separators=(",", ":"))  # as SQLite's json_insert writes

    a, b, c, d = entry(1), entry(2), entry(3, 'odd "],[" reason'), entry(4)
    for history in [
        text(a),
        text(a, b),  # one appended
        text(a, b),  # read again unchanged
        text(entry(5), entry(6), d),  # rewritten: the same length up to a comma, other entries
        text(a, b),
        text(a, b, c, d),  # two appended, one with brackets in its text
        text(b, c, d),  # the oldest dropped (MAX_EVENTS)
        text(b, c, d, a),
        text(),
        text(d),
        json.dumps([d, a]),  # written by another program, other spacing
    ]:
        assert codec.events(history, id) == [Event.model_validate(e) for e in json.loads(history)], history
    for known, broken in [
        (text(a), text(a)[:-1] + ',{"at":]'),
        (text(a), text(a)[:-1] + ",]"),  # a trailing comma
        (text(a) + "\n", text(a) + "," + json.dumps(b) + "]"),  # the known text did not end with "]"
    ]:
        codec.events(known, id)
        with pytest.raises(ValueError):  # text that is not JSON fails like a full parse
            codec.events(broken, id)


async def test_feed_resets_when_its_history_was_trimmed(sqlite: SQLiteStore, tmp_path: Path) -> None:
    other = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")  # another process
    feed = sqlite.watch()
    try:
        async with asyncio.timeout(10):
            assert (await anext(feed)).kind == "reset"
            t = other.collection

            def burst(conn) -> None:
                """New jobs, and the feed trimmed past the watcher, in one transaction."""
                conn.execute("BEGIN IMMEDIATE")
                for _ in range(3):
                    conn.execute(
                        f"INSERT INTO {t} (id, name, status, created_at, available_at)"
                        " VALUES (?, 'work', 'enqueued', 0, 0)",
                        (str(ObjectId()),),
                    )
                conn.execute(f"DELETE FROM {t}_changes WHERE seq < (SELECT MAX(seq) FROM {t}_changes)")
                conn.execute("COMMIT")

            await other._run(burst)  # type: ignore[attr-defined]
            assert (await anext(feed)).kind == "reset"
    finally:
        await feed.aclose()
        await other.close()


async def test_a_database_made_by_an_earlier_version_keeps_working(tmp_path: Path) -> None:
    """Earlier versions made the lock a UNIQUE column and the feed's seq AUTOINCREMENT: such
    a file is used as it is (no second lock index), with the same guarantees."""
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE jobs (id TEXT PRIMARY KEY, name TEXT NOT NULL, label TEXT NOT NULL DEFAULT '',
                data TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, created_at INTEGER NOT NULL,
                available_at INTEGER NOT NULL, started_at INTEGER, ended_at INTEGER, finished_at INTEGER,
                attempts INTEGER NOT NULL DEFAULT 0, result TEXT, reason TEXT NOT NULL DEFAULT '',
                events TEXT NOT NULL DEFAULT '[]', worker TEXT NOT NULL DEFAULT '', progress REAL,
                note TEXT NOT NULL DEFAULT '', cancel_reason TEXT, heartbeat_at INTEGER, trace TEXT,
                lock TEXT UNIQUE);
            CREATE TABLE jobs_changes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, op TEXT NOT NULL);
            """
        )
    store = await queuecore.connect(f"sqlite:///{path}")
    try:
        indexes = await store._run(lambda c: [r[1] for r in c.execute("PRAGMA index_list(jobs)")])  # type: ignore[attr-defined]
        assert "jobs_lock" not in indexes
        first = await queuecore.enqueue(store, Blueprint("sync", label="user-1"))
        assert first is not None
        assert await queuecore.enqueue(store, Blueprint("sync", label="user-1")) is None
        feed = store.watch()
        try:
            assert (await anext(feed)).kind == "reset"
            await queuecore.dequeue(store, first.id, 30)
            change = await asyncio.wait_for(anext(feed), 10)
            assert change.job is not None and change.job.status is Status.DEQUEUED
        finally:
            await feed.aclose()
    finally:
        await store.close()
    fresh = await queuecore.connect(f"sqlite:///{tmp_path}/new.db")
    try:
        indexes = await fresh._run(lambda c: [r[1] for r in c.execute("PRAGMA index_list(jobs)")])  # type: ignore[attr-defined]
        assert "jobs_lock" in indexes  # a new file: the lock index holds only labeled active jobs
    finally:
        await fresh.close()


def test_without_a_tracer_provider_no_spans_are_made_until_one_is_set(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import queuecore
        from queuecore import Blueprint, Queue, Task

        seen = []

        async def handler(ctx):
            ctx.trace.set_attribute("x", 1)  # ctx.trace stays usable: a non-recording span
            seen.append(ctx.trace.is_recording())

        async def run_one(store):
            queue = Queue(store)
            queue.add(Task("t", handler))
            async with queue:
                job = await queue.enqueue(Blueprint("t"))
                async with asyncio.timeout(10):
                    while (await store.get(job.id)).status.value != "completed":
                        await asyncio.sleep(0.01)

        async def main():
            store = await queuecore.connect("sqlite:///{tmp_path}/j.db")
            await run_one(store)
            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)  # set late: spans from now on
            await run_one(store)
            await store.close()
            print(seen, sorted({{s.name for s in exporter.get_finished_spans()}}))

        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "[False, True] ['queuecore/Complete', 'queuecore/Dequeue', 'queuecore/Enqueue', 'queuecore/Execute']"
    )


async def test_one_worker_finishes_each_job_before_it_claims_the_next(sqlite: SQLiteStore) -> None:
    """A worker writes a completion together with its next claim (one round trip), yet the
    stored attempts of one worker never overlap, and every job ends completed once."""
    store = sqlite
    queue = Queue(store, max_lag=0)
    queue.add(Task("one", _noop, workers=1))
    jobs = [await queuecore.enqueue(store, Blueprint("one")) for _ in range(20)]
    ids = [j.id for j in jobs if j is not None]
    async with queue:
        done = await wait_all(store, ids, lambda j: j.status is Status.COMPLETED)
    trail = [Status.ENQUEUED.value, Status.DEQUEUED.value, Status.COMPLETED.value]
    assert all(j.attempts == 1 and [e.status for e in j.events] == trail for j in done)
    ordered = sorted(done, key=lambda j: (j.started, j.ended))
    for before, after in itertools.pairwise(ordered):
        assert before.ended is not None and after.started is not None
        assert before.ended <= after.started, (before.id, after.id)
    assert queue.stats()[0].processed == 20


async def test_close_writes_the_completion_of_a_handler_that_just_returned(sqlite: SQLiteStore) -> None:
    """Closing the queue right as a handler returns still completes its job: the pending
    completion write is awaited before the worker stops."""
    store = sqlite
    returned = asyncio.Event()

    async def handler(ctx: Context) -> None:
        returned.set()

    queue = Queue(store)
    queue.add(Task("quick", handler, workers=1))
    await queue.run()
    try:
        job = await queue.enqueue(Blueprint("quick"))
        assert job is not None
        async with asyncio.timeout(10):
            await returned.wait()
    finally:
        await queue.close()
    assert queue.stats()[0].processed == 1  # written by the time close() returned
    stored = await store.get(job.id)
    assert stored is not None and stored.status is Status.COMPLETED and stored.attempts == 1


async def _noop(ctx: Context) -> None:
    return None


def test_a_traced_attempt_completes_inside_its_execute_span(tmp_path: Path) -> None:
    """With a recording tracer the completion is written before the attempt's span ends (no
    overlap with the next claim): the Complete span is a child inside the Execute span."""
    code = textwrap.dedent(
        f"""
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import queuecore
        from queuecore import Blueprint, Queue, Task

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        async def handler(ctx):
            return None

        async def main():
            store = await queuecore.connect("sqlite:///{tmp_path}/j.db")
            queue = Queue(store)
            queue.add(Task("t", handler, workers=1))
            jobs = [await queuecore.enqueue(store, Blueprint("t")) for _ in range(3)]
            async with queue:
                async with asyncio.timeout(10):
                    while [(await store.get(j.id)).status.value for j in jobs] != ["completed"] * 3:
                        await asyncio.sleep(0.01)
            await store.close()
            spans = exporter.get_finished_spans()
            execute = {{s.context.span_id: s for s in spans if s.name == "queuecore/Execute"}}
            complete = [s for s in spans if s.name == "queuecore/Complete"]
            inside = [
                s.parent.span_id in execute and s.end_time <= execute[s.parent.span_id].end_time
                for s in complete
            ]
            print(len(execute), inside)

        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3 [True, True, True]"


async def test_a_write_wakes_a_watcher_that_waits_on_another_event_loop(sqlite: SQLiteStore) -> None:
    """A store shared by two event loops (threads): a write on one wakes a watcher waiting on the
    other at once, on that loop's own thread (an asyncio.Event set from another thread is a
    RuntimeError under asyncio's debug mode, and without it the other loop may sleep on)."""
    sqlite.feed_interval = 60.0  # only a wake-up from the write can deliver it in time
    seen: list[Change] = []
    got = threading.Event()
    failed: list[BaseException] = []

    async def watch() -> None:
        async for change in sqlite.watch():
            if change.kind == "insert":
                seen.append(change)
                got.set()
                return

    def other_loop() -> None:
        try:
            asyncio.run(asyncio.wait_for(watch(), 30), debug=True)
        except BaseException as exc:
            failed.append(exc)
            got.set()

    thread = threading.Thread(target=other_loop, daemon=True)
    thread.start()
    # wait until that watcher sleeps on its waker (it read the feed once and found nothing)
    deadline = time.monotonic() + 10
    while not any(getattr(w, "_waiters", None) for w in list(sqlite._feed.wakers)):
        assert time.monotonic() < deadline, "the watcher never started waiting"
        await asyncio.sleep(0.01)
    job = await queuecore.enqueue(sqlite, Blueprint("t"))
    assert job is not None
    assert await asyncio.to_thread(got.wait, 10), "the watcher on the other loop was not woken"
    thread.join(10)
    assert not failed, failed
    assert [c.id for c in seen] == [job.id]
