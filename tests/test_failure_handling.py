"""How the queue handles failures around a handler: one that raises CancelledError itself is
an ordinary failure, a slow reporter does not hold the failure back, and a periodic enqueue
that fails is retried before its next interval — on every engine."""

from __future__ import annotations

import asyncio

from support.waits import wait_job

import queuecore
from queuecore import Blueprint, Context, Queue, Status, Task
from queuecore.errors import ConnectError


def finished(job: queuecore.Job) -> bool:
    return job.status in queuecore.FINISHED


class Reports(list):
    """A reporter that keeps what it is given."""

    def __call__(self, exc: BaseException) -> None:
        self.append(exc)


async def test_a_handler_raising_cancelled_error_itself_is_an_ordinary_failure(
    store: queuecore.Store,
) -> None:
    """A handler that raises CancelledError on its own (not interrupted by the queue) is
    reported and counts against max_attempts, instead of being retried at once forever."""
    attempts: list[int] = []

    async def handler(ctx: Context) -> None:
        attempts.append(ctx.job.attempts)
        raise asyncio.CancelledError()

    reports = Reports()
    queue = Queue(store, reporter=reports)
    queue.add(Task("t", handler, max_attempts=1))
    async with queue:
        job = await queue.enqueue(Blueprint("t"))
        assert job is not None
        done = await wait_job(store, job.id, finished)
    assert done.status is Status.CANCELLED and done.attempts == 1
    assert attempts == [1]
    assert any(isinstance(r, asyncio.CancelledError) for r in reports)
    assert queue.stats()[0].failed == 1


async def test_a_slow_reporter_does_not_hold_back_the_failure(store: queuecore.Store) -> None:
    """The failure of a job is written before the reporter is called, so a slow error
    tracker neither leaves the job looking as running nor lets its claim run out."""
    gate = asyncio.Event()
    reported = asyncio.Event()

    async def reporter(exc: BaseException) -> None:
        reported.set()
        await gate.wait()

    async def handler(ctx: Context) -> None:
        raise RuntimeError("boom")

    queue = Queue(store, reporter=reporter)
    queue.add(Task("t", handler, min_delay=60))
    try:
        async with queue:
            job = await queue.enqueue(Blueprint("t"))
            assert job is not None
            failed = await wait_job(store, job.id, lambda j: j.status is Status.FAILED)
            assert failed.reason == "boom" and failed.attempts == 1
            await reported.wait()
            gate.set()
    finally:
        gate.set()


async def test_a_periodic_enqueue_that_fails_is_retried_before_the_next_interval(
    store: queuecore.Store,
) -> None:
    """A daily job whose enqueue fails at start (the database blinked) is enqueued as soon
    as the database is back, not a day later."""
    real_insert = store.insert
    failures = [ConnectError("database unreachable")]

    async def flaky_insert(*args, **kw):
        if failures:
            raise failures.pop()
        return await real_insert(*args, **kw)

    store.insert = flaky_insert  # type: ignore[method-assign]
    ran = asyncio.Event()

    async def handler(ctx: Context) -> None:
        ran.set()

    reports = Reports()
    queue = Queue(store, reporter=reports)
    queue.add(Task("daily", handler, periodically=86400))
    async with queue:
        async with asyncio.timeout(15):
            await ran.wait()
    assert any(isinstance(r, ConnectError) for r in reports)
    [job] = await store.find(name="daily")
    assert job.status is Status.COMPLETED
