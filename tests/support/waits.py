"""Helpers for tests: wait on store events (never sleep-and-hope)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bson import ObjectId

from queuecore import Job, Store


async def wait_job(store: Store, id: ObjectId, predicate: Callable[[Job], bool], timeout: float = 15) -> Job:
    """Wait, on the store's change feed, until the job satisfies ``predicate``."""
    async with asyncio.timeout(timeout):
        async for change in store.watch():
            if change.kind == "reset" or change.id == id:
                job = await store.get(id)
                if job is not None and predicate(job):
                    return job
    raise AssertionError("unreachable")


async def wait_all(
    store: Store, ids: list[ObjectId], predicate: Callable[[Job], bool], timeout: float = 30
) -> list[Job]:
    """Wait until every job in ``ids`` satisfies ``predicate``."""
    pending = set(ids)
    async with asyncio.timeout(timeout):
        async for change in store.watch():
            if change.kind == "reset":
                check = set(pending)
            elif change.id in pending:
                check = {change.id}
            else:
                continue
            for id in check:
                job = await store.get(id)
                if job is not None and predicate(job):
                    pending.discard(id)
            if not pending:
                return [j for j in [await store.get(i) for i in ids] if j is not None]
    raise AssertionError("unreachable")
