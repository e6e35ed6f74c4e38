"""``python -m bench mongo``: database commands per successful job on the MongoDB engine.

A PyMongo command listener (``pymongo.monitoring``, registered before the client is made)
sees every command the store's client sends. A queue with one no-op task runs on a fresh
collection; after a warm-up (connections open, change stream open, board loaded) the
counters are reset, then N jobs are enqueued one by one through ``queue.enqueue`` while the
workers run, and the count stops when the queue's in-process counters (no database reads)
say all N completed. Commands are sorted into:

- writes: ``insert``, ``update``, ``findAndModify``, ``delete``;
- reads: ``find``, ``aggregate``, ``count``, ``distinct`` and ``getMore`` on those cursors;
- change stream: the ``aggregate`` that opens a ``$changeStream`` and ``getMore`` on its
  cursor — the push channel that keeps every board current (per batch of events, not per job);
- other: handshakes, ``ping``, index commands, ``endSessions``, …

Server: nx-27017 (MongoDB wire protocol on SQLite), started exactly as the test suite does
(``tests/support/mongo_server.py``), or a real MongoDB with ``--uri``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from pymongo import monitoring

import queuecore
from queuecore import Blueprint, Context, Queue, Task
from queuecore.uri import mask

from .common import console, header, table, targets

WRITES = {"insert", "update", "findAndModify", "delete"}
READS = {"find", "aggregate", "count", "countDocuments", "distinct"}


class Commands(monitoring.CommandListener):
    """Counts commands by name and category while ``recording``."""

    def __init__(self) -> None:
        self.recording = False
        self.counts: Counter[tuple[str, str]] = Counter()
        self._stream_requests: set[int] = set()
        self.stream_cursors: set[int] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        command = event.command
        if name == "aggregate" and any("$changeStream" in stage for stage in command.get("pipeline", [])):
            self._stream_requests.add(event.request_id)
            category = "change stream"
        elif name == "getMore":
            category = "change stream" if int(command.get("getMore", 0)) in self.stream_cursors else "read"
        elif name in WRITES:
            category = "write"
        elif name in READS:
            category = "read"
        else:
            category = "other"
        if self.recording:
            self.counts[(category, name)] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self._stream_requests:
            self._stream_requests.discard(event.request_id)
            cursor = (event.reply or {}).get("cursor") or {}
            if cursor.get("id"):
                self.stream_cursors.add(int(cursor["id"]))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._stream_requests.discard(event.request_id)

    def total(self, category: str) -> int:
        return sum(n for (c, _), n in self.counts.items() if c == category)


def start_nx(tmpdir: Path) -> Any:
    """Start nx-27017 the way the test suite does (``tests/support/mongo_server.start_server``)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "support" / "mongo_server.py"
    spec = importlib.util.spec_from_file_location("bench_mongo_server", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.start_server(tmpdir)


async def _measure(uri: str, jobs: int, warmup: int, workers: int, listener: Commands) -> tuple[str, float]:
    collection = f"bench_{uuid.uuid4().hex[:10]}"
    store = await queuecore.connect(uri, collection=collection)
    done = [0]

    async def noop(ctx: Context) -> None:
        done[0] += 1

    queue = Queue(store)
    queue.add(Task("noop", noop, workers=workers))
    blueprint = Blueprint("noop")

    def completed() -> int:
        return sum(s.processed for s in queue.stats())

    async def drain(target: int) -> None:
        async with asyncio.timeout(300):
            while completed() < target:  # noqa: ASYNC110 (in-process counters, no database reads)
                await asyncio.sleep(0.005)

    try:
        await queue.run()
        for _ in range(warmup):
            await queue.enqueue(blueprint)
        await drain(warmup)
        listener.counts.clear()
        listener.recording = True
        started = time.perf_counter()
        for _ in range(jobs):
            await queue.enqueue(blueprint)
        await drain(warmup + jobs)
        elapsed = time.perf_counter() - started
        listener.recording = False
        mode = store.mode
    finally:
        listener.recording = False
        await queue.close()
        await store.coll.drop()  # type: ignore[attr-defined]
        await store.close()
    return mode, elapsed


def run(jobs: int = 200, warmup: int = 20, workers: int = 2, uri: str | None = None) -> Commands:
    """Count the commands; prints the table and the targets."""
    header(
        "mongo",
        f"{jobs} no-op jobs after {warmup} warm-up jobs, {workers} workers; every command the client "
        "sends is counted with pymongo.monitoring (see bench/mongo.py)",
    )
    listener = Commands()
    monitoring.register(listener)
    with tempfile.TemporaryDirectory(prefix="bench-nx-") as tmp:
        server = None
        if uri is None:
            server = start_nx(Path(tmp))
            target = server.uri
            where = f"nx-27017 (tests/support/mongo_server.py) at {server.uri}"
        else:
            target = uri
            where = mask(uri)
        try:
            mode, elapsed = asyncio.run(_measure(target, jobs, warmup, workers, listener))
        finally:
            if server is not None:
                server.stop()
    console.print(f"[dim]server:[/] {where} · watch mode: {mode} · {jobs / elapsed:.0f} jobs/s")
    order = {"write": 0, "read": 1, "change stream": 2, "other": 3}
    rows = [
        [name, category, n, f"{n / jobs:.2f}"]
        for (category, name), n in sorted(listener.counts.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
    ]
    for category in order:
        rows.append(
            [
                f"all {category}s" if category != "change stream" else "all change stream",
                category,
                listener.total(category),
                f"{listener.total(category) / jobs:.2f}",
            ]
        )
    console.print(
        table(
            f"Commands for {jobs} successful jobs (steady state)",
            ["command", "category", "count", "per job"],
            rows,
        )
    )
    writes = listener.total("write") / jobs
    inserts = listener.counts[("write", "insert")] / jobs
    fams = listener.counts[("write", "findAndModify")] / jobs
    updates = listener.counts[("write", "update")] / jobs
    reads = listener.total("read")
    console.print(
        targets(
            "Targets",
            [
                ("writes per job", f"{writes:.2f}", "= 3", listener.total("write") == 3 * jobs),
                ("  insert (enqueue)", f"{inserts:.2f}", "= 1", listener.counts[("write", "insert")] == jobs),
                (
                    "  findAndModify (claim: the worker reads the job)",
                    f"{fams:.2f}",
                    "= 1",
                    listener.counts[("write", "findAndModify")] == jobs,
                ),
                (
                    "  update (finish: nothing read back)",
                    f"{updates:.2f}",
                    "= 1",
                    listener.counts[("write", "update")] == jobs,
                ),
                ("reads in steady state", str(reads), "= 0", reads == 0),
            ],
        )
    )
    return listener
