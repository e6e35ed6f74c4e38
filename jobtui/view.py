"""What the dashboard's window shows and what changed in it: :class:`Filter` (statuses, a task
name, a filter-language text) and :class:`Delta` (one batch of changes), with the statuses
in key order. UI-free, shared by the live model, the dashboard, the bulk actions and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bson import ObjectId

from queuecore import Job, Status
from queuecore.query import Query, Term, parse
from queuecore.status import derived_status, stored_status

#: The statuses as the dashboard shows them, in key order (keys ``1``–``6``): a dequeued job
#: is ``running``, or ``stalled`` once its timeout passed.
STATUS_ORDER: tuple[str, ...] = ("enqueued", "running", "completed", "failed", "cancelled", "stalled")
#: Statuses a filter may hold: the shown ones and ``dequeued`` (running or stalled).
FILTER_STATUSES = frozenset({*STATUS_ORDER, Status.DEQUEUED.value})


def status_of(job: Job) -> str:
    """The job's stored status as a plain string (a malformed job may carry any value)."""
    return stored_status(job)


def shown_status(job: Job, now: datetime | None = None) -> str:
    """The status the dashboard shows: :func:`queuecore.status.derived_status`."""
    return derived_status(job, now)


@dataclass(frozen=True)
class Filter:
    """What the window shows: a set of statuses (empty = all), a task name and a filter text.

    ``text`` is the filter language (:mod:`queuecore.query`): free text, ``status:failed``,
    ``name:x``, ``data.user_id=42``, ``age:<1h``, ``!`` to negate… It is parsed when the
    filter is made, so an invalid text raises :class:`queuecore.query.QueryError` there
    and never becomes the current filter.
    """

    statuses: frozenset[str] = frozenset()
    name: str = ""
    text: str = ""
    parsed: Query | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.statuses) - FILTER_STATUSES
        if unknown:
            raise ValueError(
                f"unknown status {sorted(unknown)[0]!r}; expected one of {', '.join(STATUS_ORDER)}"
            )
        if self.parsed is None and self.text.strip():
            object.__setattr__(self, "parsed", parse(self.text))

    def toggle(self, status: str) -> Filter:
        """This filter with ``status`` added to or removed from the status set."""
        return replace(self, statuses=self.statuses ^ {str(status)})

    def all_statuses(self) -> Filter:
        """This filter without a status restriction."""
        return replace(self, statuses=frozenset())

    def with_text(self, text: str) -> Filter:
        """This filter with another filter text (raises ``QueryError`` when it is invalid)."""
        return Filter(self.statuses, self.name, text.strip())

    def matches(self, job: Job, now: datetime | None = None) -> bool:
        """Whether ``job`` belongs in the window (the same rules as ``store.find``)."""
        if self.statuses and not (status_of(job) in self.statuses or shown_status(job, now) in self.statuses):
            return False
        if self.name and job.name != self.name:
            return False
        return self.parsed is None or self.parsed.matches(job, now)

    def query(self) -> dict[str, Any]:
        """The keyword arguments of ``store.find`` for this filter."""
        ordered = [s for s in (*STATUS_ORDER, Status.DEQUEUED.value) if s in self.statuses]
        return {"status": ordered or None, "name": self.name or None, "query": self.parsed}

    def describe(self) -> str:
        """A one-line description for the filter bar and confirmations."""
        parts = []
        ordered = [s for s in (*STATUS_ORDER, Status.DEQUEUED.value) if s in self.statuses]
        parts.append("status: " + (", ".join(ordered) if ordered else "all"))
        if self.name:
            parts.append(f"task: {self.name}")
        if self.text:
            parts.append(f"text: {self.text!r}")
        return " · ".join(parts)

    def as_text(self) -> str:
        """The whole filter in the filter language (what ``:save`` stores)."""
        parts = []
        ordered = [s for s in (*STATUS_ORDER, Status.DEQUEUED.value) if s in self.statuses]
        if ordered:
            parts.append(str(Term("status", ":", tuple(ordered))))
        if self.name:
            parts.append(str(Term("name", ":", (self.name,))))
        if self.text:
            parts.append(self.text)
        return " ".join(parts)

    @property
    def time_sensitive(self) -> bool:
        """Whether jobs may enter or leave it as time passes (running/stalled, ages)."""
        timed = {"running", "stalled", Status.DEQUEUED.value}
        if self.statuses & timed:
            return True
        terms = self.parsed.terms if self.parsed is not None else ()
        return any(t.field == "age" or (t.field == "status" and timed & set(t.values)) for t in terms)

    @property
    def empty(self) -> bool:
        """Whether nothing is filtered."""
        return not (self.statuses or self.name or self.text)


@dataclass
class Delta:
    """What changed in the window with one batch of events.

    ``reloaded``: the whole window was replaced (rebuild the view from
    ``LiveModel.ordered()``); ``refiltered`` with it: because the filter or the sort
    changed (the rows are a new selection, not arrivals). Otherwise ``changed`` holds
    the ids whose row must be re-rendered, added or removed (look each up with
    ``LiveModel.get``) and ``added`` says whether any row is new or moved (so the view
    may need re-ordering: ``LiveModel.index``).
    """

    reloaded: bool = False
    changed: set[ObjectId] = field(default_factory=set)
    added: bool = False
    counts_changed: bool = False
    refiltered: bool = False

    def merge(self, other: Delta) -> None:
        """Fold ``other`` into this delta."""
        self.reloaded |= other.reloaded
        self.changed |= other.changed
        self.added |= other.added
        self.counts_changed |= other.counts_changed
        self.refiltered |= other.refiltered

    def __bool__(self) -> bool:
        return self.reloaded or bool(self.changed) or self.counts_changed


__all__ = ["FILTER_STATUSES", "STATUS_ORDER", "Delta", "Filter", "shown_status", "status_of"]
