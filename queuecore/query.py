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

:meth:`Query.matches` is the reference semantics; the engines translate a query into a
MongoDB filter (:mod:`queuecore.store.mongo.filter`) or SQL (:meth:`Query.sql`) — values are always bound
parameters or BSON values, never code, and nothing from a query is ever evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import _regex
from ._time import as_utc, to_ms, utcnow
from .job import RUNNING, STALLED, Job, Status

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
        if self.field == "age":
            return f"{neg}age:{self.op}{format_duration(self.values[0])}"
        if self.field == "attempts":
            return f"{neg}attempts:{'' if self.op == '=' else self.op}{self.values[0]}"
        if self.field == "data":
            prefix = f"data.{'.'.join(self.path)}{self.op}"
            value = self.values[0]
            if not isinstance(value, str):
                return neg + prefix + json.dumps(value)
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

    # -- SQLite ----------------------------------------------------------------

    def sql(self, now: datetime, *, lenient: bool = False) -> tuple[str, list[Any]]:
        """The SQLite condition of this term (for the jobs table) and its parameters.
        ``lenient``: the Python functions get text columns as bytes (see :func:`sql_text`)."""
        clause, args = self._sql_positive(now, lenient)
        if self.negated:
            return f"NOT COALESCE(({clause}), 0)", args
        return clause, args

    def _sql_positive(self, now: datetime, lenient: bool) -> tuple[str, list[Any]]:
        f, op, values = self.field, self.op, self.values
        if f == "text":
            needle = values[0]
            parts, args = [], []
            for column in ("name", "label", "reason"):
                part, part_args = _sql_icontains(column, needle, lenient)
                parts.append(part)
                args.extend(part_args)
            if _is_hex(needle.lower()):
                parts.append("instr(id, ?) > 0")
                args.append(needle.lower())
            return "(" + " OR ".join(parts) + ")", args
        if f == "id":
            return "instr(id, ?) > 0", [values[0]]
        if f == "status":
            parts, args = [], []
            plain = [v for v in values if v not in (RUNNING, STALLED)]
            if plain:
                parts.append(f"status IN ({', '.join('?' for _ in plain)})")
                args.extend(plain)
            for v in values:
                if v in (RUNNING, STALLED):
                    # a time that is not a number (a malformed row) reads as none, as in matches()
                    parts.append(
                        f"(status = 'dequeued' AND available_at {'>' if v == RUNNING else '<='} ?"
                        f" AND typeof(available_at) IN ('integer', 'real'))"
                    )
                    args.append(to_ms(now))
            return "(" + " OR ".join(parts) + ")", args
        if f in ("name", "label", "reason"):
            if op == "~":
                sql = f"queuecore_regexp_bytes(?, {sql_text(f)})" if lenient else f"{f} REGEXP ?"
                return sql, [values[0]]
            if f == "reason":
                return _sql_icontains("reason", values[0], lenient)
            return f"{f} IN ({', '.join('?' for _ in values)})", list(values)
        if f == "age":
            # TEXT compares above every number in SQLite: a malformed time must not match
            clause = f"(typeof(created_at) IN ('integer', 'real') AND created_at {_REVERSED[op]} ?)"
            return clause, [to_ms(age_cutoff(now, values[0]))]
        if f == "attempts":
            # anything but an integer is salvaged as 0 attempts (Job.salvage)
            return f"(CASE WHEN typeof(attempts) = 'integer' THEN attempts ELSE 0 END) {op} ?", [values[0]]
        if f == "data":
            return self._data_sql()
        raise AssertionError(f"unknown field {f}")

    def _data_sql(self) -> tuple[str, list[Any]]:
        path = "$" + "".join(f'."{p}"' for p in self.path)
        wanted = self.values[0]
        kind = "json_type(data, ?)"
        if self.op in ("=", "!="):
            if wanted is None:
                # missing or null, unless the path runs through an array (MongoDB's $ifNull
                # then sees an array, not null); invalid JSON reads as {} like Job.salvage
                prefixes = ["$" + "".join(f'."{p}"' for p in self.path[:i]) for i in range(1, len(self.path))]
                blocked = "".join(" AND COALESCE(json_type(data, ?), '') != 'array'" for _ in prefixes)
                cond = f"({kind} IS NULL OR {kind} = 'null'){blocked}"
                args: list[Any] = [path, path, *prefixes]
                equal, otherwise = cond, "1"
            elif isinstance(wanted, bool):
                equal, args, otherwise = f"{kind} = '{'true' if wanted else 'false'}'", [path], "0"
            elif isinstance(wanted, str):
                equal = f"({kind} = 'text' AND json_extract(data, ?) = ?)"
                args, otherwise = [path, path, wanted], "0"
            else:
                equal = f"({kind} IN ('integer', 'real') AND json_extract(data, ?) = ?)"
                args, otherwise = [path, path, wanted], "0"
            clause = f"(CASE WHEN json_valid(data) THEN {equal} ELSE {otherwise} END)"
            if self.op == "!=":
                clause = f"NOT COALESCE({clause}, 0)"
            return clause, args
        cond = f"({kind} IN ('integer', 'real') AND json_extract(data, ?) {self.op} ?)"
        return f"(CASE WHEN json_valid(data) THEN {cond} ELSE 0 END)", [path, path, wanted]


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

    def sql(self, now: datetime, *, lenient: bool = False) -> tuple[str, list[Any]]:
        """A SQLite WHERE condition (``"1"`` when empty) and its parameters; ``lenient`` for
        tables holding text that is not UTF-8 (see :func:`sql_text`)."""
        if not self.terms:
            return "1", []
        parts, args = [], []
        for term in self.terms:
            clause, term_args = term.sql(now, lenient=lenient)
            parts.append(clause)
            args.extend(term_args)
        return " AND ".join(parts), args


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


def regexp(pattern: str | None, value: Any) -> int:
    """SQLite's ``regexp(pattern, value)`` (``value REGEXP pattern``): case-insensitive RE2 search."""
    if pattern is None or not isinstance(value, str):
        return 0
    return 1 if _regex.search(pattern, value) else 0


def icontains(value: Any, needle: str | None) -> int:
    """SQLite's ``queuecore_icontains(value, needle)``: case-insensitive substring (str.lower)."""
    if not isinstance(value, str) or needle is None:
        return 0
    return 1 if needle.lower() in value.lower() else 0


#: The only non-ASCII characters whose ``str.lower()`` contains ASCII letters (İ -> i̇, K -> k).
_LOWERS_TO_ASCII = ("\u0130", "\u212a")
#: Characters in a value that LIKE gets wrong for an ASCII needle: those above, and NUL (SQLite's
#: LIKE stops at the first NUL of a text; ``instr`` and Python functions see the whole value).
_LIKE_MISSES = (*_LOWERS_TO_ASCII, "\0")


def sql_text(column: str) -> str:
    """``column`` as the bytes of its text (NULL when it is not text), for the lenient
    functions (``queuecore_regexp_bytes``, ``queuecore_icontains_bytes``): sqlite3 decodes a TEXT
    argument as strict UTF-8 before a Python function sees it, so one row of another program
    that is not UTF-8 fails the whole statement. These decode it with U+FFFD for each bad byte,
    as the row is read (and matched, ``Query.matches``) when salvaged. Only used once a filter
    failed so (queuecore.store._sqlite_filter): the cast costs every row some 5-10 %."""
    return f"(CASE WHEN typeof({column}) = 'text' THEN CAST({column} AS BLOB) END)"


def _sql_icontains(column: str, needle: str, lenient: bool = False) -> tuple[str, list[Any]]:
    """``needle.lower() in column.lower()`` in SQL. For an ASCII needle, LIKE (which folds
    ASCII case) is exact except for the two characters that lower to ASCII letters and NUL
    (``_LIKE_MISSES``), so the Python function runs only on rows holding one of them; other
    needles always use it."""
    call = f"queuecore_icontains({column}, ?)"
    if lenient:
        call = f"queuecore_icontains_bytes({sql_text(column)}, ?)"
    if not needle.isascii() or "\0" in needle:  # LIKE would read a pattern up to its NUL only
        return call, [needle]
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    special = " OR ".join(f"instr({column}, ?) > 0" for _ in _LIKE_MISSES)
    sql = f"({column} LIKE ? ESCAPE '\\' OR (({special}) AND {call}))"
    return sql, [pattern, *_LIKE_MISSES, needle]


def _compare(a: Any, op: str, b: Any) -> bool:
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    if op == ">=":
        return a >= b
    return a == b


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
    stored = str(job.status.value if isinstance(job.status, Status) else job.status)
    if value == RUNNING:
        return stored == "dequeued" and job.available is not None and as_utc(job.available) > now
    if value == STALLED:
        return stored == "dequeued" and job.available is not None and as_utc(job.available) <= now
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
