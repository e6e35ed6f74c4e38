"""The SQLite engine's retention and change-feed trimming (no TTL index: the store purges
finished jobs and trims its feed itself)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from support.jobs import make

import queuecore
from queuecore import Blueprint, Status


async def test_sqlite_purges_finished_jobs_after_retention(tmp_path) -> None:
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    try:
        done = await make(store, Status.COMPLETED)
        gone = await make(store, Status.CANCELLED)
        kept = await make(store, Status.FAILED)
        waiting = await make(store, Status.ENQUEUED)
        await asyncio.sleep(0.3)  # let them age past the retention
        await queuecore.ensure_indexes(store, remove_after=0.2)
        left = {j.id for j in await store.find()}
        assert left == {kept.id, waiting.id}
        assert done.id not in left and gone.id not in left
        # a new store on the same file knows the retention (dashboards show it)
        again = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
        assert again.retention == timedelta(seconds=0.2)
        await again.close()
    finally:
        await store.close()


async def test_sqlite_trims_the_change_feed_without_retention(tmp_path, monkeypatch) -> None:
    """Every write adds a feed row; only the retention purge trimmed them, so a store without
    retention grew its feed table forever. A watcher left that far behind starts over."""
    import queuecore.store.sqlite.feed as feed

    monkeypatch.setattr(feed, "FEED_KEEP", 20)
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    feed = store.watch()
    try:
        assert (await anext(feed)).kind == "reset"  # then left behind while 100 jobs are written
        for _ in range(100):
            await queuecore.enqueue(store, Blueprint("work"))
        rows = await store._run(lambda c: c.execute("SELECT COUNT(*) FROM jobs_changes").fetchone()[0])
        assert rows <= 20 + 2  # at most FEED_KEEP // 10 writes since the last trim
        assert (await anext(feed)).kind == "reset"  # its history was trimmed: reload
        job = await queuecore.enqueue(store, Blueprint("work"))
        change = await anext(feed)
        assert (change.kind, change.id) == ("insert", job.id)  # and it goes on from there
    finally:
        await feed.aclose()
        await store.close()


async def test_sqlite_trims_the_change_feed_of_bulk_inserts_by_rows(tmp_path, monkeypatch) -> None:
    """A producer that only uses enqueue_many trims the feed as often as one enqueuing one by
    one: trimming is paced by rows written, not by calls."""
    import queuecore.store.sqlite.feed as feed

    monkeypatch.setattr(feed, "FEED_KEEP", 200)
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    try:
        for _ in range(3):
            await queuecore.enqueue_many(store, [Blueprint("work")] * 100)
        rows = await store._run(lambda c: c.execute("SELECT COUNT(*) FROM jobs_changes").fetchone()[0])
        assert rows == 200  # 300 written, the oldest 100 trimmed
    finally:
        await store.close()


async def test_sqlite_trims_a_long_feed_backlog_a_chunk_at_a_time(tmp_path, monkeypatch) -> None:
    """A file from before trimming may hold millions of feed rows: one trim deletes a bounded
    chunk of the oldest (the write lock is never held for one huge delete)."""
    import queuecore.store.sqlite.feed as feed

    monkeypatch.setattr(feed, "FEED_KEEP", 10)
    monkeypatch.setattr(feed, "TRIM_CHUNK", 25)
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")

    async def feed() -> list[int]:
        sql = "SELECT seq FROM jobs_changes ORDER BY seq"
        return await store._run(lambda c: [r[0] for r in c.execute(sql)])

    try:
        await queuecore.enqueue_many(store, [Blueprint("work")] * 100)  # one call: one trim
        assert await feed() == list(range(27, 101))  # seq 1..26 went
        await store.purge()  # each trim takes the next chunk
        assert await feed() == list(range(53, 101))
    finally:
        await store.close()
