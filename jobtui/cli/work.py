"""``jobtui work MODULE``: the headless worker host.

It runs the tasks of MODULE in a :class:`queuecore.Queue` until Ctrl-C or SIGTERM, then stops
gracefully (running jobs get ``--grace`` seconds), and logs each outcome of its own jobs to
stderr from the store's change feed. Every logged line is printable: they quote job names and
reasons, which are untrusted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

import queuecore
from queuecore import Job, Status, Store
from queuecore.printable import PrintableRecords

from .. import format as fmt
from ..workers import HandlerThreads, WorkersError, build_queue, load_tasks
from .options import Collection, Mongo, Sqlite, StoreUri, mutating, store_target
from .session import error_line, fail, run

log = logging.getLogger("jobtui.work")
log.addFilter(PrintableRecords())  # its lines name jobs and quote their reasons


def work(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(metavar="MODULE[:ATTR]", help="The tasks to host.")],
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            metavar="S",
            help="On stop, running jobs get this long before they fail for retry.",
        ),
    ] = 10.0,
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Run the workers of MODULE headless until Ctrl-C or SIGTERM, then stop gracefully.

    Job outcomes are logged to stderr as they happen (from the store's change feed;
    a MongoDB server without change streams only polls, and then logs none).
    """
    mutating(ctx, "work")
    target = store_target(ctx, store_uri, mongo, sqlite, collection)
    try:
        names = [t.name for t in load_tasks(spec)]
    except WorkersError as exc:
        fail(str(exc), target)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(PrintableRecords())  # every record printed, a library's too
    logging.basicConfig(
        handlers=[handler], level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )

    async def host(store: Store) -> None:
        await _host_workers(store, spec, names, grace)

    run(target, host)


async def _host_workers(store: Store, spec: str, names: list[str], grace: float) -> None:
    """Run the queue until a stop signal; close it so no running job is left claimed. When the
    store's file goes (StoreGone) the queue has stopped: raise it (one ``error:`` line, exit 1)."""
    stop = asyncio.Event()

    def report(exc: BaseException) -> None:
        if isinstance(exc, queuecore.StoreGone):
            stop.set()  # said once, as the error line
            return
        log.warning("problem: %s", error_line(str(exc) or type(exc).__name__))

    queue = build_queue(store, spec, reporter=report, grace=grace)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(HandlerThreads())  # a stuck `def` handler cannot keep us from exiting

    def on_signal() -> None:
        if stop.is_set():
            log.info("still stopping: running jobs get up to %gs in all", grace)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    outcomes = _OutcomeLog(f"{socket.gethostname()}:{os.getpid()}:", set(names))
    follow = asyncio.create_task(outcomes.follow(store))
    try:
        await queue.run()
        if queue.gone is None:
            log.info("working: %s on %s (%s)", ", ".join(names), store.display_uri, store.collection)
            await stop.wait()
        if queue.gone is not None:  # nothing can be written any more: running jobs are let go
            await queue.close(grace=0)
            raise queue.gone
        running = [id for s in queue.stats() for id in s.current]
        log.info("stopping: waiting up to %gs for %d running job(s)", grace, len(running))
        await queue.close()
        for id in running:  # their outcome, even if the change feed has not delivered it yet
            job = await store.get(id)
            if job is not None:
                outcomes.log(job)
        log.info("stopped")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await queue.close()


class _OutcomeLog:
    """Logs each status change of the jobs this process works on, once."""

    def __init__(self, worker_prefix: str, names: set[str]) -> None:
        self.worker_prefix = worker_prefix
        self.names = names
        self.seen: dict[Any, tuple[str, int]] = {}

    async def follow(self, store: Store) -> None:
        """Log from the store's change feed until cancelled."""
        async for change in store.watch():
            if change.job is not None:
                self.log(change.job)

    def log(self, job: Job) -> None:
        """Log ``job``'s status if it is one of ours and changed since last logged."""
        if job.malformed or job.name not in self.names or not job.worker.startswith(self.worker_prefix):
            return
        status = str(job.status)
        if self.seen.get(job.id) == (status, job.attempts):
            return
        self.seen[job.id] = (status, job.attempts)
        if len(self.seen) > 10_000:  # bounded: forget the oldest jobs
            del self.seen[next(iter(self.seen))]
        what = f"{job.name} {job.id} (attempt {job.attempts})"
        if status == Status.DEQUEUED:
            if job.cancel_reason is None:
                log.info("started    %s", what)
            return
        took = ""
        if job.started and job.ended and job.ended >= job.started:
            took = f" in {fmt.duration((job.ended - job.started).total_seconds())}"
        if status == Status.COMPLETED:
            log.info("completed  %s%s", what, took)
        elif status == Status.FAILED:
            wait = fmt.duration((job.available - datetime.now(UTC)).total_seconds()) if job.available else "?"
            log.info("failed     %s%s: %s (retry in %s)", what, took, error_line(job.reason), wait)
        elif status == Status.CANCELLED:
            log.info("cancelled  %s%s: %s", what, took, error_line(job.reason))
