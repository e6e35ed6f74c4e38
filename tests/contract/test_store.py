"""Reads, operator actions, indexes and malformed documents: the store contract every engine
passes (the change feed: test_feed.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from support import engines
from support.engines import insert_raw
from support.jobs import make

import queuecore
from queuecore import Blueprint, Status

# -- reads --------------------------------------------------------------------


async def test_find_filters_and_orders_newest_first(store: queuecore.Store) -> None:
    a = await make(store, Status.ENQUEUED, "mail", label="alice")
    b = await make(store, Status.FAILED, "mail")
    c = await make(store, Status.COMPLETED, "report")
    d = await make(store, Status.CANCELLED, "report", label="Quarterly")

    assert [j.id for j in await store.find()] == [d.id, c.id, b.id, a.id]
    assert [j.id for j in await store.find(status="failed")] == [b.id]
    assert [j.id for j in await store.find(status=["completed", Status.CANCELLED])] == [d.id, c.id]
    assert [j.id for j in await store.find(name="mail")] == [b.id, a.id]
    assert [j.id for j in await store.find(name="mail", status="enqueued")] == [a.id]
    # text matches name, label, reason (case-insensitively) and id
    assert [j.id for j in await store.find(text="quarter")] == [d.id]
    assert [j.id for j in await store.find(text="BOOM")] == [b.id]
    assert [j.id for j in await store.find(text="alic")] == [a.id]
    assert [j.id for j in await store.find(text=str(c.id))] == [c.id]
    assert [j.id for j in await store.find(text="%")] == []  # no wildcard leaks
    assert [j.id for j in await store.find(text=".*")] == []
    # paging
    assert [j.id for j in await store.find(limit=2)] == [d.id, c.id]
    assert [j.id for j in await store.find(limit=2, skip=2)] == [b.id, a.id]
    with pytest.raises(ValueError, match="unknown status 'sleeping'"):
        await store.find(status="sleeping")


async def test_active_jobs_come_in_pages_each_once(store: queuecore.Store) -> None:
    """A queue loads its board page by page (a large backlog is never held in full)."""
    waiting = [await make(store, Status.ENQUEUED, "a") for _ in range(8)]
    running = await make(store, Status.DEQUEUED, "a")
    failed = await make(store, Status.FAILED, "a")
    await make(store, Status.COMPLETED, "a")
    await make(store, Status.CANCELLED, "a")
    other = await make(store, Status.ENQUEUED, "b")
    pages = [page async for page in store.active_pages(["a"], size=4)]
    assert [len(page) for page in pages] == [4, 4, 2]
    found = [job for page in pages for job in page]
    assert sorted(j.id for j in found) == sorted(j.id for j in [*waiting, running, failed])
    assert {j.id: j for j in found}[failed.id] == failed  # full jobs, as active() gives them
    both = [job async for page in store.active_pages(["a", "b"], size=100) for job in page]
    assert sorted(j.id for j in both) == sorted(j.id for j in [*waiting, running, failed, other])
    assert [page async for page in store.active_pages([])] == []


async def test_counts_per_status(store: queuecore.Store) -> None:
    assert await store.counts() == {**{s.value: 0 for s in Status}, "running": 0, "stalled": 0}
    for status in (Status.ENQUEUED, Status.ENQUEUED, Status.FAILED, Status.COMPLETED):
        await make(store, status)
    assert await store.counts() == {
        "enqueued": 2,
        "dequeued": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
        "running": 0,
        "stalled": 0,
    }


async def test_get_accepts_hex_ids_and_rejects_garbage(store: queuecore.Store) -> None:
    job = await make(store, Status.ENQUEUED)
    assert await store.get(str(job.id)) == job
    assert await store.get("not-an-id") is None
    assert await store.get(ObjectId()) is None


# -- operator actions ---------------------------------------------------------


@pytest.mark.parametrize("status", [Status.ENQUEUED, Status.FAILED])
async def test_cancel_job_cancels_waiting_jobs_at_once(store: queuecore.Store, status: Status) -> None:
    job = await make(store, status, label="only")
    cancelled = await queuecore.cancel_job(store, job.id, "operator said so")
    assert cancelled.status is Status.CANCELLED
    assert cancelled.reason == "operator said so"
    assert cancelled.finished is not None
    assert await queuecore.enqueue(store, Blueprint("work", label="only")) is not None


async def test_cancel_job_requests_cancellation_of_a_running_job(store: queuecore.Store) -> None:
    job = await make(store, Status.DEQUEUED)
    requested = await queuecore.cancel_job(store, job.id, "too slow")
    assert requested.status is Status.DEQUEUED
    assert requested.cancel_reason == "too slow"
    assert requested.events[-1].status == "cancel-requested"
    # the worker then cancels it for good, which clears the request
    done = await queuecore.cancel(store, job.id, requested.cancel_reason)
    assert done.status is Status.CANCELLED and done.cancel_reason is None


async def test_cancel_job_cancels_a_stalled_job_at_once(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    await queuecore.dequeue(store, job.id, 0.1)
    await asyncio.sleep(0.2)  # its worker died: the claim ran out
    cancelled = await queuecore.cancel_job(store, job.id)
    assert cancelled.status is Status.CANCELLED


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.CANCELLED])
async def test_cancel_job_refuses_finished_jobs(store: queuecore.Store, status: Status) -> None:
    job = await make(store, status)
    with pytest.raises(queuecore.TransitionError, match=f"it is {status.value}"):
        await queuecore.cancel_job(store, job.id)
    assert await store.get(job.id) == job
    with pytest.raises(queuecore.MissingJobError, match="no job"):
        await queuecore.cancel_job(store, ObjectId())


@pytest.mark.parametrize("status", [Status.FAILED, Status.CANCELLED, Status.COMPLETED])
async def test_requeue_puts_a_job_back(store: queuecore.Store, status: Status) -> None:
    job = await make(store, status)
    now = datetime.now(UTC)
    again = await queuecore.requeue(store, job.id)
    assert again.status is Status.ENQUEUED
    assert again.attempts == 0
    assert again.finished is None
    assert abs((again.available - now).total_seconds()) < 2
    assert again.events[-1].status == "enqueued"
    assert await queuecore.dequeue(store, job.id, 30) is not None


async def test_requeue_with_delay_and_refusals(store: queuecore.Store) -> None:
    job = await make(store, Status.COMPLETED)
    again = await queuecore.requeue(store, job.id, delay=120)
    assert again.available > datetime.now(UTC) + timedelta(seconds=100)
    with pytest.raises(queuecore.TransitionError, match="it is enqueued"):
        await queuecore.requeue(store, job.id)
    running = await make(store, Status.DEQUEUED)
    with pytest.raises(queuecore.TransitionError, match="it is dequeued"):
        await queuecore.requeue(store, running.id)
    with pytest.raises(queuecore.MissingJobError):
        await queuecore.requeue(store, ObjectId())


async def test_requeue_respects_the_label(store: queuecore.Store) -> None:
    old = await make(store, Status.CANCELLED, label="acct-7")
    await make(store, Status.ENQUEUED, label="acct-7")
    with pytest.raises(queuecore.TransitionError, match="another job 'work' with label 'acct-7'"):
        await queuecore.requeue(store, old.id)
    assert (await store.get(old.id)).status is Status.CANCELLED  # type: ignore[union-attr]


# -- malformed documents ------------------------------------------------------


async def test_malformed_documents_are_salvaged_not_raised(store: queuecore.Store) -> None:
    good = await make(store, Status.ENQUEUED)
    now = datetime.now(UTC)
    bad_id = ObjectId()
    await insert_raw(
        store,
        {
            "_id": bad_id,
            "name": "work",
            "status": "exploded",
            "created_at": now,
            "available_at": now,
            "data": engines.of(store).bad_data,
        },
    )
    jobs = await store.find()
    assert [j.id for j in jobs] == [bad_id, good.id]
    bad = jobs[0]
    assert bad.malformed is not None and "status" in bad.malformed
    assert bad.status == "exploded" and bad.name == "work"
    assert jobs[1].malformed is None
    assert (await store.get(bad_id)).malformed  # type: ignore[union-attr]
    counts = await store.counts()
    assert counts["exploded"] == 1 and counts["enqueued"] == 1


# -- indexes ------------------------------------------------------------------


async def test_ensure_indexes_with_retention(store: queuecore.Store) -> None:
    await queuecore.ensure_indexes(store)
    assert store.retention is None
    await queuecore.ensure_indexes(store, remove_after=timedelta(hours=1))
    assert store.retention == timedelta(hours=1)
