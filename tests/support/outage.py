"""What the outage tests share (tests/engines/*/test_outage.py, test_outcome_retries.py): a
queue that counts its handlers' runs, the dashboard's live model following a store as JobTUI
runs it beside a raw feed recorder, and waits bounded by ``DEADLINE_S``.

What a user gets from a write issued while the database is unavailable differs by engine (a
server gone and back, a file locked by another process); what every outage test asserts is
the same: every job is worked exactly once, the dashboard ends showing exactly what the store
holds, and the feed delivered every transition (or a reset to reload on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from bson import ObjectId

import queuecore
from jobtui.live import LiveModel
from jobtui.view import Delta
from queuecore import Blueprint, Change, ConnectError, Context, Job, Queue, Status, Task

#: How long the database is unavailable.
OUTAGE_S = 5.0
#: The longest any wait in these tests may take.
DEADLINE_S = 60.0


def finished(job: Job) -> bool:
    return job.status in queuecore.FINISHED


async def until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    """Wait until ``condition()`` holds (for states with no event to await, like ``store.mode``)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():  # noqa: ASYNC110 - store.mode has no event to await
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:g}s: {what}") from None


class Worked:
    """A queue on ``store`` with one task that counts how often each job's handler ran.

    A job with ``{"hold": true}`` blocks in its handler until ``release`` is set.
    """

    def __init__(self, store: queuecore.Store) -> None:
        self.runs: Counter[ObjectId] = Counter()
        self.reports: list[BaseException] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.queue = Queue(store, reporter=self.reports.append)
        self.queue.add(Task("work", self.handle, timeout=60, lifetime=60))

    async def handle(self, ctx: Context) -> None:
        self.runs[ctx.job.id] += 1
        if ctx.job.data.get("hold"):
            self.holding.set()
            await self.release.wait()
        ctx.result["n"] = ctx.job.data.get("n")


class Watching:
    """The dashboard's live model following ``store`` as JobTUI runs it, and a raw feed recorder."""

    def __init__(self, store: queuecore.Store) -> None:
        self.store = store
        self.model = LiveModel(store, counts_interval=0, latency_interval=3600)
        self.changes: list[Change] = []
        #: Runs of the model that ended with an error (and were restarted).
        self.interruptions: list[BaseException] = []
        self.updated = asyncio.Event()
        self.recorded = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def on_delta(self, delta: Delta) -> None:
        self.updated.set()

    async def follow(self) -> None:
        """What ``JobTUI.watch_store`` does: a run that fails is restarted after a backoff.

        A restarted run begins with ``reset``, so the window is reloaded and nothing is missed.
        """
        while True:
            try:
                await self.model.run(self.on_delta)
            except Exception as exc:
                self.interruptions.append(exc)
                await asyncio.sleep(queuecore.backoff(0.5, 10, 2, len(self.interruptions)).total_seconds())

    async def record(self) -> None:
        async for change in self.store.watch():
            self.changes.append(change)
            self.recorded.set()

    async def recorded_all(self, ids: list[ObjectId], timeout: float = DEADLINE_S) -> None:
        """Wait until the raw recorder (a feed of its own, not the model's) has delivered the
        completion of every job in ``ids``."""

        def done() -> bool:
            last = {c.id: c.job for c in self.changes}
            return all(last.get(i) is not None and last[i].status is Status.COMPLETED for i in ids)  # type: ignore[union-attr]

        try:
            async with asyncio.timeout(timeout):
                while not done():
                    self.recorded.clear()
                    await self.recorded.wait()
        except TimeoutError:
            raise AssertionError(
                f"the raw feed did not deliver every completion within {timeout:g}s"
            ) from None

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self.follow()), asyncio.create_task(self.record())]
        await self.shows(lambda: self.model.loaded, "the model loaded its first snapshot")

    async def shows(self, condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
        """Wait, delta by delta, until the model satisfies ``condition``."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    for task in self.tasks:
                        if task.done():
                            task.result()  # a watcher that died: show why
                    self.updated.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            await self.updated.wait()
        except TimeoutError:
            raise AssertionError(f"the model did not show, within {timeout:g}s: {what}") from None

    def status(self, id: ObjectId) -> Status | str | None:
        job = self.model.get(id)
        return job.status if job is not None else None

    def transitions(self, id: ObjectId) -> list[str]:
        """The events the raw feed delivered for ``id``, and the status the last one carried.

        One event per write: each carries the job as it was when the feed read it (MongoDB's
        ``updateLookup``, SQLite's join), so a quick dequeue+complete may both show completed.
        """
        mine = [c for c in self.changes if c.id == id]
        last = mine[-1].job if mine else None
        return [c.kind for c in mine] + [str(last.status) if last is not None else "?"]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def enqueue(store: queuecore.Store, **data: Any) -> Job:
    job = await queuecore.enqueue(store, Blueprint("work", data=data))
    assert job is not None
    return job


async def enqueue_retrying(store: queuecore.Store, data: dict[str, Any], failures: list[ConnectError]) -> Job:
    """What a caller does with ConnectError: try again (at once: the store's timeout paces it)."""
    while True:
        try:
            return await enqueue(store, **data)
        except ConnectError as exc:
            failures.append(exc)
            if len(failures) > 3:
                raise


async def assert_model_equals_database(watching: Watching, db: queuecore.Store, ids: list[ObjectId]) -> None:
    """The watcher ends with exactly the database's state: every job, status and attempt."""
    await watching.shows(
        lambda: all(watching.status(i) is Status.COMPLETED for i in ids), "every job completed"
    )
    stored = {j.id: (j.status, j.attempts, j.result) for j in await db.find(limit=1000)}
    shown = {j.id: (j.status, j.attempts, j.result) for j in watching.model.ordered()}
    assert shown == stored
    counts = await db.counts()
    await watching.shows(lambda: watching.model.counts == counts, f"the counts {counts}")


@contextlib.contextmanager
def sample_modes(*stores: queuecore.Store) -> Iterator[list[set[str]]]:
    """Every ``mode`` each store showed while the block ran (sampled every 10 ms)."""
    seen: list[set[str]] = [set() for _ in stores]

    async def sample() -> None:
        while True:
            for store, modes in zip(stores, seen, strict=True):
                modes.add(store.mode)
            await asyncio.sleep(0.01)

    task = asyncio.get_running_loop().create_task(sample())
    try:
        yield seen
    finally:
        task.cancel()
