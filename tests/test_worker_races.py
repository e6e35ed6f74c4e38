"""Races in the worker runtime: a cancel request arriving between a claim and the start of
the attempt, jobs that finish before ``enqueue_many`` returns, ``close()`` while the board still
loads, and the wall clock stepped back under the board's local hold — on every engine."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from support.waits import wait_all, wait_job

import queuecore
from queuecore import Blueprint, Context, Queue, Status, Task
from queuecore import board as board_module


def finished(job: queuecore.Job) -> bool:
    return job.status in queuecore.FINISHED


async def test_a_cancel_request_arriving_between_claim_and_start_is_honoured(
    store: queuecore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator cancels a job just after a worker claimed it, while the worker still waits
    for the previous job's completion write: the request must not be lost."""
    # the completion is written while the next job is claimed unless the attempt is traced
    # (another test may have set a tracer provider for the whole session)
    monkeypatch.setattr(queuecore.tracing, "recording", lambda span: False)
    ran: list[str] = []
    second: list[queuecore.Job] = []
    enqueued = asyncio.Event()

    async def handler(ctx: Context) -> None:
        ran.append(ctx.job.data["n"])
        if ctx.job.data["n"] == "first":  # queue the next job while this one runs
            job = await ctx.queue.enqueue(Blueprint("t", data={"n": "second"}))
            assert job is not None
            second.append(job)
            enqueued.set()

    gate = asyncio.Event()
    real_update_only = store.update_only

    async def slow_completion(*args, **kw):  # the first job's completion waits for the gate
        await gate.wait()
        return await real_update_only(*args, **kw)

    store.update_only = slow_completion  # type: ignore[method-assign]
    queue = Queue(store)
    seen = asyncio.Event()
    real_check = queue._check

    def spy(job: queuecore.Job) -> None:
        real_check(job)
        if job.cancel_reason is not None:
            seen.set()

    queue._check = spy  # type: ignore[method-assign]
    queue.add(Task("t", handler, workers=1))
    async with queue:
        first = await queue.enqueue(Blueprint("t", data={"n": "first"}))
        assert first is not None
        await enqueued.wait()  # the first handler enqueued the second job
        await wait_job(store, second[0].id, lambda j: j.status is Status.DEQUEUED)
        await queuecore.cancel_job(store, second[0].id, "operator says stop")
        await seen.wait()  # the queue's feed delivered the request before the handler started
        gate.set()
        done = await wait_all(store, [first.id, second[0].id], finished)
    assert [j.status for j in done] == [Status.COMPLETED, Status.CANCELLED]
    assert done[1].reason == "operator says stop"
    assert ran == ["first"]


async def test_jobs_that_finish_before_enqueue_many_returns_stay_off_the_board(
    store: queuecore.Store,
) -> None:
    """Jobs that already ran while ``enqueue_many`` was still busy (a long list: the change
    feed delivers the first ones to the workers) must not come back onto the board as
    enqueued when it returns: workers would try to claim them again and again."""
    board_sizes: list[int] = []
    sentinel_ran = asyncio.Event()
    ran_meanwhile = asyncio.Event()
    batch: set[object] = set()

    async def handler(ctx: Context) -> None:
        if ctx.job.data.get("sentinel"):
            assert queue._board is not None
            board_sizes.append(len(queue._board))
            sentinel_ran.set()

    real_insert_many = store.insert_many

    async def slow_insert_many(items, **options):  # returns once one of its jobs ran and finished
        batch.update(job.id for job, _ in items)
        inserted = await real_insert_many(items, **options)
        await ran_meanwhile.wait()
        return inserted

    store.insert_many = slow_insert_many  # type: ignore[method-assign]
    queue = Queue(store)
    real_check = queue._check

    def spy(job: queuecore.Job) -> None:  # the queue's feed saw one of them finished
        real_check(job)
        if job.id in batch and finished(job):
            ran_meanwhile.set()

    queue._check = spy  # type: ignore[method-assign]
    queue.add(Task("t", handler, workers=2))
    async with queue:
        jobs = await queue.enqueue_many([Blueprint("t", data={"n": i}) for i in range(5)])
        await wait_all(store, [j.id for j in jobs if j], finished)
        # enqueued behind the queue's back: when it runs, the queue's feed has delivered every
        # earlier change (the feed is in order), so the board holds this job alone
        await queuecore.enqueue(store, Blueprint("t", data={"sentinel": True}))
        await sentinel_ran.wait()
    # a finished job left on the board would be claimed in vain every dequeue_interval
    assert board_sizes == [1], "finished jobs left on the board"


class _Clock:
    """A stand-in for the ``time`` module the board reads, with a wall clock that can jump."""

    def __init__(self) -> None:
        self.wall = 1_000_000.0
        self.mono = 50.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


def test_a_wall_clock_stepped_back_does_not_hold_a_job_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local hold after a pick is measured on the monotonic clock: when NTP steps the
    wall clock back an hour, a job that is due again (by the store's own clock) is taken,
    not held back locally for an hour."""
    clock = _Clock()
    monkeypatch.setattr(board_module, "time", clock)
    board = board_module.Board(["t"], max_lag=0, hold=2)
    now = datetime.fromtimestamp(clock.wall, UTC)
    job = queuecore.Job(
        id=ObjectId(), name="t", label="", data={}, status=Status.ENQUEUED, created=now, available=now
    )
    board.apply(job)
    assert board.pick("t") == (job.id, 0.0)  # picked: held back here for the next 2 s
    # the attempt failed with a short retry delay, then the wall clock was stepped back 1 h
    clock.wall -= 3600
    clock.mono += 5  # longer than the hold
    retry = datetime.fromtimestamp(clock.wall - 1, UTC)
    board.apply(job.model_copy(update={"status": Status.FAILED, "available": retry}))
    assert board.pick("t") == (job.id, 0.0)


async def test_close_while_the_board_still_loads_ends_run_quietly(store: queuecore.Store) -> None:
    """``close()`` (a signal handler) while ``run()`` still loads the board: ``run()`` returns
    instead of raising a CancelledError into a caller nobody cancelled, and nothing runs."""
    loading = asyncio.Event()
    never = asyncio.Event()

    async def blocked_pages(names, size=5000):
        loading.set()
        await never.wait()
        yield []

    store.active_pages = blocked_pages  # type: ignore[method-assign]

    async def handler(ctx: Context) -> None:
        pass

    queue = Queue(store)
    queue.add(Task("t", handler, periodically=3600))
    starting = asyncio.create_task(queue.run())
    await loading.wait()
    await queue.close()
    await starting  # neither hangs nor raises
    assert not queue.ready
    assert all(not r.workers for r in queue._runners.values())
    assert await store.find(name="t") == []  # the periodic job was not enqueued after close
