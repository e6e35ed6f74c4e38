"""What a guarded update checks and what it sets: :class:`Guard` and :class:`Changes`.

Callers (:mod:`queuecore.ops`, :mod:`queuecore.task`) name a job's fields by their
attributes on :class:`~queuecore.job.Job` (``ended``, ``available``, ``heartbeat``…);
only the engines know how a field is stored. :meth:`Changes.stored` gives the stored keys
(``ended_at`` …, :mod:`queuecore.fields`) and each value with its Python type, which an engine
encodes as its column or BSON field holds it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ..fields import stored_key
from ..job import Event, Status


class _Unset:
    """The value of a :class:`Changes` field that the update leaves as it is."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: A :class:`Changes` field left as it is (``None`` is a value: it clears the field).
UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class Guard:
    """What the stored job must be for an update to apply, checked atomically by the engine.

    ``statuses``: its stored status is one of these (None: any) — or, with ``stalled_at``,
    it is stalled at that time (dequeued, its ``available`` time at or before it: see
    :mod:`queuecore.status`); ``attempts``: its attempt count is exactly this (the attempt a
    worker holds, so a superseded attempt cannot finish the job).
    """

    statuses: tuple[Status, ...] | None = None
    stalled_at: datetime | None = None
    attempts: int | None = None

    @classmethod
    def status(
        cls, *statuses: Status, attempts: int | None = None, stalled_at: datetime | None = None
    ) -> Guard:
        """A guard on these stored statuses (and the attempt, and stalled at a time)."""
        return cls(tuple(Status(s) for s in statuses), stalled_at, attempts)

    @classmethod
    def of(cls, statuses: Collection[Status] | None = None, attempts: int | None = None) -> Guard:
        """A guard from a collection of statuses (None: any) and an attempt."""
        return cls(None if statuses is None else tuple(Status(s) for s in statuses), None, attempts)


#: Guard that any job passes (tests and tools setting fields of a job whatever its status).
ANY = Guard()


@dataclass(frozen=True, slots=True)
class Changes:
    """The fields of a job a transition sets (by :class:`~queuecore.job.Job` attribute), the
    event it appends to the bounded history, and what it does with the name+label lock
    (``lock=True`` takes it, raising :class:`~queuecore.store.common.LockConflict` when another
    active job holds it; ``False`` releases it; None leaves it). Fields left :data:`UNSET` keep
    their stored value; ``None`` clears a field."""

    status: Status | Any = UNSET
    reason: str | Any = UNSET
    result: dict[str, Any] | Any | None = UNSET
    data: dict[str, Any] | Any = UNSET
    available: datetime | Any = UNSET
    started: datetime | Any | None = UNSET
    ended: datetime | Any | None = UNSET
    finished: datetime | Any | None = UNSET
    heartbeat: datetime | Any | None = UNSET
    attempts: int | Any = UNSET
    worker: str | Any = UNSET
    progress: float | Any | None = UNSET
    note: str | Any = UNSET
    cancel_reason: str | Any | None = UNSET
    event: Event | None = None
    lock: bool | None = None

    def values(self) -> dict[str, Any]:
        """The fields this sets, by attribute name (the event and lock left out)."""
        return {name: value for name in _FIELDS if (value := getattr(self, name)) is not UNSET}

    def stored(self) -> Iterator[tuple[str, Any]]:
        """The fields this sets as ``(stored key, value)``: the keys an engine writes; a
        status as its value string."""
        for name, key in _STORED.items():
            value = getattr(self, name)
            if value is not UNSET:
                yield key, value.value if isinstance(value, Status) else value


#: The job fields a :class:`Changes` may set, in order.
_FIELDS = tuple(f.name for f in fields(Changes) if f.name not in ("event", "lock"))
#: Each one's stored key (``ended_at``…: :mod:`queuecore.fields`).
_STORED = {name: stored_key(name) for name in _FIELDS}


__all__ = ["ANY", "UNSET", "Changes", "Guard"]
