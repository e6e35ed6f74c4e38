"""Seeding the tui benchmark's SQLite stores (in the parent process).

:func:`seed` writes full rows (the columns ``insert``/``claim``/``complete`` write, events and
all) with one ``executemany``: the 100,000-job store the keys, changes and bulk action run on.
:func:`seed_many` goes through the store's own ``insert_many`` in batches: the 1,000,000-job
store of the first-paint measure (the columns of a new job: id, name, label, data, status,
creation and availability times, events).

Both: the newest :data:`RUNNING` jobs are running (no progress yet: the writer's values are
the only ones the benchmark looks for on screen), the rest completed, failed, cancelled or
enqueued by the weights of :data:`MIX`; ids are time-ordered and their last 8 hex digits (the
short id the dashboard shows) unique. Each checks that the store reads its jobs back.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: Statuses of the seeded jobs (the newest RUNNING jobs are running, the rest by weight).
MIX = (("completed", 86), ("failed", 5), ("cancelled", 3), ("enqueued", 6))
RUNNING = 200
NAMES = (
    "send-mail",
    "resize-image",
    "sync-crm",
    "charge-card",
    "build-report",
    "notify",
    "import-csv",
    "webhook",
)


def _event(at: datetime, status: str, reason: str = "") -> dict[str, Any]:
    return {"at": at.isoformat(), "status": status, "reason": reason}


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def _oid(created: datetime, index: int) -> Any:
    from bson import ObjectId

    return ObjectId(ObjectId.from_datetime(created).binary[:4] + index.to_bytes(8, "big"))


async def _check(store: Any, jobs: int, sample: list[str], rng: random.Random) -> dict[str, int]:
    """The store's counts, after checking the newest jobs and a sample read back as valid jobs."""
    import queuecore

    stored = await store.counts()
    counts = {s.value: stored[s.value] for s in queuecore.Status}
    newest = await store.find(limit=RUNNING + 50)
    got = [await store.get(id) for id in rng.sample(sample, min(200, len(sample)))]
    bad = [j for j in [*newest, *got] if j is None or j.malformed]
    if bad or sum(counts.values()) != jobs:
        raise AssertionError(f"seeded jobs do not read back: counts {counts}, {len(bad)} malformed")
    return counts


async def seed(path: Path, jobs: int) -> dict[str, Any]:
    """Write ``jobs`` real jobs as full rows; return what the store reads back."""
    import queuecore

    store = await queuecore.connect(f"sqlite:///{path}")
    rng = random.Random(6)
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(seconds=jobs // 10)
    statuses = [s for s, _ in MIX]
    weights = [w for _, w in MIX]
    rows = []
    for index in range(jobs):
        created = first + timedelta(milliseconds=100 * index)
        name = NAMES[index % len(NAMES)]
        status = "dequeued" if index >= jobs - RUNNING else rng.choices(statuses, weights)[0]
        events = [_event(created, "enqueued")]
        started = ended = finished = None
        attempts, result, reason, worker, note = 0, None, "", "", ""
        available = created
        if status != "enqueued":
            started = created + timedelta(milliseconds=rng.randint(5, 500))
            attempts = 1
            worker = f"bench-host:{4000 + index % 4}:{name}"
            events.append(_event(started, "dequeued"))
            available = started + timedelta(minutes=10)
        if status == "dequeued":
            note = "working"
        elif status in ("completed", "failed", "cancelled"):
            ended = started + timedelta(milliseconds=rng.randint(5, 3000))  # type: ignore[operator]
            if status == "completed":
                result = json.dumps({"ok": True})
                finished = ended
            elif status == "failed":
                reason = "upstream returned 503"
                available = ended + timedelta(seconds=3600)
            else:
                reason = "invalid address"
                finished = ended
            events.append(_event(ended, status, reason))
        rows.append(
            (
                str(_oid(created, index)),
                name,
                f"customer-{index % 977}" if status in ("completed", "cancelled") else "",
                json.dumps({"customer": index % 977, "attempt": index}),
                status,
                _ms(created),
                _ms(available),
                _ms(started) if started else None,
                _ms(ended) if ended else None,
                _ms(finished) if finished else None,
                attempts,
                result,
                reason,
                json.dumps(events),
                worker,
                None,
                note,
            )
        )
    sql = (
        f"INSERT INTO {store.collection} (id, name, label, data, status, created_at, available_at,"
        " started_at, ended_at, finished_at, attempts, result, reason, events, worker, progress, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    began = time.perf_counter()

    def write(conn: Any) -> None:
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")

    await store._run(write)  # type: ignore[attr-defined]
    took = time.perf_counter() - began
    counts = await _check(store, jobs, [r[0] for r in rows], rng)
    await store.close()
    return {"seconds": took, "counts": counts}


async def seed_many(path: Path, jobs: int, batch: int = 10_000) -> dict[str, Any]:
    """Write ``jobs`` jobs through ``store.insert_many``, ``batch`` per call (one transaction
    each); return the time it took and what the store reads back."""
    import queuecore
    from queuecore import Event, Job, Status

    store = await queuecore.connect(f"sqlite:///{path}")
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(milliseconds=10 * jobs)
    statuses = [Status(s) for s, _ in MIX]
    weights = [w for _, w in MIX]
    sample: list[str] = []
    # every field at its default (``Job.trusted`` takes all of them, unvalidated, and is several
    # times cheaper than ``model_construct``: a million of these are made)
    defaults = {name: info.get_default(call_default_factory=True) for name, info in Job.model_fields.items()}
    began = time.perf_counter()
    for start in range(0, jobs, batch):
        items = []
        for index in range(start, min(jobs, start + batch)):
            created = first + timedelta(milliseconds=10 * index)
            running = index >= jobs - RUNNING
            status = Status.DEQUEUED if running else rng.choices(statuses, weights)[0]
            events = [Event(at=created, status="enqueued")]
            if status is not Status.ENQUEUED:
                events.append(Event(at=created + timedelta(milliseconds=5), status="dequeued"))
            if status not in (Status.ENQUEUED, Status.DEQUEUED):
                events.append(Event(at=created + timedelta(milliseconds=50), status=status.value))
            values = {
                "id": _oid(created, index),
                "name": NAMES[index % len(NAMES)],
                "label": f"customer-{index % 977}" if status is Status.COMPLETED else "",
                "data": {"customer": index % 977, "attempt": index},
                "status": status,
                "created": created,
                "available": created + timedelta(minutes=10) if running else created,
                "events": events,
            }
            job = Job.trusted(**(defaults | values))
            items.append((job, False))
            if index % 5000 == 0:
                sample.append(str(job.id))
        inserted = await store.insert_many(items)
        if not all(inserted):
            raise AssertionError(f"insert_many skipped {inserted.count(False)} jobs")
    took = time.perf_counter() - began
    counts = await _check(store, jobs, sample, rng)
    await store.close()
    return {"seconds": took, "counts": counts}
