"""Operator actions: cancel, re-enqueue, enqueue — what may be done to a job, the change, its audit entry.

Free of Textual and of typer: the CLI's commands and the dashboard's keys call these same
functions, so a change is checked, done and recorded alike wherever it was asked for. Each
front end says only who it is (the audit source) and how it warns (stderr, a notification):
see :class:`AuditLog`. The change itself is queuecore's (:func:`queuecore.cancel_job`, …), whose
guarded writes are the final word on eligibility; the rules here are what the dashboard checks
before it asks, and what a bulk action selects by (:mod:`jobtui.bulk` plans and runs those, with
the same :class:`AuditLog`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bson import ObjectId

import queuecore
from queuecore import Blueprint, Job, Status, Store
from queuecore.audit import record

from .view import shown_status, status_of

#: Shown statuses a job may be cancelled in (a running one gets a cancellation request).
CANCELLABLE = ("enqueued", "failed", "running", "stalled")
#: Stored statuses a job may be re-enqueued from.
REQUEUEABLE = ("failed", "cancelled", "completed")
#: The reason a cancellation records when the operator gives none.
CANCEL_REASON = "cancelled by operator"


@dataclass(frozen=True)
class AuditLog:
    """Records a front end's changes in the audit log (``queuecore.audit``) under ``source``.

    Called as ``await audit(store, action, ids, detail)`` (the shape :func:`jobtui.bulk.run`
    takes). The change is done by then, so a failure to write the entry is handed to
    ``warn(action, error)`` — a warning line, a notification — and never raised: nothing is
    undone for want of a log line.
    """

    source: str
    warn: Callable[[str, Exception], None]

    async def __call__(
        self, store: Store, action: str, ids: Sequence[ObjectId | str], detail: str = ""
    ) -> None:
        try:
            await record(store, action, [str(i) for i in ids], source=self.source, detail=detail)
        except Exception as exc:
            self.warn(action, exc)


def cancel_problem(job: Job) -> str | None:
    """Why ``job`` (as last seen) cannot be cancelled, or None when it can."""
    if job.malformed:
        return f"Job {job.short_id} is malformed: {job.malformed}"
    status = shown_status(job)
    if status in (Status.COMPLETED.value, Status.CANCELLED.value):
        return f"Cannot cancel job {job.short_id}: it is {status}."
    return None


def requeue_problem(job: Job) -> str | None:
    """Why ``job`` (as last seen) cannot be re-enqueued, or None when it can."""
    if job.malformed:
        return f"Job {job.short_id} is malformed: {job.malformed}"
    if status_of(job) not in REQUEUEABLE:
        return (
            f"Cannot re-enqueue job {job.short_id}: it is {shown_status(job)} "
            "(only failed, cancelled or completed jobs can be)."
        )
    return None


async def cancel(
    store: Store, audit: AuditLog, id: ObjectId, reason: str = CANCEL_REASON, *, detail: str | None = None
) -> Job:
    """Cancel job ``id`` — at once if it waits, by a cancellation request if it runs — and
    record it. The entry's detail: ``detail``, else the reason (noting a request)."""
    job = await queuecore.cancel_job(store, id, reason)
    if detail is None:
        detail = reason + ("" if job.status == Status.CANCELLED else " (cancellation requested: it runs)")
    await audit(store, "cancel", [job.id], detail)
    return job


async def requeue(
    store: Store, audit: AuditLog, id: ObjectId, delay: float = 0.0, *, detail: str | None = None
) -> Job:
    """Re-enqueue job ``id`` (attempts start again; it may run after ``delay`` seconds) and
    record it. The entry's detail: ``detail``, else the delay (if any)."""
    job = await queuecore.requeue(store, id, delay)
    if detail is None:
        detail = f"delay {delay:g}s" if delay else ""
    await audit(store, "requeue", [job.id], detail)
    return job


async def enqueue(
    store: Store, audit: AuditLog, blueprint: Blueprint, *, detail: str | None = None
) -> Job | None:
    """Enqueue ``blueprint`` and record it; None (and nothing recorded) when its label
    de-duplicates it. The entry's detail: ``detail``, else the task name and label."""
    job = await queuecore.enqueue(store, blueprint)
    if job is None:
        return None
    if detail is None:
        detail = blueprint.name + (f" label={blueprint.label}" if blueprint.label else "")
    await audit(store, "enqueue", [job.id], detail)
    return job


__all__ = [
    "CANCELLABLE",
    "CANCEL_REASON",
    "REQUEUEABLE",
    "AuditLog",
    "cancel",
    "cancel_problem",
    "enqueue",
    "requeue",
    "requeue_problem",
]
