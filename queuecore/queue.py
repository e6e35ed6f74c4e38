"""The queue: a board, workers per task and periodic enqueuers in one process."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

from bson import ObjectId

from . import tracing
from ._time import seconds
from .backoff import backoff
from .board import Board, Tracked
from .errors import ConnectError, Error, MissingJobError, QueueError, StoreGone
from .job import Blueprint, Job, Status, check_shape
from .ops import cancel, complete_attempt, dequeue, enqueue, enqueue_many, fail
from .printable import PrintableRecords
from .store.base import Store
from .task import Context, Task

log = logging.getLogger("queuecore")
log.addFilter(PrintableRecords())  # job names and reasons reach the log: never raw terminal controls

Reporter = Callable[[BaseException], Awaitable[None] | None]


class LifetimeExceeded(QueueError):
    """A handler ran longer than its task's lifetime and was cancelled."""


class MalformedJob(QueueError):
    """A document in the jobs collection is not a valid job; it is skipped."""


class WorkerCrashed(QueueError):
    """A worker died of an unexpected error (its ``__cause__``); it is started again."""


def _default_reporter(exc: BaseException) -> None:
    detail = (exc.__traceback__ or exc.__cause__) and not isinstance(exc, StoreGone)  # StoreGone: one line
    log.error("queuecore: %s", exc, exc_info=exc if detail else None)


@dataclass
class TaskStats:
    """What one task's workers are doing in this process (for dashboards)."""

    name: str
    workers: int
    busy: int = 0
    paused: bool = False
    current: list[ObjectId] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    last_error: str = ""


@dataclass(eq=False)
class _Running:
    job: Job
    ctx: Context
    task: asyncio.Task[Any] | None = None
    why: str | None = None  # "cancel", "lifetime" or "shutdown"
    reason: str = ""

    def interrupt(self, why: str, reason: str = "") -> None:
        if self.why is None and self.task is not None and not self.task.done():
            self.why, self.reason = why, reason
            self.task.cancel()


class _Runner:
    """The workers of one task."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.target = task.workers
        self.workers: dict[int, asyncio.Task[None]] = {}
        self.stats = TaskStats(task.name, task.workers)
        self.resumed = asyncio.Event()
        self.resumed.set()
        #: How many times a worker of this task crashed (and was restarted).
        self.crashes = 0


class Queue:
    """Runs tasks for the jobs in a store (the original's ``axe.Queue``)."""

    def __init__(
        self,
        store: Store,
        reporter: Reporter | None = None,
        max_lag: float = 0.1,
        dequeue_interval: float = 2,
        *,
        grace: float = 10.0,
    ) -> None:
        """``max_lag``: up to this much random lag (seconds) is added to each job's
        availability so competing processes don't stampede (default 100 ms).
        ``dequeue_interval``: a picked job is not tried again by this process for
        that long (default 2 s). ``grace``: on close, running handlers get this
        long to finish before they are cancelled and their jobs failed for retry
        (default 10 s)."""
        self.store = store
        self.reporter: Reporter = reporter if reporter is not None else _default_reporter
        self.max_lag = seconds(max_lag)
        self.dequeue_interval = seconds(dequeue_interval)
        self.grace = seconds(grace)
        self.tasks: dict[str, Task] = {}
        self._runners: dict[str, _Runner] = {}
        self._running: dict[ObjectId, _Running] = {}
        #: Attempts (id, attempt) a worker claimed and has not started yet (it may still wait
        #: for its previous completion): a cancel request arriving meanwhile replaces the job
        #: here (see _check), so it is not lost.
        self._claimed: dict[tuple[ObjectId, int], Job] = {}
        self._board: Board | None = None
        self._background: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self._stopping = False
        self._closing: asyncio.Future[None] | None = None
        self._started = False
        self._malformed_seen: set[Any] = set()
        self._reports: set[asyncio.Task[None]] = set()
        self._host = f"{socket.gethostname()}:{os.getpid()}"
        #: Set once the store's file went (StoreGone): the queue stopped working.
        self.gone: StoreGone | None = None

    # -- set-up ---------------------------------------------------------------

    def add(self, task: Task) -> None:
        """Add a task; a second task with the same name raises ValueError."""
        if task.name in self.tasks:
            raise ValueError(f"a task named {task.name!r} was already added")
        if self._started:
            raise RuntimeError("tasks must be added before the queue runs")
        self.tasks[task.name] = task

    async def enqueue(self, blueprint: Blueprint) -> Job | None:
        """Enqueue a job (see :func:`queuecore.enqueue`). A job for one of this queue's
        own tasks goes straight onto its board, so this process starts it at once."""
        board = self._board
        with board.removals() if board is not None else contextlib.nullcontext():
            job = await enqueue(self.store, blueprint)
            if job is not None and self._board is not None:
                self._board.apply(job, lag=False)
        return job

    async def enqueue_many(self, blueprints: Iterable[Blueprint]) -> list[Job | None]:
        """Enqueue many jobs at once (see :func:`queuecore.enqueue_many`); this queue's own
        go straight onto its board, like :meth:`enqueue`."""
        board = self._board
        with board.removals() if board is not None else contextlib.nullcontext():
            jobs = await enqueue_many(self.store, blueprints)
            if self._board is not None:
                for job in jobs:
                    if job is not None:
                        self._board.apply(job, lag=False)
        return jobs

    # -- running --------------------------------------------------------------

    async def run(self) -> None:
        """Start the board, the workers and the periodic enqueuers; returns once running."""
        if self._started:
            return
        self._started = True
        self._board = Board(self.tasks, self.max_lag, self.dequeue_interval)
        feed = asyncio.create_task(self._feed(), name="queuecore-board")
        self._background.append(feed)
        ready = asyncio.create_task(self._ready.wait())
        try:
            await asyncio.wait({feed, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()  # done, or no longer awaited (this call failed or was cancelled)
        if not self._ready.is_set():
            if self._stopping:
                return  # closed while the board loaded: its feed was cancelled, start nothing
            feed.result()  # re-raise why the board could not start
        for runner_task in self.tasks.values():
            runner = _Runner(runner_task)
            self._runners[runner_task.name] = runner
            self._spawn(runner)
            if seconds(runner_task.periodically) > 0:
                self._background.append(
                    asyncio.create_task(self._periodic(runner_task), name=f"periodic-{runner_task.name}")
                )

    async def __aenter__(self) -> Self:
        await self.run()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, grace: float | None = None) -> None:
        """Stop taking jobs; let running handlers finish within ``grace`` seconds
        (default: the queue's), then cancel them so their jobs fail for retry."""
        if self._closing is None:
            self._stopping = True
            self._closing = asyncio.ensure_future(self._close(self.grace if grace is None else grace))
        # A second caller (e.g. a signal handler and an ``async with``) waits for the same shutdown.
        await asyncio.shield(self._closing)

    async def _close(self, grace: float) -> None:
        if self._board is not None:
            self._board.wake_all()
        for runner in self._runners.values():
            runner.resumed.set()
        workers = [w for r in self._runners.values() for w in r.workers.values()]
        if workers:
            _, pending = await asyncio.wait(workers, timeout=grace)
            if pending:
                for run in list(self._running.values()):
                    run.interrupt("shutdown", "queue closed while the job was running")
                await asyncio.wait(pending, timeout=max(5.0, grace))
        for bg in self._background:
            bg.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=5)

    # -- introspection and control (the dashboard's workers panel) -----------

    @property
    def ready(self) -> bool:
        """Whether the board is loaded and workers run."""
        return self._ready.is_set() and not self._stopping

    def stats(self) -> list[TaskStats]:
        """Per task: workers, busy, paused, current jobs, processed and failed counters."""
        out = []
        for runner in self._runners.values():
            runner.stats.workers = runner.target
            runner.stats.paused = not runner.resumed.is_set()
            runner.stats.current = [j for j, r in self._running.items() if r.ctx.task is runner.task]
            runner.stats.busy = len(runner.stats.current)
            out.append(runner.stats)
        return out

    def pause(self, name: str) -> None:
        """Stop starting jobs of task ``name`` (running ones finish)."""
        self._runner(name).resumed.clear()

    def resume(self, name: str) -> None:
        """Start jobs of task ``name`` again."""
        self._runner(name).resumed.set()
        if self._board is not None:
            self._board.wake_all()

    def scale(self, name: str, workers: int) -> int:
        """Run ``workers`` (≥ 1) workers for task ``name``; returns the new count."""
        runner = self._runner(name)
        runner.target = max(1, int(workers))
        self._spawn(runner)
        if self._board is not None:
            self._board.wake_all()  # surplus workers notice and retire
        return runner.target

    def _runner(self, name: str) -> _Runner:
        try:
            return self._runners[name]
        except KeyError:
            raise KeyError(f"no task named {name!r} runs in this queue") from None

    def _spawn(self, runner: _Runner) -> None:
        if self._stopping:
            return
        for index in range(runner.target):
            if index not in runner.workers or runner.workers[index].done():
                worker = asyncio.create_task(
                    self._worker(runner, index), name=f"worker-{runner.task.name}-{index}"
                )
                worker.add_done_callback(lambda done: self._worker_ended(runner, done))
                runner.workers[index] = worker

    def _worker_ended(self, runner: _Runner, worker: asyncio.Task[None]) -> None:
        """A worker that died of an unexpected error (a bug, not a job's failure: those are
        handled) is reported and started again after a backoff, so a task never silently
        stops being processed. A worker that retired (scaled down) leaves its slot to
        ``_spawn``, which fills the slots below the target; one that was stopped does not."""
        if worker.cancelled():
            return
        if worker.exception() is None:
            # A worker ends normally when it retires (scaled down). If the target went back up
            # while it finished its last completion, its slot is empty again: fill it.
            self._spawn(runner)
            return
        exc = worker.exception()
        runner.crashes += 1
        runner.stats.last_error = f"worker crashed: {type(exc).__name__}: {exc}"
        crashed = WorkerCrashed(f"a worker of {runner.task.name!r} crashed, restarting it: {exc}")
        crashed.__cause__ = exc
        self._spawn_report(crashed)
        if not self._stopping:
            delay = backoff(0.1, 10, 2, runner.crashes).total_seconds()
            asyncio.get_running_loop().call_later(delay, self._spawn, runner)

    # -- the board feed -------------------------------------------------------

    async def _feed(self) -> None:
        board = self._board
        assert board is not None
        names = list(self.tasks)
        failures = 0
        while not self._stopping:
            try:
                async for change in self.store.watch():
                    if change.kind == "reset":
                        # page by page: a large backlog is never held in full (data, history)
                        tracked: list[Tracked] = []
                        async with contextlib.aclosing(self.store.active_pages(names)) as pages:
                            async for page in pages:
                                for job in page:
                                    self._check(job)
                                    tracked.append(Tracked.of(job))
                        board.load(tracked)
                        self._ready.set()
                    elif change.kind == "delete":
                        board.remove(change.id)
                    elif change.job is not None:
                        self._check(change.job)
                        board.apply(change.job)
                    failures = 0
            except asyncio.CancelledError:
                raise
            except StoreGone as exc:  # for good: reported once, and every worker stops
                await self._report(exc)
                return
            except Exception as exc:
                if not self._ready.is_set() and failures >= 2:
                    raise
                await self._report(exc)
                await asyncio.sleep(backoff(0.1, 10, 2, failures).total_seconds())
                failures += 1

    def _check(self, job: Job) -> None:
        """React to a job's new state: report malformed ones, pass on cancel requests."""
        if job.malformed is not None:
            if job.name in self.tasks and job.id not in self._malformed_seen:
                if len(self._malformed_seen) < 10_000:
                    self._malformed_seen.add(job.id)
                self._spawn_report(MalformedJob(f"job {job.id}: {job.malformed}"))
            return
        if job.cancel_reason is None or job.status != Status.DEQUEUED:
            return
        run = self._running.get(job.id)
        if run is None:
            if (job.id, job.attempts) in self._claimed:
                self._claimed[job.id, job.attempts] = job  # claimed, not started: _execute cancels it
        elif job.attempts == run.job.attempts:
            run.interrupt("cancel", job.cancel_reason)

    # -- workers --------------------------------------------------------------

    async def _worker(self, runner: _Runner, index: int) -> None:
        board = self._board
        assert board is not None
        task = runner.task
        name = task.name
        worker_id = f"{self._host}:{name}"
        # The completion of the previous job, still being written: its write and the claim of
        # the next job share one hand-off to the store (and one transaction on SQLite), so a
        # busy worker pays one round trip per job instead of two. It is always awaited before
        # the next handler starts, before the worker idles and before it exits.
        settling: asyncio.Task[None] | None = None
        try:
            while not self._stopping and index < runner.target:
                if not runner.resumed.is_set():
                    await _settled(settling)
                    settling = None
                    await runner.resumed.wait()
                    continue
                version = board.version(name)
                id, wait = board.pick(name)
                if id is None:
                    await _settled(settling)
                    settling = None
                    await board.wait(name, version, wait)
                    continue
                trace, available = board.describe(id)
                with tracing.resume(trace):  # the attempt continues the enqueuer's trace
                    try:
                        job = await dequeue(self.store, id, task.timeout, worker=worker_id)
                    except Exception as exc:
                        await _settled(settling)
                        settling = None
                        await self._report(exc)
                        if not self._stopping:
                            await asyncio.sleep(max(seconds(task.interval), 0.5))
                        continue
                    if job is not None:
                        self._claimed[job.id, job.attempts] = job
                    await _settled(settling)
                    settling = None
                    if job is None:
                        await asyncio.sleep(seconds(task.interval))
                        continue
                    job = self._claimed.pop((job.id, job.attempts), job)  # with a cancel request meanwhile
                    if available is not None and job.started is not None:
                        tracing.record("latency", job.started.timestamp() - available, name)
                    settling = await self._execute(runner, job)
                if settling is not None:
                    # let the completion reach the store before the next claim, so the stored
                    # times of one worker's attempts never overlap
                    await asyncio.sleep(0)
        finally:
            await _settled(settling)
        if index >= runner.target:
            runner.workers.pop(index, None)

    async def _execute(self, runner: _Runner, job: Job) -> asyncio.Task[None] | None:
        """Run one attempt; returns the task still writing a successful outcome (see ``_worker``)."""
        task = runner.task
        stats = runner.stats
        attempt = job.attempts
        if (requested := job.cancel_reason) is not None:
            await self._settle(task, lambda: cancel(self.store, job.id, requested, attempt=attempt))
            return None
        try:
            model = task.parse(job.data)
        except Exception as exc:  # a ValidationError, or whatever a model's own validator raised
            reason = task.invalid(exc)
            await self._settle(task, lambda: cancel(self.store, job.id, reason, attempt=attempt))
            stats.failed += 1
            stats.last_error = reason
            await self._report(Error(reason))
            return None
        with tracing.span(
            "queuecore/Execute",
            id=str(job.id),
            name=task.name,
            label=job.label or None,
            attempts=job.attempts,
        ) as span:
            ctx = Context(model=model, job=job, task=task, queue=self, store=self.store, trace=span)
            run = _Running(job, ctx)
            self._running[job.id] = run
            loop = asyncio.get_running_loop()
            began = loop.time()
            run.task = loop.create_task(self._call(task, ctx), name=f"job-{job.id}")
            lifetime = loop.call_later(seconds(task.lifetime), run.interrupt, "lifetime")
            # The heartbeat task starts when the first beat is due: most handlers finish long
            # before, and a task per attempt is a cost on the hot path.
            beats: list[asyncio.Task[None]] = []
            period = seconds(task.timeout) / 2
            heartbeat = loop.call_later(period, lambda: beats.append(loop.create_task(self._heartbeat(ctx))))
            finished: asyncio.Future[None] = loop.create_future()

            def finish(_: object) -> None:
                if not finished.done():
                    finished.set_result(None)

            run.task.add_done_callback(finish)
            try:
                await finished  # like asyncio.wait: a cancelled worker leaves the handler task alone
            finally:
                lifetime.cancel()
                heartbeat.cancel()
                for beat in beats:
                    beat.cancel()
                self._running.pop(job.id, None)
            tracing.record("duration", loop.time() - began, task.name)
            # A successful outcome is written while the worker claims its next job, unless the
            # attempt is traced: then the Complete span stays inside the Execute span.
            if not run.task.cancelled() and run.task.exception() is None and not tracing.recording(span):
                return loop.create_task(self._completed(runner, run))
            await self._conclude(runner, run)
            return None

    async def _completed(self, runner: _Runner, run: _Running) -> None:
        """Write the outcome of a handler that returned: the job is completed."""
        await self._settle(runner.task, lambda: complete_attempt(self.store, run.job, run.ctx.result))
        runner.stats.processed += 1

    async def _conclude(self, runner: _Runner, run: _Running) -> None:
        """Turn a finished handler into the job's next status."""
        task, job, stats = runner.task, run.job, runner.stats
        assert run.task is not None
        attempt = job.attempts
        # A handler the queue did not interrupt (nor anyone else: cancelling() == 0) that ends
        # cancelled raised CancelledError itself: an ordinary failure, not a shutdown.
        raised = run.task.cancelled() and run.why is None and run.task.cancelling() == 0
        if run.task.cancelled() and not raised:
            if run.why == "cancel":
                await self._settle(task, lambda: cancel(self.store, job.id, run.reason, attempt=attempt))
            elif run.why == "lifetime":
                stats.failed += 1
                stats.last_error = f"lifetime of {seconds(task.lifetime):g}s exceeded"
                exceeded = LifetimeExceeded(f"job {job.id} ({task.name}): {stats.last_error}")
                tracing.failed(run.ctx.trace, exceeded)
                await self._report(exceeded)
            else:
                await self._settle(
                    task, lambda: fail(self.store, job.id, run.reason or "cancelled", 0, attempt=attempt)
                )
            return
        exc = asyncio.CancelledError() if raised else run.task.exception()
        if exc is None:
            await self._completed(runner, run)
            return
        stats.failed += 1
        tracing.failed(run.ctx.trace, exc)
        delay = backoff(task.min_delay, task.max_delay, task.delay_factor, attempt)
        if isinstance(exc, Error):
            stats.last_error = exc.reason
            if exc.retry:
                await self._settle(task, lambda: fail(self.store, job.id, exc.reason, delay, attempt=attempt))
            else:
                await self._settle(task, lambda: cancel(self.store, job.id, exc.reason, attempt=attempt))
            return
        reason = str(exc) or type(exc).__name__
        stats.last_error = reason
        # the outcome first: a slow reporter must not keep the job dequeued (or its claim run out)
        if task.max_attempts == 0 or attempt < task.max_attempts:
            await self._settle(task, lambda: fail(self.store, job.id, reason, delay, attempt=attempt))
        else:
            await self._settle(task, lambda: cancel(self.store, job.id, reason, attempt=attempt))
        await self._report(exc)

    @staticmethod
    async def _call(task: Task, ctx: Context) -> None:
        if inspect.iscoroutinefunction(task.handler):
            await task.handler(ctx)
        else:
            outcome = await asyncio.to_thread(task.handler, ctx)
            if inspect.isawaitable(outcome):
                await outcome
        # a result no reader could decode (or no engine store) fails the attempt like an exception
        check_shape(ctx.result, "the handler's result")

    async def _heartbeat(self, ctx: Context) -> None:
        """While the handler runs, extend the claim every half timeout (started half a
        timeout after the handler, so it beats at once)."""
        period = seconds(ctx.task.timeout) / 2
        while True:
            try:
                if not await ctx.extend():
                    return
            except Exception as exc:
                await self._report(exc)
            await asyncio.sleep(period)

    async def _settle(self, task: Task, write: Callable[[], Awaitable[Job | None]]) -> None:
        """Write a job's outcome; a job that moved on meanwhile is reported, not fatal.

        While the database is unreachable (ConnectError) the write is retried with backoff
        for up to the task's timeout, so a short outage does not make a finished job run
        again. Retrying is safe: the write is guarded by the attempt.
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + seconds(task.timeout)
        failures = 0
        while True:
            try:
                await write()
                return
            except MissingJobError as exc:
                await self._report(MissingJobError(f"{exc}: the attempt was superseded"))
                return
            except ConnectError as exc:
                left = give_up - loop.time()
                if failures == 0 or left <= 0:  # report the first failure and giving up, not each retry
                    await self._report(exc)
                if left <= 0:
                    return
                await asyncio.sleep(min(left, backoff(0.1, 5, 2, failures).total_seconds()))
                failures += 1
            except Exception as exc:
                await self._report(exc)
                return

    async def _periodic(self, task: Task) -> None:
        blueprint = task.periodic_job or Blueprint(name=task.name)
        interval = seconds(task.periodically)
        failures = 0
        while not self._stopping:
            try:
                await self.enqueue(blueprint)
                failures = 0
            except Exception as exc:
                await self._report(exc)
                failures += 1
            # a failed enqueue (the database blinked) is tried again soon, not an interval later
            retry = backoff(1, 60, 2, failures - 1).total_seconds() if failures else interval
            await asyncio.sleep(min(interval, retry))

    async def _report(self, exc: BaseException) -> None:
        if isinstance(exc, StoreGone):  # the store stopped for good: stop working, say it once
            if self.gone is not None:
                return
            self.gone = exc
            self._stopping = True
            if self._board is not None:
                self._board.wake_all()
            for runner in self._runners.values():
                runner.resumed.set()
        try:
            outcome = self.reporter(exc)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("queuecore: the reporter failed")

    def _spawn_report(self, exc: BaseException) -> None:
        task = asyncio.get_running_loop().create_task(self._report(exc))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)


async def _settled(settling: asyncio.Task[None] | None) -> None:
    """Wait for a worker's pending completion write (see ``Queue._worker``)."""
    if settling is not None:
        await settling
