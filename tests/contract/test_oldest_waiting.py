"""``store.oldest_waiting()``: the queue latency a dashboard shows, on both engines.

Per task name, the ``available`` time of its oldest waiting job — enqueued or failed, and
available by now — computed in the database. Running, finished and not-yet-available jobs
never count, nor do documents another program wrote with a bad name or ``available`` time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bson import ObjectId
from support import engines
from support.engines import insert_raw

import queuecore
from queuecore import Blueprint, Status
from queuecore._time import utcnow


async def put(store: queuecore.Store, name: Any, status: str, available: Any) -> None:
    """A job document as another program might write it."""
    now = utcnow()
    await insert_raw(
        store,
        {"_id": ObjectId(), "name": name, "status": status, "created_at": now, "available_at": available},
    )


async def test_oldest_waiting_job_per_task(store: queuecore.Store) -> None:
    assert await store.oldest_waiting() == {}
    now = utcnow()
    ago = lambda seconds: now - timedelta(seconds=seconds)  # noqa: E731
    await put(store, "mail", Status.ENQUEUED.value, ago(60))
    await put(store, "mail", Status.FAILED.value, ago(90))  # a failed job waits for its retry
    await put(store, "mail", Status.ENQUEUED.value, ago(30))
    await put(store, "sync", Status.ENQUEUED.value, ago(10))
    # not waiting: running, finished, or not available yet
    await put(store, "mail", Status.DEQUEUED.value, ago(600))
    await put(store, "mail", Status.COMPLETED.value, ago(700))
    await put(store, "mail", Status.CANCELLED.value, ago(800))
    await put(store, "report", Status.DEQUEUED.value, ago(100))
    await put(store, "report", Status.ENQUEUED.value, now + timedelta(hours=1))
    await put(store, "report", Status.FAILED.value, now + timedelta(hours=2))

    assert await store.oldest_waiting(now) == {"mail": ago(90), "sync": ago(10)}
    later = now + timedelta(hours=1)
    assert await store.oldest_waiting(later) == {
        "mail": ago(90),
        "sync": ago(10),
        "report": now + timedelta(hours=1),
    }
    # without ``now``: the current time
    assert set(await store.oldest_waiting()) == {"mail", "sync"}


async def test_jobs_enqueued_through_the_api_are_waiting_until_claimed(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("resize"))
    assert job is not None
    found = await store.oldest_waiting()
    assert found == {"resize": job.available}
    assert found["resize"].tzinfo is not None
    await queuecore.dequeue(store, job.id, 30)
    assert await store.oldest_waiting() == {}
    await queuecore.fail(store, job.id, "boom", delay=0)
    failed = await store.get(job.id)
    assert failed is not None and failed.status is Status.FAILED
    assert await store.oldest_waiting() == {"resize": failed.available}


async def test_bad_documents_are_left_out(store: queuecore.Store) -> None:
    now = utcnow()
    await put(store, "ok", Status.ENQUEUED.value, now - timedelta(seconds=5))
    await put(store, "bad-date", Status.ENQUEUED.value, "yesterday")
    await put(store, "bad-status", "weird", now - timedelta(seconds=5))
    if engines.of(store).keeps_raw_types:  # SQLite's name column is TEXT: a number is stored as text
        await put(store, 42, Status.ENQUEUED.value, now - timedelta(seconds=5))
        await put(store, None, Status.ENQUEUED.value, now - timedelta(seconds=5))
    assert await store.oldest_waiting(now) == {"ok": now - timedelta(seconds=5)}
