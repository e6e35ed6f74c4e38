"""The workers of a queue: per task, a number of loops that pick jobs off the board,
claim them and hand them to :class:`~queuecore.attempt.Attempts`.

Also what keeps a task processed: a worker that crashes is reported and restarted with
backoff; scaling down retires workers, scaling up fills the empty slots.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bson import ObjectId

from . import tracing
from ._time import seconds
from .attempt import Attempts, Report
from .backoff import backoff
from .board import Board
from .errors import QueueError
from .job import Job
from .ops import dequeue
from .store.base import Store
from .task import Task


class WorkerCrashed(QueueError):
    """A worker died of an unexpected error (its ``__cause__``); it is started again."""


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


class Runner:
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


class Workers:
    """Every task's runner, and the worker loops they run.

    ``stopping`` says whether the queue is closing (or its store went): then no worker
    starts and running ones leave their loop. ``claimed`` holds attempts (id, attempt) a
    worker claimed and has not started yet (it may still wait for its previous completion):
    a cancel request arriving meanwhile replaces the job there (see :meth:`cancel_requested`),
    so it is not lost.
    """

    def __init__(
        self,
        store: Store,
        attempts: Attempts,
        report: Report,
        spawn_report: Callable[[BaseException], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.store = store
        self.attempts = attempts
        self.report = report
        self.spawn_report = spawn_report
        self.stopping = stopping
        self.runners: dict[str, Runner] = {}
        self.claimed: dict[tuple[ObjectId, int], Job] = {}
        self.board: Board | None = None
        self.host = f"{socket.gethostname()}:{os.getpid()}"

    def start(self, board: Board, task: Task) -> None:
        """Start the workers of ``task``, which pick jobs off ``board``."""
        self.board = board
        runner = Runner(task)
        self.runners[task.name] = runner
        self.spawn(runner)

    def runner(self, name: str) -> Runner:
        try:
            return self.runners[name]
        except KeyError:
            raise KeyError(f"no task named {name!r} runs in this queue") from None

    def tasks(self) -> list[asyncio.Task[None]]:
        """Every worker loop still known (running or just ended)."""
        return [w for r in self.runners.values() for w in r.workers.values()]

    def resume_all(self) -> None:
        """Let paused workers go on (to see that the queue stops)."""
        for runner in self.runners.values():
            runner.resumed.set()

    def stats(self) -> Iterable[TaskStats]:
        """Per task: workers, busy, paused, current jobs, processed and failed counters."""
        for runner in self.runners.values():
            runner.stats.workers = runner.target
            runner.stats.paused = not runner.resumed.is_set()
            running = self.attempts.running.items()
            runner.stats.current = [j for j, r in running if r.ctx.task is runner.task]
            runner.stats.busy = len(runner.stats.current)
            yield runner.stats

    def cancel_requested(self, job: Job) -> None:
        """Pass on a cancel request to the attempt it is for, running or just claimed."""
        assert job.cancel_reason is not None
        run = self.attempts.running.get(job.id)
        if run is None:
            if (job.id, job.attempts) in self.claimed:
                self.claimed[job.id, job.attempts] = job  # claimed, not started: execute cancels it
        elif job.attempts == run.job.attempts:
            run.interrupt("cancel", job.cancel_reason)

    def spawn(self, runner: Runner) -> None:
        """Start a worker in each of ``runner``'s empty slots below its target."""
        if self.stopping():
            return
        for index in range(runner.target):
            if index not in runner.workers or runner.workers[index].done():
                worker = asyncio.create_task(
                    self._work(runner, index), name=f"worker-{runner.task.name}-{index}"
                )
                worker.add_done_callback(lambda done: self._ended(runner, done))
                runner.workers[index] = worker

    def _ended(self, runner: Runner, worker: asyncio.Task[None]) -> None:
        """A worker that died of an unexpected error (a bug, not a job's failure: those are
        handled) is reported and started again after a backoff, so a task never silently
        stops being processed. A worker that retired (scaled down) leaves its slot to
        ``spawn``, which fills the slots below the target; one that was stopped does not."""
        if worker.cancelled():
            return
        if worker.exception() is None:
            # A worker ends normally when it retires (scaled down). If the target went back up
            # while it finished its last completion, its slot is empty again: fill it.
            self.spawn(runner)
            return
        exc = worker.exception()
        runner.crashes += 1
        runner.stats.last_error = f"worker crashed: {type(exc).__name__}: {exc}"
        crashed = WorkerCrashed(f"a worker of {runner.task.name!r} crashed, restarting it: {exc}")
        crashed.__cause__ = exc
        self.spawn_report(crashed)
        if not self.stopping():
            delay = backoff(0.1, 10, 2, runner.crashes).total_seconds()
            asyncio.get_running_loop().call_later(delay, self.spawn, runner)

    async def _work(self, runner: Runner, index: int) -> None:
        board = self.board
        assert board is not None
        task = runner.task
        name = task.name
        worker_id = f"{self.host}:{name}"
        # The completion of the previous job, still being written: its write and the claim of
        # the next job share one hand-off to the store (and one transaction on SQLite), so a
        # busy worker pays one round trip per job instead of two. It is always awaited before
        # the next handler starts, before the worker idles and before it exits.
        settling: asyncio.Task[None] | None = None
        try:
            while not self.stopping() and index < runner.target:
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
                        await self.report(exc)
                        if not self.stopping():
                            await asyncio.sleep(max(seconds(task.interval), 0.5))
                        continue
                    if job is not None:
                        self.claimed[job.id, job.attempts] = job
                    await _settled(settling)
                    settling = None
                    if job is None:
                        await asyncio.sleep(seconds(task.interval))
                        continue
                    job = self.claimed.pop((job.id, job.attempts), job)  # with a cancel request meanwhile
                    if available is not None and job.started is not None:
                        tracing.record("latency", job.started.timestamp() - available, name)
                    settling = await self.attempts.execute(runner, job)
                if settling is not None:
                    # let the completion reach the store before the next claim, so the stored
                    # times of one worker's attempts never overlap
                    await asyncio.sleep(0)
        finally:
            await _settled(settling)
        if index >= runner.target:
            runner.workers.pop(index, None)


async def _settled(settling: asyncio.Task[None] | None) -> None:
    """Wait for a worker's pending completion write (see ``Workers._work``)."""
    if settling is not None:
        await settling
