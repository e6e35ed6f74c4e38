"""Jobs brought into a state through the public operations (the store tests' fixtures)."""

from __future__ import annotations

import queuecore
from queuecore import Blueprint, Status


async def make(store: queuecore.Store, status: Status, name: str = "work", **kw) -> queuecore.Job:
    """A job brought into ``status`` through the public operations."""
    job = await queuecore.enqueue(store, Blueprint(name, **kw))
    assert job is not None
    if status is Status.ENQUEUED:
        return job
    await queuecore.dequeue(store, job.id, 30)
    if status is Status.DEQUEUED:
        return (await store.get(job.id)) or job
    if status is Status.COMPLETED:
        return await queuecore.complete(store, job.id, {"ok": True})
    if status is Status.FAILED:
        return await queuecore.fail(store, job.id, "boom", delay=60)
    return await queuecore.cancel(store, job.id, "stop")
