"""Heartbeats and stalled jobs, on both engines.

A dequeued job whose ``available`` (its claim's timeout) has passed is *stalled*: its
worker stopped heartbeating, and any worker may claim it again. Stalled is a display
status (``queuecore.display_status``, ``status:stalled`` in filters, ``counts()["stalled"]``);
the stored status stays ``dequeued``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bson import ObjectId
from support import engines
from support.waits import wait_job

import queuecore
from queuecore import Blueprint, Context, Job, Queue, Status, Task, display_status, parse
from queuecore._time import utcnow


class Reports(list):
    """A reporter that keeps what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def __call__(self, exc: BaseException) -> None:
        self.append(exc)
        self.arrived.set()


def test_display_status() -> None:
    now = utcnow()
    base = {
        "_id": ObjectId(),
        "name": "x",
        "created_at": now,
        "available_at": now,
    }
    dequeued = Job.model_validate({**base, "status": "dequeued"})
    assert display_status(dequeued, now) == queuecore.STALLED == "stalled"  # timeout reached
    assert display_status(dequeued, now - timedelta(milliseconds=1)) == "dequeued"
    assert display_status(Job.model_validate({**base, "status": "failed"}), now) == "failed"
    assert display_status(Job.model_validate({**base, "status": "enqueued"}), now) == "enqueued"
    assert Job.salvage({"status": "exploded"}, "bad").status == "exploded"
    assert display_status(Job.salvage({"status": "exploded"}, "bad"), now) == "exploded"


async def test_extend_records_the_heartbeat(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("beat"))
    assert job is not None
    claimed = await queuecore.dequeue(store, job.id, 30)
    assert claimed is not None and claimed.heartbeat is None
    task = Task("beat", lambda ctx: None, timeout=30, lifetime=30)
    ctx = Context(model=None, job=claimed, task=task, queue=None, store=store)
    assert await ctx.extend(120)
    beat = await store.get(job.id)
    assert beat is not None and beat.heartbeat is not None
    assert beat.available - beat.heartbeat == timedelta(seconds=120)
    assert beat.heartbeat >= claimed.started  # type: ignore[operator]
    # stored under the key dashboards and other ports read
    assert await engines.of(store).stored_time(store, job.id, "heartbeat_at") == beat.heartbeat
    assert await ctx.extend() and (await store.get(job.id)).heartbeat is not None  # type: ignore[union-attr]
    # once the attempt is over, extend() reports that the job is no longer ours
    await queuecore.complete(store, job.id)
    assert not await ctx.extend(120)


async def test_heartbeats_keep_the_claim_and_a_stalled_job_is_reclaimed(
    store: queuecore.Store, open_store
) -> None:
    """A handler hangs past its job's timeout: the automatic heartbeat (every timeout/2)
    extends the claim, so a second worker cannot take the job when the original timeout
    passes. When the lifetime ends the handler, the heartbeats stop: once the extended
    claim runs out the job is stalled — found by status:stalled, counted — and another
    worker claims and completes it."""
    other = await open_store()
    attempts: list[int] = []

    async def handler(ctx: Context) -> None:
        attempts.append(ctx.job.attempts)
        if ctx.job.attempts == 1:
            await asyncio.Event().wait()  # hangs until the lifetime cancels it

    reports = Reports()
    first = Queue(store, reporter=reports, max_lag=0)
    first.add(Task("hang", handler, timeout=2, lifetime=2))
    async with first:
        job = await first.enqueue(Blueprint("hang"))
        assert job is not None
        claimed = await wait_job(store, job.id, lambda j: j.status is Status.DEQUEUED)
        unextended = claimed.available  # the claim's end without heartbeats (started + timeout)
        beat = await wait_job(store, job.id, lambda j: j.heartbeat is not None)
        assert beat.available == beat.heartbeat + timedelta(seconds=2)  # type: ignore[operator]
        assert beat.available > unextended
        # the lifetime (= the timeout) ends the handler: the original claim has run out now
        await asyncio.wait_for(reports.arrived.wait(), 10)
        assert isinstance(reports[0], queuecore.LifetimeExceeded)
        first.pause("hang")  # this process stays out of the race from here on
        assert utcnow() >= unextended
        # ... yet a second worker cannot take the job: the heartbeat extended the claim
        assert await queuecore.dequeue(other, job.id, 30, worker="intruder") is None
        held = await store.get(job.id)
        assert held is not None and held.status is Status.DEQUEUED and held.attempts == 1
        # the last heartbeat (the one observed above, or one more at the lifetime's edge) set the claim
        assert held.heartbeat is not None and held.heartbeat >= beat.heartbeat  # type: ignore[operator]
        assert held.available == held.heartbeat + timedelta(seconds=2)

    # wait (by the job's own data) until the extended claim has run out
    await asyncio.sleep(max(0.0, (held.available - utcnow()).total_seconds()) + 0.01)
    stalled = await store.get(job.id)
    assert stalled is not None
    assert stalled.status is Status.DEQUEUED and display_status(stalled) == "stalled"
    assert stalled.heartbeat == held.heartbeat  # no more heartbeats after the handler ended
    assert [j.id for j in await store.find(status="stalled")] == [job.id]
    assert [j.id for j in await store.find(query=parse("status:stalled name:hang"))] == [job.id]
    assert await store.find(status="running") == []
    counts = await store.counts()
    assert (counts["dequeued"], counts["stalled"], counts["running"]) == (1, 1, 0)

    second = Queue(other, max_lag=0)
    second.add(Task("hang", handler, timeout=2, lifetime=2))
    async with second:
        done = await wait_job(other, job.id, lambda j: j.status is Status.COMPLETED)
    assert attempts == [1, 2] and done.attempts == 2
    claims = [e.at for e in done.events if e.status == Status.DEQUEUED]
    assert len(claims) == 2 and claims[1] >= held.available  # reclaimed only once stalled
    assert done.heartbeat is None  # a new claim starts without the old attempt's heartbeat
    assert (await store.counts())["stalled"] == 0
