"""The basic operations of the original (Enqueue, Dequeue, Complete, Fail, Cancel,
AddJobIndexes) and the operator actions the dashboard needs (cancel_job, requeue).

Each is one guarded, atomic store update; the guard (which statuses a job may
move from) is written here once, for every engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId

from . import tracing
from ._shape import as_message, text_problem
from ._time import Duration, delta, seconds, utcnow
from .errors import MissingJobError, TransitionError
from .job import ACTIVE, FINISHED, Blueprint, Event, Job, Status, check_data, check_shape
from .store.base import Store, parse_id
from .store.changes import Changes, Guard
from .store.common import LockConflict


def _oid(id: ObjectId | str) -> ObjectId:
    oid = parse_id(id)
    if oid is None:
        raise ValueError(f"not a job id: {id!r} (expected 24 hex digits)")
    return oid


async def enqueue(store: Store, blueprint: Blueprint, *, trace: str | None = None) -> Job | None:
    """Insert a job for ``blueprint``; returns it, or None when a label de-duplicated it.

    Unlabeled jobs are always inserted. A labeled job is skipped while another
    job with the same name and label is enqueued, dequeued or failed (enforced by
    a unique lock in the store, so it holds across processes); with a ``period``
    it is also skipped when such a job finished within the period.
    """
    if not blueprint.name:
        raise ValueError("a blueprint needs a task name")
    with tracing.span(
        "queuecore/Enqueue",
        name=blueprint.name,
        label=blueprint.label or None,
        delay=seconds(blueprint.delay) or None,
    ) as span:
        job = await _enqueue(store, blueprint, trace or tracing.inject())
        tracing.annotate(span, id=str(job.id) if job else None, skipped=job is None)
    if job is not None:
        tracing.count("enqueued", job.name)
    return job


async def enqueue_many(
    store: Store, blueprints: Iterable[Blueprint], *, trace: str | None = None
) -> list[Job | None]:
    """Enqueue many blueprints at once (Sidekiq's ``push_bulk``, Oban's ``insert_all``).

    Each follows :func:`enqueue`'s rules (a blueprint with the name and label of an active
    job — or of another blueprint earlier in the list — is skipped; labeled blueprints with
    a period are inserted after the others); the result holds, in order, each
    job or None where it was skipped. Every blueprint is checked before anything is
    inserted, so bad data inserts nothing.

    On SQLite one call is one transaction, all or nothing: a failure midway (a full disk, a
    producer killed) leaves none of the batch, so retrying the call is safe. It holds the
    write lock for the whole batch (about 35 µs a job), so split very large ones. On MongoDB
    it is one unordered ``insert_many`` (then the periodic ones one by one), not a
    transaction: a failure midway may leave any part of the batch inserted. To retry there
    without duplicates, give each blueprint a label of its own (an idempotency key): the retry
    skips those still active; add a ``period`` covering the time since the first try to skip
    those that finished meanwhile too. On SQLite about 2.8 times the rate of one ``enqueue``
    after another.
    """
    items = list(blueprints)
    if not all(blueprint.name for blueprint in items):
        raise ValueError("a blueprint needs a task name")
    with tracing.span("queuecore/EnqueueMany", count=len(items)) as span:
        now = utcnow()
        context = trace or tracing.inject()
        jobs = []
        for n, blueprint in enumerate(items, 1):
            jobs.append(_new_job(blueprint, now, context))
            if n % 1000 == 0:
                await asyncio.sleep(0)  # a long list: let the event loop run in between
        # a labeled blueprint with a period also checks the jobs finished within it (see _insert)
        since = [now - delta(b.period) if b.label and seconds(b.period) > 0 else None for b in items]
        inserted = await store.insert_many([(job, bool(job.label)) for job in jobs], since=since)
        results: list[Job | None] = [job if ok else None for job, ok in zip(jobs, inserted, strict=True)]
        tracing.annotate(span, skipped=results.count(None))
    for job in results:
        if job is not None:
            tracing.count("enqueued", job.name)
    return results


async def _enqueue(store: Store, blueprint: Blueprint, trace: str | None) -> Job | None:
    now = utcnow()
    return await _insert(store, _new_job(blueprint, now, trace), blueprint, now)


def _new_job(blueprint: Blueprint, now: datetime, trace: str | None) -> Job:
    """The job a blueprint makes (its data checked: raises for data that cannot be stored)."""
    data = blueprint.payload()
    check_data(data)
    for what, text in (("the job name", blueprint.name), ("the label", blueprint.label or "")):
        if isinstance(text, str) and (problem := text_problem(text, what)):
            raise ValueError(problem)  # a lone surrogate (e.g. an undecodable argv byte)
    return Job(
        id=ObjectId(),
        name=blueprint.name,
        label=blueprint.label or "",
        data=data,
        status=Status.ENQUEUED,
        created=now,
        available=now + delta(blueprint.delay),
        events=[Event(at=now, status=Status.ENQUEUED, reason="")],
        trace=trace,
    )


async def _insert(store: Store, job: Job, blueprint: Blueprint, now: datetime) -> Job | None:
    """Insert one new job by :func:`enqueue`'s rules; None when its label skips it."""
    if not job.label:
        await store.insert(job, lock=False)
        return job
    period = seconds(blueprint.period)
    since = now - delta(period) if period > 0 else None
    if not await store.insert(job, lock=True, unless_finished_after=since):
        return None
    return job


async def dequeue(store: Store, id: ObjectId | str, timeout: Duration, *, worker: str = "") -> Job | None:
    """Claim the job: only if enqueued, failed, or dequeued with its timeout passed,
    and available. It stays claimed for ``timeout``. None when another worker won."""
    with tracing.span("queuecore/Dequeue", id=str(id), timeout=seconds(timeout)) as span:
        job = await store.claim(_oid(id), utcnow(), delta(timeout), worker)
        if job is not None:
            tracing.annotate(span, name=job.name, label=job.label or None, attempts=job.attempts)
        return job


async def complete(
    store: Store,
    id: ObjectId | str,
    result: dict[str, Any] | None = None,
    *,
    attempt: int | None = None,
) -> Job:
    """Complete a dequeued job with ``result``. ``attempt`` (optional) guards against
    finishing an attempt that was already superseded by a newer one."""
    return await _complete(store, id, result, attempt, None)


async def complete_attempt(store: Store, job: Job, result: dict[str, Any] | None = None) -> None:
    """:func:`complete` for the worker that ran ``job``'s current attempt: the same guarded
    write (raises :class:`MissingJobError` when the attempt was superseded), but the job is
    not read back — the worker knows it, and reading it back is a good part of the cost."""
    await _complete(store, job.id, result, job.attempts, job)


async def _complete(
    store: Store, id: ObjectId | str, result: dict[str, Any] | None, attempt: int | None, known: Job | None
) -> Job:
    check_shape(result, "a job's result")  # a reader could not decode it, an engine not store it
    now = utcnow()
    return await _finish(
        store,
        id,
        "Complete",
        attempt,
        Changes(
            status=Status.COMPLETED,
            result=dict(result or {}),
            ended=now,
            finished=now,
            cancel_reason=None,
            event=Event(at=now, status=Status.COMPLETED),
            lock=False,
        ),
        known=known,
    )


async def fail(
    store: Store,
    id: ObjectId | str,
    reason: str,
    delay: Duration = 0,
    *,
    attempt: int | None = None,
) -> Job:
    """Fail a dequeued job: it becomes available again after ``delay``."""
    reason = as_message(reason)
    now = utcnow()
    return await _finish(
        store,
        id,
        "Fail",
        attempt,
        Changes(
            status=Status.FAILED,
            reason=reason,
            ended=now,
            available=now + delta(delay),
            event=Event(at=now, status=Status.FAILED, reason=reason),
        ),
        delay=seconds(delay),
    )


async def cancel(
    store: Store,
    id: ObjectId | str,
    reason: str,
    *,
    attempt: int | None = None,
) -> Job:
    """Cancel a dequeued job for good (the worker's cancel; operators use :func:`cancel_job`)."""
    reason = as_message(reason)
    now = utcnow()
    return await _finish(
        store,
        id,
        "Cancel",
        attempt,
        _cancelled(now, reason),
    )


_COUNTED = {"Complete": "completed", "Fail": "failed", "Cancel": "cancelled"}


async def _finish(
    store: Store,
    id: ObjectId | str,
    op: str,
    attempt: int | None,
    changes: Changes,
    *,
    delay: float | None = None,
    known: Job | None = None,
) -> Job:
    """End an attempt of a dequeued job (complete, fail or cancel), traced and counted.
    With ``known`` (the job as its worker claimed it) the job is not read back, and
    ``known`` itself is returned."""
    reason = changes.event.reason or None if changes.event is not None else None
    with tracing.span(f"queuecore/{op}", id=str(id), reason=reason, delay=delay) as span:
        write = store.update if known is None else store.update_only
        written = await write(_oid(id), Guard.status(Status.DEQUEUED, attempts=attempt), changes)
        if not written:
            raise MissingJobError()
        job = known if known is not None else written
        assert isinstance(job, Job)  # update returned the job (update_only: True)
        tracing.annotate(span, name=job.name, label=job.label or None, attempts=job.attempts)
    tracing.count(_COUNTED[op], job.name)
    return job


def _cancelled(now: datetime, reason: str) -> Changes:
    """The changes of a cancellation: ended and finished now, the lock released."""
    return Changes(
        status=Status.CANCELLED,
        reason=reason,
        ended=now,
        finished=now,
        cancel_reason=None,
        event=Event(at=now, status=Status.CANCELLED, reason=reason),
        lock=False,
    )


async def cancel_job(store: Store, id: ObjectId | str, reason: str = "cancelled by operator") -> Job:
    """Operator cancel, from any process.

    An enqueued or failed job (or a stalled one: dequeued, its timeout passed) is
    cancelled at once. A running job gets a cancellation request: the worker
    running it cancels its handler within a second and ends the job cancelled
    with ``reason``. Returns the job as it is after the call.
    Raises :class:`TransitionError` for a completed or cancelled job and
    :class:`MissingJobError` when there is no such job.
    """
    with tracing.span("queuecore/CancelJob", id=str(id), reason=reason):
        job = await _cancel_job(store, _oid(id), reason)
    if job.status is Status.CANCELLED:
        tracing.count("cancelled", job.name)
    return job


async def _cancel_job(store: Store, oid: ObjectId, reason: str) -> Job:
    reason = as_message(reason)
    now = utcnow()
    # at once when waiting, or stalled (no worker holds it: queuecore.status)
    job = await store.update(
        oid, Guard.status(Status.ENQUEUED, Status.FAILED, stalled_at=now), _cancelled(now, reason)
    )
    if job is not None:
        return job
    requested = Changes(cancel_reason=reason, event=Event(at=now, status="cancel-requested", reason=reason))
    job = await store.update(oid, Guard.status(Status.DEQUEUED), requested)
    if job is not None:
        return job
    current = await store.get(oid)
    if current is None:
        raise MissingJobError(f"no job {oid}")
    raise TransitionError(f"cannot cancel job {oid}: it is {current.status}")


async def requeue(
    store: Store, id: ObjectId | str, delay: Duration = 0, reason: str = "re-enqueued by operator"
) -> Job:
    """Put a failed, cancelled or completed job back to enqueued (after ``delay``).

    Attempts start again from zero (the events keep the history; ``reason`` is the
    reason of the event that records the re-enqueue). A labeled job is refused while
    another job with its name and label is active.
    """
    with tracing.span("queuecore/Requeue", id=str(id), delay=seconds(delay) or None):
        return await _requeue(store, _oid(id), delay, reason)


async def _requeue(store: Store, oid: ObjectId, delay: Duration, reason: str) -> Job:
    reason = as_message(reason)
    now = utcnow()
    try:
        requeued = Changes(
            status=Status.ENQUEUED,
            available=now + delta(delay),
            finished=None,
            attempts=0,
            cancel_reason=None,
            progress=None,
            note="",
            event=Event(at=now, status=Status.ENQUEUED, reason=reason),
            lock=True,
        )
        job = await store.update(oid, Guard.status(Status.FAILED, *FINISHED), requeued)
    except LockConflict:
        current = await store.get(oid)
        name = current.name if current else "?"
        label = current.label if current else "?"
        raise TransitionError(
            f"cannot re-enqueue job {oid}: another job {name!r} with label {label!r} is active"
        ) from None
    if job is not None:
        return job
    current = await store.get(oid)
    if current is None:
        raise MissingJobError(f"no job {oid}")
    raise TransitionError(f"cannot re-enqueue job {oid}: it is {current.status}")


async def ensure_indexes(store: Store, remove_after: Duration | None = None) -> None:
    """Create the job indexes; with ``remove_after``, completed and cancelled jobs are
    removed once their ``finished`` time is older than that (the original's AddJobIndexes)."""
    await store.ensure_indexes(delta(remove_after) if remove_after else None)


__all__ = [
    "ACTIVE",
    "cancel",
    "cancel_job",
    "complete",
    "dequeue",
    "enqueue",
    "enqueue_many",
    "ensure_indexes",
    "fail",
    "requeue",
]
