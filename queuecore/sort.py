"""The order of ``store.find``: a sortable field and a direction, with the id breaking ties.

This is the sort language — the fields, how ``:sort``/``--sort`` text is read, and the order
itself in memory (:meth:`Sort.key`, what a dashboard's live window uses to place a changed
job). Each engine translates a Sort into its own terms, in its package
(``store/sqlite/order.py``: ``ORDER BY``; ``store/mongo/order.py``: a sort specification), and
sorts in the database; the contract suite checks they give :meth:`Sort.key`'s order. Missing
values (a job not started yet) come first in ascending order and last in descending order.

The default, :data:`NEWEST`, is ``created`` descending: newest first by creation time (to the
millisecond), then by id. An ObjectId orders only to the second across processes, so jobs of
several producers within one second were shuffled when sorted by id alone.

Keyset paging (``store.find(after=job)``): each engine gives the term "after this job in this
order" from :meth:`Sort.job_value`, so the next page starts where the previous one ended —
each page is an index range, not a walk over every row before it as ``skip`` is, and jobs
inserted or removed before the cursor never shift a page (nothing read twice or missed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId

from .job import Job, Status


class SortField(StrEnum):
    """A field jobs can be sorted by (the value is its name in ``:sort`` and ``--sort``)."""

    CREATED = "created"
    NAME = "name"
    LABEL = "label"
    STATUS = "status"
    ATTEMPTS = "attempts"
    AVAILABLE = "available"
    STARTED = "started"
    ENDED = "ended"

    @property
    def nullable(self) -> bool:
        """Whether a job may lack this field (not started or not ended yet)."""
        return self in (SortField.STARTED, SortField.ENDED)

    @property
    def descending_by_default(self) -> bool:
        """Whether this field sorts latest first when no direction is given (the times a job
        was created, started or ended: the recent ones are the interesting ones)."""
        return self in (SortField.CREATED, SortField.STARTED, SortField.ENDED)


#: Other names a sort field is known by (the dashboard's column headers). ``age`` is the
#: creation time seen the other way round: ``age`` ascending is the youngest first.
ALIASES: dict[str, tuple[SortField, bool]] = {
    "age": (SortField.CREATED, True),
    "task": (SortField.NAME, False),
    "att": (SortField.ATTEMPTS, False),
    "avail": (SortField.AVAILABLE, False),
}
#: Every name :meth:`Sort.parse` accepts, for messages and suggestions.
NAMES: tuple[str, ...] = (*(f.value for f in SortField), *ALIASES)


class SortError(ValueError):
    """A sort that cannot be read (an unknown field or direction)."""


@dataclass(frozen=True)
class Sort:
    """Sort by ``field``, descending or not; ties are broken by ``_id`` in the same direction."""

    field: SortField = SortField.CREATED
    descending: bool = True

    @classmethod
    def of(cls, field: SortField | str, descending: bool | None = None) -> Sort:
        """``field`` (a :class:`SortField` or its name) in its default direction unless told."""
        field = SortField(field)
        return cls(field, field.descending_by_default if descending is None else descending)

    @classmethod
    def parse(cls, text: str) -> Sort:
        """``name``, ``-name`` (descending), ``+name`` (ascending), ``name desc``, ``age asc``…

        Without a direction a field sorts in its default one (``created``, ``started`` and
        ``ended`` latest first, the others ascending). ``age`` is ``created`` reversed:
        ``age`` / ``age asc`` is the newest first. Raises :class:`SortError`.
        """
        words = text.split()
        if not words or len(words) > 2:
            raise SortError(f"expected a field and an optional asc/desc, got {text!r}")
        word = words[0].lower()
        sign = word[0] if word[:1] in "+-" else ""
        word = word.lstrip("+-")
        direction: bool | None = {"-": True, "+": False}.get(sign)
        if len(words) == 2:
            said = words[1].lower()
            if said not in ("asc", "desc") or sign:
                raise SortError(f"expected asc or desc after {word!r}, got {words[1]!r}")
            direction = said == "desc"
        if word in ALIASES:
            field, reversed_ = ALIASES[word]
            if direction is None:
                return cls.of(field)
            return cls(field, direction != reversed_)
        if word not in SortField._value2member_map_:
            raise SortError(f"cannot sort by {word!r}; fields: {', '.join(NAMES)}")
        return cls.of(word, direction)

    @property
    def default(self) -> bool:
        """Whether this is the default order (newest first)."""
        return self == NEWEST

    def __str__(self) -> str:
        """How the sort is written: ``name asc``, ``created desc``…"""
        return f"{self.field.value} {'desc' if self.descending else 'asc'}"

    def describe(self) -> str:
        """A short phrase for the filter bar: ``newest first``, ``name asc``…"""
        if self.field is SortField.CREATED:
            return "newest first" if self.descending else "oldest first"
        return str(self)

    def toggled(self, field: SortField) -> Sort:
        """The sort a key for ``field`` gives: the field in its default direction, or — when
        already sorted by it — the other direction."""
        if self.field is field:
            return Sort(field, not self.descending)
        return Sort.of(field)

    def job_value(self, job: Job) -> Any:
        """``job``'s value of the sort field as the engines compare it (a status as its
        string; None when missing): what a keyset term "after this job" starts from."""
        return _stored(self.field, job)

    # -- in memory ------------------------------------------------------------

    def key(self, job: Job) -> Any:
        """A key that sorts jobs in this order with ``sorted(…, key=…)`` (ascending)."""
        value = (_value(self.field, job), job.id)
        return _Reversed(value) if self.descending else value


#: The default order: newest first (``created_at`` descending, then ``_id``).
NEWEST = Sort()


def _stored(field: SortField, job: Job) -> Any:
    """``job``'s value of ``field`` as the engines compare it (a status as its string)."""
    if field is SortField.STATUS:
        return job.status.value if isinstance(job.status, Status) else str(job.status)
    return getattr(job, field.value)  # the field's name is the job's attribute


#: A field's sort value: ``(0,)`` when missing, else ``(1, value)``.
_Value = tuple[int] | tuple[int, Any]


def _value(field: SortField, job: Job) -> _Value:
    """The sort value of ``job``'s field: ``(0,)`` for a missing value (first in ascending)."""
    value = _stored(field, job)
    if value is None:
        return (0,)
    # a time as its timestamp: comparable whatever its tzinfo (stored times are milliseconds)
    return (1, value.timestamp() if isinstance(value, datetime) else value)


class _Reversed:
    """Wraps a key so that it sorts in the opposite order (descending sorts of any value)."""

    __slots__ = ("value",)

    def __init__(self, value: tuple[_Value, ObjectId]) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __gt__(self, other: _Reversed) -> bool:
        return other.value > self.value

    def __le__(self, other: _Reversed) -> bool:
        return other.value <= self.value

    def __ge__(self, other: _Reversed) -> bool:
        return other.value >= self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"_Reversed({self.value!r})"
