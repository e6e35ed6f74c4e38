"""One attempt of a job: its handler, lifetime, heartbeat, and the outcome written back.

Kept apart from the worker loop (``workers.py``) so that what an attempt *does* — run the
handler, extend the claim, turn a return, an exception or an interruption into the job's
next status — reads on its own, without the scheduling around it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from . import tracing
from ._time import seconds
from .backoff import backoff
from .errors import ConnectError, Error, MissingJobError, QueueError
from .job import Job, check_shape
from .ops import cancel, complete_attempt, fail
from .store.base import Store
from .task import Context, Task

if TYPE_CHECKING:
    from .queue import Queue
    from .workers import Runner

Report = Callable[[BaseException], Awaitable[None]]


class LifetimeExceeded(QueueError):
    """A handler ran longer than its task's lifetime and was cancelled."""


@dataclass(eq=False)
class Running:
    """A handler running now, and why the queue interrupted it (if it did)."""

    job: Job
    ctx: Context
    task: asyncio.Task[Any] | None = None
    why: str | None = None  # "cancel", "lifetime" or "shutdown"
    reason: str = ""

    def interrupt(self, why: str, reason: str = "") -> None:
        if self.why is None and self.task is not None and not self.task.done():
            self.why, self.reason = why, reason
            self.task.cancel()


class Attempts:
    """Runs attempts for a queue and writes their outcomes; ``running`` holds those in flight."""

    def __init__(self, queue: Queue, store: Store, report: Report) -> None:
        self.queue = queue
        self.store = store
        self.report = report
        self.running: dict[ObjectId, Running] = {}

    async def execute(self, runner: Runner, job: Job) -> asyncio.Task[None] | None:
        """Run one attempt; returns the task still writing a successful outcome (see ``Workers``)."""
        task = runner.task
        stats = runner.stats
        attempt = job.attempts
        if (requested := job.cancel_reason) is not None:
            await self.settle(task, lambda: cancel(self.store, job.id, requested, attempt=attempt))
            return None
        try:
            model = task.parse(job.data)
        except Exception as exc:  # a ValidationError, or whatever a model's own validator raised
            reason = task.invalid(exc)
            await self.settle(task, lambda: cancel(self.store, job.id, reason, attempt=attempt))
            stats.failed += 1
            stats.last_error = reason
            await self.report(Error(reason))
            return None
        with tracing.span(
            "queuecore/Execute",
            id=str(job.id),
            name=task.name,
            label=job.label or None,
            attempts=job.attempts,
        ) as span:
            ctx = Context(model=model, job=job, task=task, queue=self.queue, store=self.store, trace=span)
            run = Running(job, ctx)
            self.running[job.id] = run
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
                self.running.pop(job.id, None)
            tracing.record("duration", loop.time() - began, task.name)
            # A successful outcome is written while the worker claims its next job, unless the
            # attempt is traced: then the Complete span stays inside the Execute span.
            if not run.task.cancelled() and run.task.exception() is None and not tracing.recording(span):
                return loop.create_task(self._completed(runner, run))
            await self._conclude(runner, run)
            return None

    async def _completed(self, runner: Runner, run: Running) -> None:
        """Write the outcome of a handler that returned: the job is completed."""
        await self.settle(runner.task, lambda: complete_attempt(self.store, run.job, run.ctx.result))
        runner.stats.processed += 1

    async def _conclude(self, runner: Runner, run: Running) -> None:
        """Turn a finished handler into the job's next status."""
        task, job, stats = runner.task, run.job, runner.stats
        assert run.task is not None
        attempt = job.attempts
        # A handler the queue did not interrupt (nor anyone else: cancelling() == 0) that ends
        # cancelled raised CancelledError itself: an ordinary failure, not a shutdown.
        raised = run.task.cancelled() and run.why is None and run.task.cancelling() == 0
        if run.task.cancelled() and not raised:
            if run.why == "cancel":
                await self.settle(task, lambda: cancel(self.store, job.id, run.reason, attempt=attempt))
            elif run.why == "lifetime":
                stats.failed += 1
                stats.last_error = f"lifetime of {seconds(task.lifetime):g}s exceeded"
                exceeded = LifetimeExceeded(f"job {job.id} ({task.name}): {stats.last_error}")
                tracing.failed(run.ctx.trace, exceeded)
                await self.report(exceeded)
            else:
                await self.settle(
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
                await self.settle(task, lambda: fail(self.store, job.id, exc.reason, delay, attempt=attempt))
            else:
                await self.settle(task, lambda: cancel(self.store, job.id, exc.reason, attempt=attempt))
            return
        reason = str(exc) or type(exc).__name__
        stats.last_error = reason
        # the outcome first: a slow reporter must not keep the job dequeued (or its claim run out)
        if task.max_attempts == 0 or attempt < task.max_attempts:
            await self.settle(task, lambda: fail(self.store, job.id, reason, delay, attempt=attempt))
        else:
            await self.settle(task, lambda: cancel(self.store, job.id, reason, attempt=attempt))
        await self.report(exc)

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
                await self.report(exc)
            await asyncio.sleep(period)

    async def settle(self, task: Task, write: Callable[[], Awaitable[Job | None]]) -> None:
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
                await self.report(MissingJobError(f"{exc}: the attempt was superseded"))
                return
            except ConnectError as exc:
                left = give_up - loop.time()
                if failures == 0 or left <= 0:  # report the first failure and giving up, not each retry
                    await self.report(exc)
                if left <= 0:
                    return
                await asyncio.sleep(min(left, backoff(0.1, 5, 2, failures).total_seconds()))
                failures += 1
            except Exception as exc:
                await self.report(exc)
                return
