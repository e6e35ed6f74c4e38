"""What every engine shares, written once beside the protocol (:mod:`.base`).

The ``Counts`` of ``store.counts()`` and how an engine assembles it (exact, or capped), what
a claim sets, the value of the name+label lock and the stored form of an audit entry. The engines translate
these to their own storage; nothing here touches one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..job import ACTIVE, Event, Status
from ..status import RUNNING, STALLED
from .changes import Changes

if TYPE_CHECKING:
    from ..audit import AuditEntry

#: Keys of ``counts()`` that split ``dequeued`` by time; they are not stored statuses.
DERIVED_COUNTS = (RUNNING, STALLED)
#: A sensible ``cap`` for ``counts(cap=…)`` on a dashboard: exact up to 100,000 jobs.
COUNTS_CAP = 100_000


class Counts(dict[str, int]):
    """Jobs per status, as returned by ``store.counts()``.

    Keys: every stored status (zero included) and any unknown status found in the
    collection; plus ``running`` (dequeued, timeout not passed) and ``stalled``
    (dequeued, timeout passed) — these two split ``dequeued``, which stays the count
    of all dequeued jobs (:func:`queuecore.status.derived_status`). ``capped`` names the keys
    whose count reached the cap given to ``counts(cap=…)``: the true number is at least that
    ("10k+").
    """

    def __init__(self, values: dict[str, int] | None = None, capped: set[str] | None = None) -> None:
        super().__init__(values or {})
        #: Keys whose value is a lower bound (the count stopped at the cap).
        self.capped: set[str] = set(capped or ())

    @property
    def total(self) -> int:
        """All jobs (stored statuses only: ``running``/``stalled`` are part of ``dequeued``)."""
        return sum(n for key, n in self.items() if key not in DERIVED_COUNTS)

    def __repr__(self) -> str:
        return f"Counts({dict(self)!r}, capped={sorted(self.capped)!r})"


def exact_counts(per_status: Iterable[tuple[str, int]], stalled: int) -> Counts:
    """Exact counts from the number of jobs per stored status and of stalled jobs: every
    stored status present (zero included), ``running`` the dequeued jobs that are not stalled."""
    out = Counts({s.value: 0 for s in Status})
    for status, n in per_status:
        out[status] = out.get(status, 0) + n
    out[STALLED] = min(out[Status.DEQUEUED.value], stalled)
    out[RUNNING] = out[Status.DEQUEUED.value] - out[STALLED]
    return out


def capped_counts(values: Mapping[str, int], limit: int) -> Counts:
    """Counts that each stopped at ``limit`` (stored statuses, running, stalled, unknown
    values): those that reached it are listed in ``Counts.capped``."""
    out = Counts(dict(values))
    out.capped = {key for key, n in out.items() if n >= limit}
    return out


def count_limit(cap: int) -> int:
    """The limit each count of ``counts(cap=…)`` stops at (at least 1)."""
    return max(1, int(cap))


#: How many status values other than the five ``counts(cap=…)`` reports at most.
UNKNOWN_STATUSES = 20


#: The stored statuses a claim takes a job from (when its ``available`` time has come).
CLAIMABLE = ACTIVE


def claim_changes(now: datetime, timeout: timedelta, worker: str) -> Changes:
    """What a claim sets, besides ``attempts + 1`` (each engine increments it in place): the
    job is dequeued, started ``now`` and held until its ``timeout`` passes, by ``worker``; the
    previous attempt's progress, note and heartbeat are cleared; a ``dequeued`` event is
    appended. The engines match a job whose status is one of :data:`CLAIMABLE` and whose
    ``available`` time is at or before ``now``."""
    return Changes(
        status=Status.DEQUEUED,
        started=now,
        available=now + timeout,
        worker=worker,
        progress=None,
        note="",
        heartbeat=None,
        event=Event(at=now, status=Status.DEQUEUED, reason=""),
    )


class LockConflict(Exception):
    """Another active job holds the name+label lock."""


def lock_key(name: str, label: str) -> str:
    """The value of the unique ``lock`` field an active labeled job holds.

    A compact JSON pair, so no name/label combination can collide with another (a separator
    character could appear inside a name) and every engine compares it as an ordinary string.
    """
    return json.dumps([name, label], separators=(",", ":"), ensure_ascii=False)


def audit_record(entry: AuditEntry) -> dict[str, Any]:
    """The stored fields of an audit entry (``<collection>_audit``), the same on every engine;
    an engine encodes the values as its storage holds them (``ids`` a list of hex ids)."""
    return {
        "at": entry.at,
        "who": entry.who,
        "source": entry.source,
        "action": entry.action,
        "ids": list(entry.ids),
        "detail": entry.detail,
    }


__all__ = [
    "CLAIMABLE",
    "COUNTS_CAP",
    "DERIVED_COUNTS",
    "UNKNOWN_STATUSES",
    "Counts",
    "LockConflict",
    "audit_record",
    "capped_counts",
    "claim_changes",
    "count_limit",
    "exact_counts",
    "lock_key",
]
