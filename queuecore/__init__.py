"""queuecore: an asyncio job queue on MongoDB or SQLite — a port of fire/axe.

store = await queuecore.connect("sqlite:///jobs.db")   # or "mongodb://host/db"
queue = queuecore.Queue(store)
queue.add(queuecore.Task("send-email", handler))
async with queue:
    await queue.enqueue(queuecore.Blueprint("send-email", data={"to": "a@b.c"}))
"""

from __future__ import annotations

from .attempt import LifetimeExceeded
from .audit import AuditEntry, actor
from .backoff import backoff
from .errors import (
    ConnectError,
    E,
    Error,
    MissingJobError,
    QueryTimeout,
    QueueError,
    StoreGone,
    TransitionError,
)
from .job import ACTIVE, FINISHED, Blueprint, Change, Event, Job, Status
from .ops import cancel, cancel_job, complete, dequeue, enqueue, enqueue_many, ensure_indexes, fail, requeue
from .query import Query, QueryError, QueryRefused, parse
from .queue import MalformedJob, Queue
from .sort import NEWEST, Sort, SortError, SortField
from .status import RUNNING, STALLED, derived_status, display_status
from .store import Store, connect
from .store.base import Counts
from .task import Context, Task
from .workers import TaskStats, WorkerCrashed

__version__ = "0.1.0"

__all__ = [
    "ACTIVE",
    "FINISHED",
    "NEWEST",
    "RUNNING",
    "STALLED",
    "AuditEntry",
    "Blueprint",
    "Change",
    "ConnectError",
    "Context",
    "Counts",
    "E",
    "Error",
    "Event",
    "Job",
    "LifetimeExceeded",
    "MalformedJob",
    "MissingJobError",
    "Query",
    "QueryError",
    "QueryRefused",
    "QueryTimeout",
    "Queue",
    "QueueError",
    "Sort",
    "SortError",
    "SortField",
    "Status",
    "Store",
    "StoreGone",
    "Task",
    "TaskStats",
    "TransitionError",
    "WorkerCrashed",
    "__version__",
    "actor",
    "backoff",
    "cancel",
    "cancel_job",
    "complete",
    "connect",
    "dequeue",
    "derived_status",
    "display_status",
    "enqueue",
    "enqueue_many",
    "ensure_indexes",
    "fail",
    "parse",
    "requeue",
]
