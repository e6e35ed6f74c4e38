"""Tasks (what runs a job) and the context a handler receives."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ._shape import as_message
from ._time import Duration, delta, seconds, utcnow
from .job import Blueprint, Event, Job, Status
from .store.changes import UNSET, Changes, Guard

if TYPE_CHECKING:
    from .queue import Queue
    from .store.base import Store

Handler = Callable[["Context"], Awaitable[None] | None]


@dataclass(eq=False)
class Task:
    """Work that is done for jobs of one name (the original's ``axe.Task``).

    Durations are seconds (int/float) or ``timedelta``.
    """

    #: The unique name of the task; jobs with this name are processed by it.
    name: str
    #: ``async def handler(ctx)`` (or a plain ``def``, run in a thread pool). Raise
    #: :class:`queuecore.Error` to fail (``retry=True``) or cancel the job;
    #: fill ``ctx.result`` to attach a result.
    handler: Handler
    #: A pydantic model class (or dataclass) the job data is validated into
    #: (``ctx.model``); data that does not fit cancels the job. Default: None.
    model: type[Any] | None = None
    #: How many jobs of this task run at once in this process. Default: 2.
    workers: int = 2
    #: Attempts before an ordinary exception cancels the job; 0 retries forever.
    #: ``Error(retry=True)`` retries regardless. Default: 0.
    max_attempts: int = 0
    #: Pause of a worker after losing a dequeue race to another worker. Default: 100 ms.
    interval: Duration = 0.1
    #: Shortest delay before a failed job is retried. Default: 1 s.
    min_delay: Duration = 1
    #: Longest delay before a failed job is retried. Default: 10 min.
    max_delay: Duration = 600
    #: Exponential growth of the retry delay per attempt. Default: 2.
    delay_factor: float = 2
    #: A dequeued job becomes available again after this, in case its worker died.
    #: Extended by heartbeats while the worker is alive. Default: 10 min.
    timeout: Duration = 600
    #: The handler is cancelled after this; must not exceed ``timeout``. Default: 5 min.
    lifetime: Duration = 300
    #: Enqueue ``periodic_job`` when the queue starts and then every interval. Default: 0 (off).
    periodically: Duration = 0
    #: The periodically enqueued job. Default: ``Blueprint(name=task.name)``.
    periodic_job: Blueprint | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a task needs a name")
        if not callable(self.handler):
            raise TypeError(f"task {self.name!r}: handler must be callable")
        if type(self.workers) is not int or self.workers < 1:  # 2.5 workers, or True, is a mistake
            raise ValueError(f"task {self.name!r}: workers must be a whole number, at least 1")
        if type(self.max_attempts) is not int or self.max_attempts < 0:
            raise ValueError(f"task {self.name!r}: max_attempts must be a whole number, 0 (no limit) or more")
        for attr in ("interval", "min_delay", "max_delay", "timeout", "lifetime", "periodically"):
            try:  # NaN, infinite or over 100 years: no job could be stored with it
                value = delta(getattr(self, attr)).total_seconds()
            except ValueError as exc:
                raise ValueError(f"task {self.name!r}: {attr}: {exc}") from None
            if value < 0:
                raise ValueError(f"task {self.name!r}: {attr} must not be negative")
        if seconds(self.timeout) <= 0:
            raise ValueError(f"task {self.name!r}: timeout must be positive")
        if seconds(self.lifetime) <= 0:
            raise ValueError(f"task {self.name!r}: lifetime must be positive")
        if seconds(self.lifetime) > seconds(self.timeout):
            raise ValueError(
                f"task {self.name!r}: lifetime ({seconds(self.lifetime):g}s) must not exceed "
                f"timeout ({seconds(self.timeout):g}s), or a job could run twice"
            )
        if self.periodic_job is None and seconds(self.periodically) > 0:
            self.periodic_job = Blueprint(name=self.name)
        self._adapter: TypeAdapter[Any] | None = None
        if self.model is not None:
            if not (
                (isinstance(self.model, type) and issubclass(self.model, BaseModel))
                or dataclasses.is_dataclass(self.model)
            ):
                raise TypeError(f"task {self.name!r}: model must be a pydantic model or dataclass")
            self._adapter = TypeAdapter(self.model)

    def parse(self, data: dict[str, Any]) -> Any:
        """Validate job data into the task's model (raises pydantic's ValidationError)."""
        if self._adapter is None:
            return None
        return self._adapter.validate_python(data)

    def problem(self, data: dict[str, Any]) -> str | None:
        """Why ``data`` fails the task's model (``invalid data for task 'x': field: msg``), or
        None when it is valid: the reason a worker cancels such a job with, and what a
        client can check before enqueuing."""
        try:
            self.parse(data)
        except Exception as exc:
            return self.invalid(exc)
        return None

    def invalid(self, exc: Exception) -> str:
        """The reason for a job whose data the model refused with ``exc``."""
        return f"invalid data for task {self.name!r}: {validation_message(exc)}"


def validation_message(exc: Exception) -> str:
    """A pydantic error in one line: the first three ``field: message`` pairs. Anything else
    a model may raise (a validator's TypeError) as ``TypeError: message``."""
    if not isinstance(exc, ValidationError):
        return f"{type(exc).__name__}: {exc}"
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "data"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


@dataclass(eq=False)
class Context:
    """What a handler gets: the job, its validated model and a result to fill.

    ``update`` and ``extend`` write to the store at once, so dashboards show the
    progress live and a long job keeps its claim.
    """

    #: The job's data validated into the task's model (None without a model).
    model: Any
    #: The job as dequeued (read-only).
    job: Job
    #: The task processing the job (read-only).
    task: Task
    #: The queue the job was dequeued from (read-only).
    queue: Queue | None
    #: The store the job lives in (read-only).
    store: Store
    #: The custom result attached to the job on completion.
    result: dict[str, Any] = field(default_factory=dict)
    #: The tracing span of this attempt when tracing is enabled, else None.
    trace: Any = None
    #: Until when the attempt is known to be claimed (after ``extend``; before: ``job.available``).
    _claimed_until: datetime | None = field(default=None, init=False, repr=False)

    async def update(self, progress: float | None = None, note: str | None = None) -> None:
        """Record progress (0–1) and/or a short note on the running job."""
        changes = Changes(
            progress=UNSET if progress is None else min(1.0, max(0.0, float(progress))),
            note=UNSET if note is None else as_message(str(note)[:200]),
        )
        if changes.values():
            await self.store.update(
                self.job.id, Guard.status(Status.DEQUEUED, attempts=self.job.attempts), changes
            )

    async def extend(self, duration: Duration | None = None) -> bool:
        """Keep the job claimed for ``duration`` more (default: the task's timeout).

        Returns False when the attempt is no longer ours (the job moved on). The claim is
        never shortened: a shorter extension than what is held keeps what is held."""
        extension: timedelta = delta(duration) if duration is not None else delta(self.task.timeout)
        if extension <= timedelta(0):
            raise ValueError(f"extend needs a positive duration, not {duration!r}")
        now = utcnow()
        # cutting the claim short would let another worker take the job while it runs here
        until = max(now + extension, self._claimed_until or self.job.available)
        job = await self.store.update(
            self.job.id,
            Guard.status(Status.DEQUEUED, attempts=self.job.attempts),
            Changes(available=until, heartbeat=now),
        )
        if job is not None:
            self._claimed_until = until
        return job is not None


__all__ = ["Context", "Event", "Handler", "Task"]
