"""The one status rule: what status a job is shown with, at a given time.

A job stores one of the five :class:`~queuecore.job.Status` values; a ``dequeued`` job is
shown as ``running`` while its timeout (``available``) has not passed and as ``stalled``
once it has — its worker stopped heartbeating, and any worker may claim it again. A
dequeued job without an ``available`` time (a malformed document) never stalls: no worker
can claim it, so it is running.

:func:`derived_status` is the rule. :meth:`queuecore.query.Query.matches` uses it directly
(``status:running``, ``status:stalled``); the engines translate it — their ``status:``
filters (``store/sqlite/filter.py``, ``store/mongo/filter.py``) and their ``counts()`` —
and ``tests/test_status_rule.py`` checks every translation against it on both engines.
The dashboard and the CLI show it.
"""

from __future__ import annotations

from datetime import datetime

from ._time import as_utc, utcnow
from .job import Job, Status

#: Shown status of a dequeued job whose timeout has passed: its worker stopped
#: heartbeating (died, hung, lost the database), and any worker may claim it again.
#: Not a stored status: the job stays ``dequeued`` until it is claimed, cancelled or finished.
STALLED = "stalled"
#: Shown status (and filter value, ``counts()`` key) of a dequeued job within its timeout.
RUNNING = "running"
#: The statuses :func:`derived_status` gives a job with a stored status.
SHOWN_STATUSES = (
    Status.ENQUEUED.value,
    RUNNING,
    STALLED,
    Status.COMPLETED.value,
    Status.FAILED.value,
    Status.CANCELLED.value,
)


def stored_status(job: Job) -> str:
    """The job's stored status as a plain string (a malformed job may carry any value)."""
    return str(job.status.value if isinstance(job.status, Status) else job.status)


def derived_status(job: Job, now: datetime | None = None) -> str:
    """The status ``job`` is shown with at ``now`` (default: the current time).

    enqueued, completed, failed and cancelled as stored; a dequeued job is ``stalled`` when
    its ``available`` time is at or before ``now``, else ``running``. An unknown stored value
    (a malformed document) is returned as it is.
    """
    status = stored_status(job)
    if status != Status.DEQUEUED.value:
        return status
    if job.available is not None and as_utc(job.available) <= (as_utc(now) if now is not None else utcnow()):
        return STALLED
    return RUNNING


def display_status(job: Job, now: datetime | None = None) -> str:
    """``"stalled"`` for a dequeued job whose ``available`` (its timeout) has passed at
    ``now`` (default: the current time), else the job's stored status value
    (:func:`derived_status` with ``dequeued`` for ``running``)."""
    status = derived_status(job, now)
    return Status.DEQUEUED.value if status == RUNNING else status


__all__ = ["RUNNING", "SHOWN_STATUSES", "STALLED", "derived_status", "display_status", "stored_status"]
