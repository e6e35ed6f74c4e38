"""``python -m bench throughput``: no-op jobs end to end, queuecore (SQLite) against Huey's SqliteHuey.

See the package docstring for the method; in short, for each mode and system:

- ``phased``: enqueue N jobs with no worker running (clock starts at the first enqueue),
  then start W workers and stop the clock when all N jobs are completed;
- ``concurrent``: start W idle workers first, then enqueue N jobs one by one while they
  work; the clock runs from the first enqueue until all N jobs are completed.

And for reference (queuecore only, not a target: Huey has no batch enqueue), ``phased`` with
the N jobs enqueued by ``queuecore.enqueue_many`` in batches of 500.

Every run gets a fresh database file in a temporary directory, and is verified after the
clock stopped: queuecore must hold N completed jobs, each with ``attempts == 1`` and the
events enqueued → dequeued → completed; Huey must have an empty queue and schedule and N
stored results.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import queuecore
from queuecore import Blueprint, Context, Queue, Status, Task

from .common import console, header, table, targets

MODES = ("phased", "concurrent")
#: queuecore only, for reference (not a target: Huey has no batch enqueue): phased, with the
#: jobs enqueued by ``queuecore.enqueue_many`` in batches of ``BATCH``.
BULK = "phased, enqueue_many"
BATCH = 500
#: What each system keeps per job, for the table.
TRACKS = {
    "queuecore": "status, attempts, events, times",
    "huey": "result only",
}
#: How queuecore checks that everything finished (in-process counter, no database reads).
POLL = 0.002


@dataclass
class Run:
    """One measured run."""

    system: str
    durability: str
    mode: str
    jobs: int
    workers: int
    enqueue_s: float
    total_s: float
    verified: str

    @property
    def rate(self) -> float:
        return self.jobs / self.total_s

    @property
    def enqueue_rate(self) -> float:
        return self.jobs / self.enqueue_s


# -- queuecore -----------------------------------------------------------------


async def _noop(ctx: Context) -> None:
    return None


async def _run_queuecore(path: Path, jobs: int, workers: int, mode: str) -> Run:
    store = await queuecore.connect(f"sqlite:///{path}")
    queue = Queue(store)
    queue.add(Task("noop", _noop, workers=workers))
    blueprint = Blueprint("noop")
    try:
        if mode == "concurrent":
            await queue.run()
            started = time.perf_counter()
            for _ in range(jobs):
                await queue.enqueue(blueprint)
            enqueued = time.perf_counter()
        elif mode == BULK:
            started = time.perf_counter()
            for start in range(0, jobs, BATCH):
                await queuecore.enqueue_many(store, [blueprint] * min(BATCH, jobs - start))
            enqueued = time.perf_counter()
            await queue.run()
        else:
            started = time.perf_counter()
            for _ in range(jobs):
                await queuecore.enqueue(store, blueprint)
            enqueued = time.perf_counter()
            await queue.run()
        # the queue's in-process counters (no database reads); they have no event to await
        while sum(s.processed for s in queue.stats()) < jobs:  # noqa: ASYNC110
            await asyncio.sleep(POLL)
        finished = time.perf_counter()
        await queue.close()
        verified = await _verify_queuecore(store, jobs)
    finally:
        await queue.close()
        await store.close()
    return Run(
        "queuecore", "WAL, sync=NORMAL", mode, jobs, workers, enqueued - started, finished - started, verified
    )


async def _verify_queuecore(store: queuecore.Store, jobs: int) -> str:
    counts = await store.counts()
    found = await store.find(limit=jobs + 1)
    trail = [Status.ENQUEUED.value, Status.DEQUEUED.value, Status.COMPLETED.value]
    good = sum(
        1
        for job in found
        if job.status is Status.COMPLETED and job.attempts == 1 and [e.status for e in job.events] == trail
    )
    if counts[Status.COMPLETED.value] == jobs == good == len(found):
        return f"{good} completed · attempts 1 · 3 events"
    raise AssertionError(f"queuecore did not finish cleanly: counts {counts}, {good} of {len(found)} good")


# -- Huey ----------------------------------------------------------------------


def _huey_class(synchronous: str | None) -> Any:
    """SqliteHuey as shipped, or with ``PRAGMA synchronous`` set on every connection."""
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    if synchronous is None:
        return SqliteHuey

    class Storage(SqliteStorage):  # type: ignore[misc]
        def _create_connection(self) -> Any:
            conn = super()._create_connection()
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            return conn

    class Huey(SqliteHuey):  # type: ignore[misc]
        storage_class = Storage

    return Huey


def _run_huey(path: Path, jobs: int, workers: int, mode: str, synchronous: str | None) -> Run:
    from huey import signals

    huey = _huey_class(synchronous)("bench", filename=str(path))

    @huey.task()
    def noop() -> bool:
        return True  # stored in the result store: Huey's record that the job ran

    done = threading.Event()
    lock = threading.Lock()
    completed = [0]

    @huey.signal(signals.SIGNAL_COMPLETE)
    def _completed(signal_name: str, task: Any, *args: Any, **kwargs: Any) -> None:
        with lock:
            completed[0] += 1
            if completed[0] >= jobs:
                done.set()

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=False)
    try:
        if mode == "concurrent":
            consumer.start()
            started = time.perf_counter()
            for _ in range(jobs):
                noop()
            enqueued = time.perf_counter()
        else:
            started = time.perf_counter()
            for _ in range(jobs):
                noop()
            enqueued = time.perf_counter()
            consumer.start()
        if not done.wait(timeout=600):
            raise AssertionError(f"huey completed only {completed[0]} of {jobs} jobs")
        finished = time.perf_counter()
    finally:
        consumer.stop(graceful=True)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    pending, scheduled, results = huey.pending_count(), huey.scheduled_count(), huey.result_count()
    huey.storage.close()
    if (pending, scheduled, results) != (0, 0, jobs):
        raise AssertionError(
            f"huey did not drain: {pending} pending, {scheduled} scheduled, {results} results"
        )
    durability = (
        "WAL, sync=FULL (its default)" if synchronous is None else f"WAL, sync={synchronous} (as queuecore)"
    )
    return Run(
        "huey",
        durability,
        mode,
        jobs,
        workers,
        enqueued - started,
        finished - started,
        f"{results} results · queue empty",
    )


# -- the command ---------------------------------------------------------------


def _median(runs: list[Run]) -> Run:
    ordered = sorted(runs, key=lambda r: r.total_s)
    return ordered[len(ordered) // 2]


def run(jobs: int = 3000, workers: int = 4, modes: tuple[str, ...] = MODES, repeat: int = 1) -> list[Run]:
    """Measure every system in every mode; prints the table and the ratio targets."""
    header(
        "throughput",
        f"{jobs} no-op jobs, {workers} workers, fresh SQLite files in a temp dir; "
        "clock from the first enqueue until every job is completed (see bench/__init__.py)",
    )
    results: list[Run] = []
    for mode in modes:
        for system in ("queuecore", "huey", "huey-normal"):
            runs = []
            for _ in range(repeat):
                with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                    if system == "queuecore":
                        runs.append(
                            asyncio.run(_run_queuecore(Path(tmp) / "queuecore.db", jobs, workers, mode))
                        )
                    else:
                        sync = "NORMAL" if system == "huey-normal" else None
                        runs.append(_run_huey(Path(tmp) / "huey.db", jobs, workers, mode, sync))
            best = _median(runs)
            results.append(best)
            console.print(f"[dim]{mode:>10} {system:<12} {best.rate:8.0f} jobs/s[/]")
    if "phased" in modes:
        runs = []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                runs.append(asyncio.run(_run_queuecore(Path(tmp) / "queuecore.db", jobs, workers, BULK)))
        results.append(_median(runs))
        console.print(f"[dim]{BULK} queuecore {results[-1].rate:8.0f} jobs/s[/]")
    rows = [
        [r.mode, r.system, r.durability, f"{r.enqueue_rate:,.0f}", f"{r.rate:,.0f}", r.verified]
        for r in results
    ]
    notes = [f"{system} keeps per job: {kept}" for system, kept in TRACKS.items()]
    notes.append(f"'{BULK}': batches of {BATCH}, for reference only (Huey has no batch enqueue)")
    if repeat > 1:
        notes.append(f"median of {repeat} runs each")
    console.print(
        table(
            f"Throughput: {jobs} no-op jobs, {workers} workers",
            [
                "mode",
                "system",
                "durability",
                "enqueue/s",
                "end-to-end jobs/s",
                "checked after the clock stopped",
            ],
            rows,
            caption="; ".join(notes),
            left=3,
        )
    )
    checks = []
    for mode in modes:
        ours = next(r for r in results if r.system == "queuecore" and r.mode == mode)
        for peer in (r for r in results if r.system == "huey" and r.mode == mode):
            ratio = ours.rate / peer.rate
            checks.append(
                (f"{mode}: queuecore ÷ huey ({peer.durability})", f"{ratio:.2f}×", "≥ 2×", ratio >= 2.0)
            )
    console.print(targets("Targets", checks))
    return results
