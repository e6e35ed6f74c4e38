"""The filter language of dashboards and the CLI, evaluated in memory and by both engines.

A query is whitespace-separated terms, all of which must match (AND)::

    disk                     free text: id (any part: full, prefix, short id), name, label or reason
    "disk full"              a quoted phrase
    status:failed,cancelled  status (also ``running`` = dequeued and in time, ``stalled`` =
                             dequeued with its timeout passed; ``dequeued`` = both)
    name:send_email          task name, exactly (``name:a,b`` = either; ``name:~^send`` = regex)
    label:"a b"              label, exactly (``label:""`` = unlabeled; ``label:~re`` = regex)
    reason:timeout           reason contains (``reason:~time(out)?`` = regex)
    id:6b0b9d01              id contains these hex digits
    data.user_id=42          job data at a path equals a JSON value: 42, 1.5, true, null
                             ("x" or a bare word is a string); also != and, for numbers, < > <= >=
    age:<1h  age:>30m        time since the job was created (s, m, h, d; ``1h30m``)
    attempts:>2              attempts (``attempts:0``, ``<``, ``>``, ``<=``, ``>=``)
    !term                    negates any term

Text matching (free text, ``reason:``) and every regex are case-insensitive (Python's
``str.lower``; MongoDB's ``i`` option); ``name:``/``label:`` values match exactly. Regular
expressions are RE2 syntax and run in linear time (:mod:`queuecore._regex`): backreferences
and lookaround are refused here, at parse time, for every engine. ``data``
values are typed: ``data.n=1`` does not match ``true`` nor ``"1"``; ``data.x=null`` matches
a null or missing value; a path walks through objects only (a value that is an array or
object equals no scalar).

:meth:`Query.matches` is the reference semantics; each engine translates a query itself
(:mod:`queuecore.store.mongo.filter`, :mod:`queuecore.store.sqlite.filter`) — values are
always bound parameters or BSON values, never code, and nothing from a query is evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import _regex
from ._time import as_utc, utcnow
from .job import Job, Status
from .status import RUNNING, STALLED, derived_status, stored_status

#: Values a ``status:`` term accepts: the stored statuses, ``running`` and ``stalled``.
STATUS_VALUES = (*(s.value for s in Status), RUNNING, STALLED)

#: Fields of ``field:value`` terms.
FIELDS = ("status", "name", "label", "reason", "id", "age", "attempts")
_HEX = frozenset("0123456789abcdef")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class QueryError(ValueError):
    """A filter that cannot be parsed; ``position`` is the character offset of the problem."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        #: What is wrong, without the position.
        self.reason = message
        #: 0-based offset into the filter text.
        self.position = position


class QueryRefused(QueryError):
    """A filter the database refused to run (too large or too complex for it; the language's
    limits keep typed filters below this): one clear message, no position."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.reason = message
        self.position = 0


@dataclass(frozen=True)
class Term:
    """One condition of a :class:`Query`.

    ``field``: ``text``, ``id``, ``status``, ``name``, ``label``, ``reason``, ``age``,
    ``attempts`` or ``data``; ``op``: ``:`` (contains/equals), ``~`` (regex), ``=``,
    ``!=``, ``<``, ``>``, ``<=``, ``>=``; ``values``: the operand(s) (seconds for age);
    ``path``: the keys below ``data``.
    """

    field: str
    op: str
    values: tuple[Any, ...]
    path: tuple[str, ...] = ()
    negated: bool = False

    def __post_init__(self) -> None:
        # A term may be built by hand (not only by the parser); its field and operator are
        # written into SQL, so only the known ones pass. Values are always bound parameters.
        ops = _OPS.get(self.field)
        if ops is None or self.op not in ops:
            raise ValueError(f"invalid term: field {self.field!r} with operator {self.op!r}")
        if not isinstance(self.values, tuple) or not self.values:
            raise ValueError("a term needs a tuple of one or more values")
        if (self.field == "data") != bool(self.path) or not all(
            isinstance(p, str) and _SEGMENT.fullmatch(p) for p in self.path
        ):
            raise ValueError(f"invalid data path {self.path!r}")
        if self.field == "status":
            for value in self.values:
                check_status(value)
        if self.op == "~":
            try:
                _regex.compile(self.values[0])
            except _regex.RegexError as exc:
                raise ValueError(f"bad regular expression {self.values[0]!r}: {exc}") from None

    def __str__(self) -> str:
        """The canonical text of the term (parses back to an equal term)."""
        neg = "!" if self.negated else ""
        value: str  # the operand as text, quoted below when it would not read back
        if self.field == "age":
            return f"{neg}age:{self.op}{format_duration(self.values[0])}"
        if self.field == "attempts":
            return f"{neg}attempts:{'' if self.op == '=' else self.op}{self.values[0]}"
        if self.field == "data":
            prefix = f"data.{'.'.join(self.path)}{self.op}"
            wanted = self.values[0]
            if not isinstance(wanted, str):
                return neg + prefix + json.dumps(wanted)
            value = wanted
        elif self.field == "text":
            prefix, value = "", self.values[0]
        else:
            prefix = f"{self.field}:{'~' if self.op == '~' else ''}"
            value = ",".join(self.values)
        bare = neg + prefix + value
        if len(self.values) > 1 or _reads_back(bare, self):
            return bare
        return neg + prefix + _quoted(value)

    # -- in memory -----------------------------------------------------------

    def matches(self, job: Job, now: datetime) -> bool:
        """Whether ``job`` satisfies this term (negation included)."""
        return self._positive(job, now) != self.negated

    def _positive(self, job: Job, now: datetime) -> bool:
        f, op, values = self.field, self.op, self.values
        if f == "text":
            needle = values[0].lower()
            if any(needle in (v or "").lower() for v in (job.name, job.label, job.reason)):
                return True
            return needle in str(job.id)
        if f == "id":
            return values[0] in str(job.id)
        if f == "status":
            return any(_status_is(job, v, now) for v in values)
        if f in ("name", "label", "reason"):
            text = getattr(job, f) or ""
            if not isinstance(text, str):
                return False
            if op == "~":
                return _regex.search(values[0], text)
            if f == "reason":
                return values[0].lower() in text.lower()
            return text in values
        if f == "age":
            if job.created is None:
                return False
            return _compare(as_utc(job.created), _REVERSED[op], age_cutoff(now, values[0]))
        if f == "attempts":
            return type(job.attempts) is int and _compare(job.attempts, op, values[0])
        if f == "data":
            return self._data_matches(job.data if isinstance(job.data, dict) else {})
        raise AssertionError(f"unknown field {f}")

    def _data_matches(self, data: dict[str, Any]) -> bool:
        value = lookup(data, self.path)
        wanted = self.values[0]
        if self.op in ("=", "!="):
            equal = _typed_equal(value, wanted)
            return equal if self.op == "=" else not equal
        return _is_number(value) and _compare(value, self.op, wanted)


@dataclass(frozen=True)
class Query:
    """A parsed filter: every term must match. ``Query()`` matches every job."""

    terms: tuple[Term, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Query:
        """Parse the filter language (see the module docstring and the limits in
        :mod:`queuecore._query_parser`); raises :class:`QueryError`."""
        from ._query_parser import Parser

        return Parser(text).parse()

    @classmethod
    def of(
        cls,
        status: Status | str | Iterable[Status | str] | None = None,
        name: str | None = None,
        text: str | None = None,
    ) -> Query:
        """The query of ``store.find``'s keyword filters (status list, exact name, free text)."""
        terms: list[Term] = []
        if status is not None:
            values = [status] if isinstance(status, str) else list(status)
            terms.append(Term("status", ":", tuple(check_status(v) for v in values)))
        if name:
            terms.append(Term("name", ":", (name,)))
        if text:
            terms.append(Term("text", ":", (text,)))
        return cls(tuple(terms))

    def __and__(self, other: Query | None) -> Query:
        return self if other is None else Query(self.terms + other.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def __str__(self) -> str:
        """The canonical text: ``Query.parse(str(q)) == q``."""
        return " ".join(str(t) for t in self.terms)

    def matches(self, job: Job, now: datetime | None = None) -> bool:
        """Whether ``job`` satisfies every term (``now``: the clock for age/running/stalled)."""
        now = as_utc(now) if now is not None else utcnow()
        return all(t.matches(job, now) for t in self.terms)


def parse(text: str) -> Query:
    """Parse a filter; raises :class:`QueryError` (a ValueError) with the position of the problem."""
    return Query.parse(text)


def check_status(value: Status | str) -> str:
    """A valid ``status`` value of find/queries (a stored status, running or stalled)."""
    text = value.value if isinstance(value, Status) else str(value)
    if text not in STATUS_VALUES:
        raise ValueError(f"unknown status {text!r}; expected one of {', '.join(STATUS_VALUES)}")
    return text


def lookup(data: Any, path: Iterable[str]) -> Any:
    """The value at ``path`` in job data: ``MISSING`` when absent, ``BLOCKED`` through an array."""
    node = data
    for key in path:
        if isinstance(node, list):
            return BLOCKED
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: ``lookup`` found nothing at the path (equal to null, like MongoDB's ``$ifNull``).
MISSING: Any = _Marker("MISSING")
#: ``lookup`` met an array on the way (MongoDB sees an array there: equal to nothing).
BLOCKED: Any = _Marker("BLOCKED")


def age_cutoff(now: datetime, seconds: float) -> datetime:
    """``now - seconds`` truncated to milliseconds (the precision both engines store)."""
    cutoff = as_utc(now) - timedelta(seconds=seconds)
    return cutoff.replace(microsecond=cutoff.microsecond // 1000 * 1000)


def parse_duration(text: str) -> float:
    """Seconds of ``90s``, ``30m``, ``1h30m``, ``2d``, ``1.5h``; raises ValueError."""
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"bad duration {text!r}: use a number and s, m, h or d (90s, 30m, 1h30m, 2d)")
    return round(total, 3)  # milliseconds: the precision both engines store


def format_duration(seconds: float) -> str:
    """The canonical text of a duration: ``1h30m``, ``45s``, ``1.5s``, ``0s``."""
    if seconds == int(seconds) and seconds >= 60:
        rest, parts = int(seconds), []
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if rest >= size:
                parts.append(f"{rest // size}{unit}")
                rest %= size
        return "".join(parts)
    text = repr(float(seconds))
    if "e" in text:
        text = f"{seconds:.20f}".rstrip("0")
    return (text[:-2] if text.endswith(".0") else text) + "s"


# -- helpers ------------------------------------------------------------------

_OPS = {
    "text": (":",),
    "id": (":",),
    "status": (":",),
    "name": (":", "~"),
    "label": (":", "~"),
    "reason": (":", "~"),
    "age": ("<", ">", "<=", ">="),
    "attempts": ("=", "<", ">", "<=", ">="),
    "data": ("=", "!=", "<", ">", "<=", ">="),
}
_REVERSED = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "="}


def _compare(a: Any, op: str, b: Any) -> bool:
    """``a op b`` for numbers or datetimes (whose comparisons give a bool)."""
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    if op == ">=":
        return bool(a >= b)
    return bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _typed_equal(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return value is None or value is MISSING
    if isinstance(wanted, bool):
        return isinstance(value, bool) and value == wanted
    if isinstance(wanted, str):
        return isinstance(value, str) and value == wanted
    return _is_number(value) and value == wanted


def _status_is(job: Job, value: str, now: datetime) -> bool:
    """``status:value``: the stored status, or for running/stalled :func:`derived_status`."""
    stored = stored_status(job)
    if value in (RUNNING, STALLED):
        return stored == Status.DEQUEUED.value and derived_status(job, now) == value
    return stored == value


def _is_hex(text: str) -> bool:
    return 0 < len(text) <= 24 and all(c in _HEX for c in text)


def _quoted(value: str) -> str:
    """``"value"`` with the parser's two escapes: ``\\"`` and a backslash before ``"``/``\\``/the end."""
    out = ['"']
    for i, c in enumerate(value):
        if c == '"':
            out.append('\\"')
        elif c == "\\" and (i + 1 == len(value) or value[i + 1] in '"\\'):
            out.append("\\\\")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _reads_back(text: str, term: Term) -> bool:
    """Whether ``text`` parses to exactly ``term`` (else it needs quotes)."""
    from ._query_parser import Parser

    try:
        return Parser(text).parse().terms == (term,)
    except QueryError:
        return False


__all__ = [
    "BLOCKED",
    "FIELDS",
    "MISSING",
    "RUNNING",
    "STALLED",
    "STATUS_VALUES",
    "Query",
    "QueryError",
    "QueryRefused",
    "Term",
    "age_cutoff",
    "check_status",
    "format_duration",
    "parse",
    "parse_duration",
]
