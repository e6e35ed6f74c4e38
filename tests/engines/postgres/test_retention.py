"""Retention on PostgreSQL is a periodic purge: completed and cancelled jobs finished longer ago
than ``remove_after`` are deleted (and their deletes reach watchers); the others stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from support.jobs import make

import queuecore
from queuecore import Status


async def test_finished_jobs_past_the_retention_are_purged(store: queuecore.Store) -> None:
    done = await make(store, Status.COMPLETED)
    cancelled = await make(store, Status.CANCELLED)
    failed = await make(store, Status.FAILED)
    waiting = await make(store, Status.ENQUEUED)
    await asyncio.sleep(0.3)
    watch = store.watch()
    try:
        assert (await anext(watch)).kind == "reset"
        await queuecore.ensure_indexes(store, remove_after=timedelta(milliseconds=200))
        deleted = set()
        async with asyncio.timeout(10):
            while deleted != {done.id, cancelled.id}:
                change = await anext(watch)
                if change.kind == "delete":
                    deleted.add(change.id)
    finally:
        await watch.aclose()
    assert {j.id for j in await store.find()} == {failed.id, waiting.id}
    fresh = await make(store, Status.COMPLETED)  # purged by the store's timer, later
    async with asyncio.timeout(10):
        while await store.get(fresh.id) is not None:  # noqa: ASYNC110 - no event for the purge
            await asyncio.sleep(0.05)
