"""``python -m bench latency``: enqueue → handler-start latency on an idle queue (SQLite).

One job at a time: the clock starts just before ``enqueue`` is called and stops when the
handler starts (``time.perf_counter`` in the same process). The job then completes and
the queue is idle again for a random 0–100 ms before the next job, so the enqueue falls at
a random point of any polling cycle (the polling workers restart their cycle after each
job). Rows:

- ``queuecore, same process``: ``queue.enqueue`` in the process that runs the workers
  (the job goes straight onto its board; no lag for a process's own jobs). Targets apply.
- ``queuecore, other connection``: ``queuecore.enqueue`` through a second store on the same
  file, exactly as another process would; the queue learns of the job from the change feed
  (``PRAGMA data_version`` checked every ``feed_interval`` = 20 ms) and then waits its
  random stampede lag (``max_lag``, 0–100 ms by default, as the original). Shown with the
  default lag and with ``max_lag=0``.
- ``polling, 100 ms``: the design this replaces: each worker looks for an available job
  every 100 ms (the original's ``Task.Interval``) with one indexed query on the same store,
  and claims it with the same ``dequeue``.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import queuecore
from queuecore import Blueprint, Context, Queue, Status, Task
from queuecore._time import utcnow

from .common import console, header, percentile, table, targets

#: The original's worker polling interval (``Task.Interval``).
POLL_INTERVAL = 0.1


@dataclass
class Series:
    """Latencies (seconds) of one row."""

    name: str
    how: str
    samples: list[float]

    def p(self, q: float) -> float:
        return percentile(self.samples, q)


class _Starts:
    """Handler start times by job id, with an event per job."""

    def __init__(self) -> None:
        self.times: dict[Any, float] = {}
        self.events: dict[Any, asyncio.Event] = {}

    def expect(self, id: Any) -> asyncio.Event:
        return self.events.setdefault(id, asyncio.Event())

    def started(self, id: Any) -> None:
        self.times.setdefault(id, time.perf_counter())
        self.expect(id).set()


async def _sample(
    samples: int,
    enqueue: Callable[[], Awaitable[queuecore.Job | None]],
    starts: _Starts,
    finished: Callable[[], int],
) -> list[float]:
    """Enqueue one job at a time on an idle queue; return enqueue → handler-start latencies."""
    out = []
    for index in range(samples):
        await asyncio.sleep(random.uniform(0, POLL_INTERVAL))  # idle; a random point of any cycle
        began = time.perf_counter()
        job = await enqueue()
        assert job is not None
        async with asyncio.timeout(10):
            await starts.expect(job.id).wait()
            # completed: the queue is idle again (an in-process counter; it has no event)
            while finished() <= index:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
        out.append(starts.times[job.id] - began)
    return out


async def _queuecore(path: Path, samples: int, workers: int, *, other: bool, max_lag: float) -> list[float]:
    store = await queuecore.connect(f"sqlite:///{path}")
    starts = _Starts()

    async def handler(ctx: Context) -> None:
        starts.started(ctx.job.id)

    queue = Queue(store, max_lag=max_lag)
    queue.add(Task("ping", handler, workers=workers))
    await queue.run()
    producer = await queuecore.connect(f"sqlite:///{path}") if other else store
    blueprint = Blueprint("ping")

    async def enqueue() -> queuecore.Job | None:
        if other:
            return await queuecore.enqueue(producer, blueprint)
        return await queue.enqueue(blueprint)

    try:
        return await _sample(samples, enqueue, starts, lambda: sum(s.processed for s in queue.stats()))
    finally:
        await queue.close()
        if other:
            await producer.close()
        await store.close()


async def _polling(path: Path, samples: int, workers: int) -> list[float]:
    """Workers that poll the store every POLL_INTERVAL, then claim with the same dequeue()."""
    store = await queuecore.connect(f"sqlite:///{path}")
    starts = _Starts()
    done = [0]
    stop = asyncio.Event()

    async def worker() -> None:
        while not stop.is_set():
            now = utcnow()
            ready = [
                j for j in await store.active(["ping"]) if j.status is Status.ENQUEUED and j.available <= now
            ]
            job = await queuecore.dequeue(store, ready[0].id, 600) if ready else None
            if job is None:
                try:
                    async with asyncio.timeout(POLL_INTERVAL):
                        await stop.wait()
                except TimeoutError:
                    pass
                continue
            starts.started(job.id)  # the handler
            await queuecore.complete(store, job.id, attempt=job.attempts)
            done[0] += 1

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        return await _sample(
            samples, lambda: queuecore.enqueue(store, Blueprint("ping")), starts, lambda: done[0]
        )
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await store.close()


def run(samples: int = 100, workers: int = 2) -> list[Series]:
    """Measure every row; prints the table and the targets."""
    header(
        "latency",
        f"{samples} jobs one at a time on an idle queue, {workers} workers, SQLite file in a temp dir; "
        "enqueue call → handler start (see bench/latency.py)",
    )
    rows: list[Series] = []
    plans: list[tuple[str, str, Callable[[Path], Awaitable[list[float]]]]] = [
        (
            "queuecore, same process",
            "queue.enqueue; board wakes the worker",
            lambda p: _queuecore(p, samples, workers, other=False, max_lag=0.1),
        ),
        (
            "queuecore, other connection",
            "change feed (20 ms) + max_lag 0–100 ms",
            lambda p: _queuecore(p, samples, workers, other=True, max_lag=0.1),
        ),
        (
            "queuecore, other connection, max_lag=0",
            "change feed (20 ms)",
            lambda p: _queuecore(p, samples, workers, other=True, max_lag=0.0),
        ),
        (
            "polling, 100 ms interval",
            "query + dequeue every 100 ms per worker",
            lambda p: _polling(p, samples, workers),
        ),
    ]
    for name, how, measure in plans:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            values = asyncio.run(measure(Path(tmp) / "latency.db"))
        rows.append(Series(name, how, values))
        console.print(f"[dim]{name:<42} p50 {percentile(values, 50) * 1000:7.2f} ms[/]")

    def ms(value: float) -> str:
        return f"{value * 1000:.2f}"

    console.print(
        table(
            "Enqueue → handler start (ms)",
            ["design", "how the worker learns of the job", "n", "p50", "p90", "p99", "max"],
            [
                [s.name, s.how, len(s.samples), ms(s.p(50)), ms(s.p(90)), ms(s.p(99)), ms(max(s.samples))]
                for s in rows
            ],
            left=2,
        )
    )
    ours, polling = rows[0], rows[-1]
    console.print(
        targets(
            "Targets (queuecore, same process)",
            [
                ("p50 latency", f"{ms(ours.p(50))} ms", "≤ 5 ms", ours.p(50) <= 0.005),
                ("p99 latency", f"{ms(ours.p(99))} ms", "≤ 50 ms", ours.p(99) <= 0.050),
                (
                    "p50 vs polling (100 ms)",
                    f"{polling.p(50) / ours.p(50):.0f}× lower",
                    "lower",
                    ours.p(50) < polling.p(50),
                ),
            ],
        )
    )
    return rows
