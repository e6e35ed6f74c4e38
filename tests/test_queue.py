"""Worker execution, the board, periodic jobs and shutdown — on both engines.

Tests run the queue until the jobs they care about reach the expected state
(awaited on the store's change feed), then assert: no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from pydantic import BaseModel
from support.engines import insert_raw
from support.waits import wait_all, wait_job

import queuecore
from queuecore import Blueprint, Context, Queue, Status, Task


def finished(job: queuecore.Job) -> bool:
    return job.status in queuecore.FINISHED


class Reports(list):
    """A reporter that keeps what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def __call__(self, exc: BaseException) -> None:
        self.append(exc)
        self.arrived.set()


async def enqueue(store: queuecore.Store, name: str, **kw) -> queuecore.Job:
    job = await queuecore.enqueue(store, Blueprint(name, **kw))
    assert job is not None
    return job


async def test_success_completes_with_the_result(store: queuecore.Store) -> None:
    async def handler(ctx: Context) -> None:
        ctx.result["echo"] = ctx.job.data["n"] * 2

    queue = Queue(store)
    queue.add(Task("double", handler))
    async with queue:
        jobs = [await queue.enqueue(Blueprint("double", data={"n": i})) for i in range(10)]
        done = await wait_all(store, [j.id for j in jobs if j], finished)
    assert all(j.status is Status.COMPLETED for j in done)
    assert sorted(j.result["echo"] for j in done if j.result) == [i * 2 for i in range(10)]
    assert all(j.attempts == 1 and j.worker.endswith(":double") for j in done)


async def test_a_batch_enqueued_at_once_is_run_in_full(store: queuecore.Store) -> None:
    async def handler(ctx: Context) -> None:
        ctx.result["echo"] = ctx.job.data["n"]

    queue = Queue(store)
    queue.add(Task("echo", handler, workers=4))
    async with queue:
        jobs = await queue.enqueue_many([Blueprint("echo", data={"n": i}) for i in range(60)])
        done = await wait_all(store, [j.id for j in jobs if j], finished)
    assert len(done) == 60 and all(j.status is Status.COMPLETED and j.attempts == 1 for j in done)
    assert sorted(j.result["echo"] for j in done if j.result) == list(range(60))


async def test_jobs_enqueued_elsewhere_wake_idle_workers(store: queuecore.Store, open_store) -> None:
    other = await open_store()  # another process enqueues
    seen = []

    async def handler(ctx: Context) -> None:
        seen.append(ctx.job.id)

    queue = Queue(store)
    queue.add(Task("t", handler))
    async with queue:
        job = await enqueue(other, "t")
        await wait_job(store, job.id, finished)
    assert seen == [job.id]


async def test_delayed_job_runs_once_due(store: queuecore.Store) -> None:
    starts = []

    async def handler(ctx: Context) -> None:
        starts.append(queuecore._time.utcnow())

    queue = Queue(store)
    queue.add(Task("later", handler))
    async with queue:
        job = await queue.enqueue(Blueprint("later", delay=0.5))
        assert job is not None
        done = await wait_job(store, job.id, finished)
    assert done.status is Status.COMPLETED
    assert starts[0] >= job.available


async def test_model_is_validated_into_ctx_model(store: queuecore.Store) -> None:
    class Mail(BaseModel):
        to: str
        retries: int = 0

    got = []

    async def handler(ctx: Context) -> None:
        got.append(ctx.model)

    reports = Reports()
    queue = Queue(store, reporter=reports)
    queue.add(Task("mail", handler, model=Mail))
    async with queue:
        ok = await queue.enqueue(Blueprint("mail", model=Mail(to="a@b.c")))
        bad = await queue.enqueue(Blueprint("mail", data={"retries": "many"}))
        assert ok and bad
        ok_done, bad_done = await wait_all(store, [ok.id, bad.id], finished)
    assert got == [Mail(to="a@b.c")]
    assert ok_done.status is Status.COMPLETED
    assert bad_done.status is Status.CANCELLED
    assert "to: Field required" in bad_done.reason and "retries" in bad_done.reason


async def test_sync_handlers_run_in_a_thread(store: queuecore.Store) -> None:
    threads = []

    def handler(ctx: Context) -> None:
        threads.append(threading.current_thread())
        ctx.result["sync"] = True

    queue = Queue(store)
    queue.add(Task("sync", handler))
    async with queue:
        job = await enqueue(store, "sync")
        done = await wait_job(store, job.id, finished)
    assert done.result == {"sync": True}
    assert threads and threads[0] is not threading.main_thread()


async def test_error_with_retry_fails_with_backoff_then_succeeds(store: queuecore.Store) -> None:
    calls = []

    async def handler(ctx: Context) -> None:
        calls.append(ctx.job.attempts)
        if ctx.job.attempts < 3:
            raise queuecore.E("not yet", retry=True)

    queue = Queue(store)
    queue.add(Task("flaky", handler, min_delay=0.05, max_delay=1, delay_factor=2))
    async with queue:
        job = await enqueue(store, "flaky")
        done = await wait_job(store, job.id, finished)
    assert calls == [1, 2, 3]
    assert done.status is Status.COMPLETED and done.attempts == 3
    assert done.reason == "not yet"  # the last failure reason stays, as in the original
    failures = [e for e in done.events if e.status == "failed"]
    assert [e.reason for e in failures] == ["not yet", "not yet"]


async def test_fail_delay_follows_backoff(store: queuecore.Store) -> None:
    async def handler(ctx: Context) -> None:
        raise queuecore.Error("later", retry=True)

    queue = Queue(store)
    queue.add(Task("slow-retry", handler, min_delay=30, max_delay=600, delay_factor=2))
    async with queue:
        job = await enqueue(store, "slow-retry")
        failed = await wait_job(store, job.id, lambda j: j.status is Status.FAILED)
    assert failed.ended is not None
    # attempt 1 → min_delay * 2 ** 1
    assert abs((failed.available - failed.ended) - timedelta(seconds=60)) < timedelta(seconds=1)


async def test_error_without_retry_cancels(store: queuecore.Store) -> None:
    async def handler(ctx: Context) -> None:
        raise queuecore.Error("invalid address")

    reports = Reports()
    queue = Queue(store, reporter=reports)
    queue.add(Task("mail", handler))
    async with queue:
        job = await enqueue(store, "mail", label="x")
        done = await wait_job(store, job.id, finished)
    assert done.status is Status.CANCELLED and done.reason == "invalid address"
    assert done.attempts == 1
    assert reports == []  # an Error is an outcome, not a crash


async def test_exceptions_retry_until_max_attempts_and_are_reported(store: queuecore.Store) -> None:
    async def handler(ctx: Context) -> None:
        raise RuntimeError(f"crash {ctx.job.attempts}")

    reports = Reports()
    queue = Queue(store, reporter=reports)
    queue.add(Task("crashy", handler, max_attempts=3, min_delay=0.01, max_delay=0.05))
    async with queue:
        job = await enqueue(store, "crashy")
        done = await wait_job(store, job.id, finished)
    assert done.status is Status.CANCELLED
    assert done.attempts == 3
    assert done.reason == "crash 3"
    assert [e.status for e in done.events].count("failed") == 2
    assert [str(e) for e in reports] == ["crash 1", "crash 2", "crash 3"]


async def test_lifetime_cancels_the_handler_and_leaves_the_job_dequeued(
    store: queuecore.Store,
) -> None:
    cancelled = asyncio.Event()

    async def handler(ctx: Context) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    reports = Reports()
    queue = Queue(store, reporter=reports)
    queue.add(Task("stuck", handler, lifetime=0.2, timeout=30))
    async with queue:
        job = await enqueue(store, "stuck")
        await asyncio.wait_for(cancelled.wait(), 10)
        await asyncio.wait_for(reports.arrived.wait(), 10)
        stored = await store.get(job.id)
    assert isinstance(reports[0], queuecore.LifetimeExceeded)
    assert stored is not None and stored.status is Status.DEQUEUED
    assert stored.started is not None
    assert stored.available - stored.started >= timedelta(seconds=29)


def test_lifetime_longer_than_timeout_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"lifetime .* must not exceed timeout"):
        Task("x", lambda ctx: None, lifetime=700, timeout=600)
    Task("x", lambda ctx: None, lifetime=timedelta(minutes=5), timeout=timedelta(minutes=5))


def test_adding_a_task_twice_raises() -> None:
    queue = Queue(None)  # type: ignore[arg-type]
    queue.add(Task("a", lambda ctx: None))
    with pytest.raises(ValueError, match="already added"):
        queue.add(Task("a", lambda ctx: None))


async def test_operator_cancel_stops_a_running_handler(store: queuecore.Store, open_store) -> None:
    operator = await open_store()
    started = asyncio.Event()

    async def handler(ctx: Context) -> None:
        started.set()
        await asyncio.sleep(60)

    queue = Queue(store)
    queue.add(Task("long", handler))
    async with queue:
        job = await enqueue(store, "long")
        await asyncio.wait_for(started.wait(), 10)
        await queuecore.cancel_job(operator, job.id, "no longer needed")
        done = await wait_job(store, job.id, finished, timeout=5)
    assert done.status is Status.CANCELLED
    assert done.reason == "no longer needed"
    assert done.cancel_reason is None


async def test_close_waits_for_running_handlers_within_grace(store: queuecore.Store) -> None:
    started = asyncio.Event()

    async def handler(ctx: Context) -> None:
        started.set()
        await asyncio.sleep(0.3)
        ctx.result["finished"] = True

    queue = Queue(store, grace=10)
    queue.add(Task("short", handler))
    await queue.run()
    job = await enqueue(store, "short")
    await asyncio.wait_for(started.wait(), 10)
    # a second close (say, a signal handler beside ``async with``) waits for the same shutdown
    first = asyncio.create_task(queue.close())
    await asyncio.sleep(0)  # the first close is under way
    await queue.close()
    done = await store.get(job.id)
    await first
    assert done is not None and done.status is Status.COMPLETED and done.result == {"finished": True}


async def test_close_after_grace_fails_running_jobs_for_retry(store: queuecore.Store) -> None:
    started = asyncio.Event()

    async def handler(ctx: Context) -> None:
        started.set()
        await asyncio.sleep(60)

    queue = Queue(store, grace=0.2)
    queue.add(Task("endless", handler))
    await queue.run()
    job = await enqueue(store, "endless")
    await asyncio.wait_for(started.wait(), 10)
    await queue.close()
    stored = await store.get(job.id)
    assert stored is not None and stored.status is Status.FAILED
    assert "queue closed" in stored.reason
    # never lost: the next queue picks it up at once
    resumed = Queue(store)
    resumed.add(Task("endless", lambda ctx: None))
    async with resumed:
        done = await wait_job(store, job.id, finished)
    assert done.status is Status.COMPLETED and done.attempts == 2


async def test_periodic_jobs_are_enqueued_at_start_and_then_every_interval(
    store: queuecore.Store,
) -> None:
    runs = []
    enough = asyncio.Event()

    async def handler(ctx: Context) -> None:
        runs.append(ctx.job.id)
        if len(runs) >= 3:
            enough.set()

    queue = Queue(store)
    queue.add(Task("tick", handler, periodically=0.1))
    async with queue:
        await asyncio.wait_for(enough.wait(), 10)
    assert len(set(runs)) == len(runs)  # a new job each time
    assert all(j.name == "tick" for j in await store.find(name="tick"))


async def test_periodic_job_with_label_and_period_deduplicates_across_processes(
    store: queuecore.Store, open_store
) -> None:
    other = await open_store()
    ran = asyncio.Event()

    async def handler(ctx: Context) -> None:
        ran.set()

    blueprint = Blueprint("nightly", label="only-one", period=3600)
    queues = []
    for s in (store, other):
        q = Queue(s)
        q.add(Task("nightly", handler, periodically=0.05, periodic_job=blueprint))
        queues.append(q)
    await asyncio.gather(*(q.run() for q in queues))
    try:
        await asyncio.wait_for(ran.wait(), 10)
        await asyncio.sleep(0.3)  # several more periodic ticks in both processes
    finally:
        await asyncio.gather(*(q.close() for q in queues))
    assert len(await store.find(name="nightly")) == 1


async def test_competing_queues_run_each_job_once(store: queuecore.Store, open_store) -> None:
    other = await open_store()
    runs: list = []

    async def handler(ctx: Context) -> None:
        runs.append(ctx.job.id)
        await asyncio.sleep(0.01)

    queues = []
    for s in (store, other):
        q = Queue(s, max_lag=0.05, dequeue_interval=0.5)
        q.add(Task("shared", handler, workers=3))
        queues.append(q)
    await asyncio.gather(*(q.run() for q in queues))
    try:
        ids = [(await enqueue(store, "shared")).id for _ in range(40)]
        done = await wait_all(store, ids, finished, timeout=60)
    finally:
        await asyncio.gather(*(q.close() for q in queues))
    assert all(j.status is Status.COMPLETED and j.attempts == 1 for j in done)
    assert sorted(runs) == sorted(ids)


async def test_unknown_tasks_and_malformed_documents_are_left_alone(
    store: queuecore.Store,
) -> None:
    reports = Reports()
    ran = []

    async def handler(ctx: Context) -> None:
        ran.append(ctx.job.id)

    foreign = await enqueue(store, "someone-elses-task")
    now = queuecore._time.utcnow()
    await insert_raw(
        store,
        {"name": "mine", "status": "enqueued", "created_at": now, "available_at": "soon"},
    )
    queue = Queue(store, reporter=reports)
    queue.add(Task("mine", handler))
    async with queue:
        good = await enqueue(store, "mine")
        await wait_job(store, good.id, finished)
    assert ran == [good.id]
    assert (await store.get(foreign.id)).status is Status.ENQUEUED  # type: ignore[union-attr]
    assert any(isinstance(r, queuecore.MalformedJob) for r in reports)


async def test_progress_note_and_heartbeat_are_visible(store: queuecore.Store, open_store) -> None:
    viewer = await open_store()
    step = asyncio.Event()
    go_on = asyncio.Event()

    async def handler(ctx: Context) -> None:
        await ctx.update(0.5, "halfway")
        assert await ctx.extend(120)
        step.set()
        await go_on.wait()

    queue = Queue(store)
    queue.add(Task("progress", handler, timeout=60, lifetime=60))
    async with queue:
        job = await enqueue(store, "progress")
        await asyncio.wait_for(step.wait(), 10)
        seen = await viewer.get(job.id)
        go_on.set()
        await wait_job(store, job.id, finished)
    assert seen is not None
    assert seen.progress == 0.5 and seen.note == "halfway"
    assert seen.heartbeat is not None
    assert seen.available - seen.heartbeat >= timedelta(seconds=119)


async def test_long_handlers_keep_their_claim_with_automatic_heartbeats(
    store: queuecore.Store, open_store
) -> None:
    other = await open_store()
    runs = []

    async def handler(ctx: Context) -> None:
        runs.append(ctx.job.attempts)
        await asyncio.sleep(0.8)  # longer than the timeout: only heartbeats keep the claim

    mine = Queue(store)
    mine.add(Task("long", handler, timeout=0.4, lifetime=0.4))
    # a second process polls for the same job all the time
    competitor = Queue(other, max_lag=0, dequeue_interval=0.05)
    competitor.add(Task("long", handler, timeout=0.4, lifetime=0.4))
    await mine.run()
    job = await mine.enqueue(Blueprint("long"))
    assert job is not None
    await competitor.run()
    try:
        await wait_job(store, job.id, lambda j: j.heartbeat is not None, timeout=10)
    finally:
        await asyncio.gather(mine.close(grace=0), competitor.close(grace=0))
    assert runs == [1]


async def test_pause_resume_and_scale(store: queuecore.Store) -> None:
    ran = []

    async def handler(ctx: Context) -> None:
        ran.append(ctx.job.id)

    queue = Queue(store)
    queue.add(Task("ctl", handler, workers=1))
    async with queue:
        queue.pause("ctl")
        job = await queue.enqueue(Blueprint("ctl"))
        assert job is not None
        stats = {s.name: s for s in queue.stats()}
        assert stats["ctl"].paused and stats["ctl"].workers == 1
        assert queue.scale("ctl", 4) == 4
        await asyncio.sleep(0.2)  # paused: nothing may run in this window
        assert ran == []
        queue.resume("ctl")
        await wait_job(store, job.id, finished)
        stats = {s.name: s for s in queue.stats()}
        assert stats["ctl"].processed == 1 and not stats["ctl"].paused
        assert queue.scale("ctl", 0) == 1
        with pytest.raises(KeyError, match="no task named 'nope'"):
            queue.pause("nope")


async def test_a_model_validator_raising_any_error_cancels_the_job(store: queuecore.Store) -> None:
    """pydantic passes a validator's TypeError through (only ValueError/AssertionError become
    a ValidationError): the job is cancelled with the reason, the worker goes on."""
    from pydantic import field_validator

    class Picky(BaseModel):
        n: int

        @field_validator("n")
        @classmethod
        def odd_only(cls, value: int) -> int:
            if value % 2 == 0:
                raise TypeError("even numbers are not supported")
            return value

    seen: list[int] = []

    async def handler(ctx: Context) -> None:
        seen.append(ctx.model.n)

    reports = Reports()
    queue = Queue(store, reporter=reports)
    queue.add(Task("picky", handler, model=Picky, workers=1))
    async with queue:
        bad = await queue.enqueue(Blueprint("picky", data={"n": 2}))
        good = await queue.enqueue(Blueprint("picky", data={"n": 3}))
        assert bad is not None and good is not None
        rejected, done = await wait_all(store, [bad.id, good.id], finished)
    assert rejected.status is Status.CANCELLED and rejected.attempts == 1
    assert rejected.reason == "invalid data for task 'picky': TypeError: even numbers are not supported"
    assert done.status is Status.COMPLETED and seen == [3]
    # what a client checks before enqueuing (jobtui enqueue --tasks) says the same
    assert queuecore.Task("picky", handler, model=Picky).problem({"n": 4}) == rejected.reason


async def test_a_crashed_worker_is_reported_and_restarted(
    store: queuecore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies of a bug (here: the board raising once) is reported as
    WorkerCrashed, with the error as its cause, and started again: the task keeps running."""
    from queuecore.board import Board

    real_pick = Board.pick
    broken = {"left": 1}

    def pick_once_broken(self: Board, name: str):  # type: ignore[no-untyped-def]
        if broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("board bug")
        return real_pick(self, name)

    monkeypatch.setattr(Board, "pick", pick_once_broken)
    reports = Reports()

    async def handler(ctx: Context) -> None:
        ctx.result["ok"] = True

    queue = Queue(store, reporter=reports)
    queue.add(Task("steady", handler, workers=1))
    async with queue:
        await asyncio.wait_for(reports.arrived.wait(), 10)
        job = await queue.enqueue(Blueprint("steady"))
        assert job is not None
        [done] = await wait_all(store, [job.id], finished)
        stats = queue.stats()[0]
    assert done.status is Status.COMPLETED
    [crash] = reports
    assert isinstance(crash, queuecore.WorkerCrashed) and isinstance(crash.__cause__, RuntimeError)
    assert "a worker of 'steady' crashed, restarting it: board bug" == str(crash)
    assert stats.last_error == "worker crashed: RuntimeError: board bug" and stats.workers == 1


async def test_scaling_down_and_straight_back_up_keeps_every_worker(store: queuecore.Store) -> None:
    """A worker retiring after ``scale(1)`` first finishes writing its last completion; a
    ``scale(2)`` meanwhile must still leave two workers running, not one."""
    real_update = store.update_only  # what a worker finishing its attempt writes with
    gated = 0
    both_gated, release, go = asyncio.Event(), asyncio.Event(), asyncio.Event()
    running = 0
    two_at_once = asyncio.Event()

    async def slow_completion(id, guard, changes):  # type: ignore[no-untyped-def]
        nonlocal gated
        if changes.status == Status.COMPLETED and not release.is_set():
            gated += 1
            if gated == 2:
                both_gated.set()
            await release.wait()  # the completion writes are in flight (a slow round trip)
        return await real_update(id, guard, changes)

    store.update_only = slow_completion  # type: ignore[method-assign]

    async def handler(ctx: Context) -> None:
        nonlocal running
        running += 1
        if running == 2:
            two_at_once.set()
        try:
            await go.wait()
        finally:
            running -= 1

    queue = Queue(store, max_lag=0)
    queue.add(Task("t", handler, workers=2))
    async with queue:
        for i in range(10):
            await queue.enqueue(Blueprint("t", data={"i": i}))
        await asyncio.wait_for(two_at_once.wait(), 10)
        queue.scale("t", 1)
        two_at_once.clear()
        go.set()  # both handlers return; their completions are written in the background
        await asyncio.wait_for(both_gated.wait(), 10)
        for _ in range(5):  # a few turns of the loop: worker 1 leaves its loop to await its write
            await asyncio.sleep(0)
        queue.scale("t", 2)
        go.clear()
        release.set()
        await asyncio.wait_for(two_at_once.wait(), 10)  # two jobs run at once again
        go.set()
    assert queue.stats()[0].workers == 2
