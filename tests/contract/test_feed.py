"""The change feed: ``watch()`` starts with a reset, then streams every insert, update and
delete, in order — on every engine."""

from __future__ import annotations

import asyncio

import queuecore
from queuecore import Blueprint, Status


async def next_change(it, kind: str | None = None, timeout: float = 10) -> queuecore.Change:
    async with asyncio.timeout(timeout):
        while True:
            change = await anext(it)
            if kind is None or change.kind == kind:
                return change


async def test_watch_starts_with_reset_then_streams_changes(store: queuecore.Store, open_store) -> None:
    other = await open_store()  # changes made by "another process"
    feed = store.watch()
    try:
        first = await next_change(feed)
        assert first.kind == "reset"
        job = await queuecore.enqueue(other, Blueprint("work", data={"n": 1}))
        assert job is not None
        inserted = await next_change(feed, "insert")
        assert inserted.id == job.id and inserted.job == job

        await queuecore.dequeue(other, job.id, 30)
        updated = await next_change(feed, "update")
        assert updated.id == job.id and updated.job is not None
        assert updated.job.status is Status.DEQUEUED

        await other.delete([job.id])
        deleted = await next_change(feed, "delete")
        assert deleted.id == job.id and deleted.job is None
    finally:
        await feed.aclose()


async def test_watch_sees_every_transition_in_order(store: queuecore.Store) -> None:
    feed = store.watch()
    try:
        await next_change(feed, "reset")
        job = await queuecore.enqueue(store, Blueprint("work"))
        assert job is not None
        await queuecore.dequeue(store, job.id, 30)
        await queuecore.fail(store, job.id, "x")
        await queuecore.dequeue(store, job.id, 30)
        await queuecore.complete(store, job.id)
        seen = []
        while len(seen) < 5:
            change = await next_change(feed)
            if change.id == job.id and change.job is not None:
                seen.append((change.kind, change.job.status.value))
        # one event per write, in order; like MongoDB's updateLookup each carries the
        # job as it is when the event is read, so the last one shows it completed
        assert [kind for kind, _ in seen] == ["insert", "update", "update", "update", "update"]
        assert seen[-1][1] == "completed"
    finally:
        await feed.aclose()
