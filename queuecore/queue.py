"""The queue: the public facade over a board, its feed, the workers (``workers.py``) that run
attempts (``attempt.py``) and the periodic enqueuers — set-up, start, close, control."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Self

from ._time import seconds
from .attempt import Attempts, LifetimeExceeded
from .backoff import backoff
from .board import Board, Tracked
from .errors import QueueError, StoreGone
from .job import Blueprint, Job, Status
from .ops import enqueue, enqueue_many
from .printable import PrintableRecords
from .store.base import Store
from .task import Task
from .workers import TaskStats, WorkerCrashed, Workers

# LifetimeExceeded, TaskStats and WorkerCrashed were defined here first; they stay importable from here.
__all__ = ["LifetimeExceeded", "MalformedJob", "Queue", "Reporter", "TaskStats", "WorkerCrashed"]

log = logging.getLogger("queuecore")
log.addFilter(PrintableRecords())  # job names and reasons reach the log: never raw terminal controls

Reporter = Callable[[BaseException], Awaitable[None] | None]


class MalformedJob(QueueError):
    """A document in the jobs collection is not a valid job; it is skipped."""


def _default_reporter(exc: BaseException) -> None:
    detail = (exc.__traceback__ or exc.__cause__) and not isinstance(exc, StoreGone)  # StoreGone: one line
    log.error("queuecore: %s", exc, exc_info=exc if detail else None)


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
        self._attempts = Attempts(self, store, self._report)
        self._workers = Workers(
            store, self._attempts, self._report, self._spawn_report, lambda: self._stopping
        )
        self._runners = self._workers.runners
        self._running = self._attempts.running
        self._board: Board | None = None
        self._background: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self._stopping = False
        self._closing: asyncio.Future[None] | None = None
        self._started = False
        self._malformed_seen: set[Any] = set()
        self._reports: set[asyncio.Task[None]] = set()
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
            self._workers.start(self._board, runner_task)
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
        self._workers.resume_all()
        workers = self._workers.tasks()
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
        return list(self._workers.stats())

    def pause(self, name: str) -> None:
        """Stop starting jobs of task ``name`` (running ones finish)."""
        self._workers.runner(name).resumed.clear()

    def resume(self, name: str) -> None:
        """Start jobs of task ``name`` again."""
        self._workers.runner(name).resumed.set()
        if self._board is not None:
            self._board.wake_all()

    def scale(self, name: str, workers: int) -> int:
        """Run ``workers`` (≥ 1) workers for task ``name``; returns the new count."""
        runner = self._workers.runner(name)
        runner.target = max(1, int(workers))
        self._workers.spawn(runner)
        if self._board is not None:
            self._board.wake_all()  # surplus workers notice and retire
        return runner.target

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
        self._workers.cancel_requested(job)

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
            self._workers.resume_all()
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
