"""The filter language in SQLite: a :class:`~queuecore.query.Query` as a WHERE condition.

:func:`compile_query` translates a parsed query into SQL over the jobs table, meaning exactly
what :meth:`Query.matches` (the reference) means, malformed rows included: values are always
bound parameters, never SQL. Free text and ``reason:`` use ``LIKE`` for ASCII needles (exactly
``str.lower`` semantics, see :func:`_icontains_sql`), a Python function otherwise; regular
expressions run through a registered ``REGEXP`` function (RE2, as ``Query.matches``).

Text another program wrote that is not UTF-8: the Python functions (``regexp`` for
``name:~…``, ``queuecore_icontains`` for free text and ``reason:``) get each TEXT argument
decoded as strict UTF-8 by sqlite3 before they are called, so one row holding
``CAST(x'ff6e616d65' AS TEXT)`` would make every such filter on the store fail ("user-defined
function raised exception"). Casting every argument to BLOB costs every row of every filtered
read some 5-10 %, so a read runs as it always did and only when it fails so is it run once
more in the lenient form (``lenient=True``), as are the store's later filtered reads
(:class:`Filtering`): the functions then get the bytes, decoded with U+FFFD for each bad byte,
exactly as the row is read back (salvaged, ``malformed`` set) and as :meth:`Query.matches`
matches it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ... import _regex
from ..._time import to_ms
from ...query import _REVERSED, Query, Term, _is_hex, age_cutoff
from ...status import RUNNING, STALLED

T = TypeVar("T")

#: What sqlite3 raises when a Python function (or the decoding of its arguments) fails.
_FUNCTION_FAILED = "user-defined function raised exception"

# -- the translation ------------------------------------------------------------------


def compile_query(query: Query, now: datetime, *, lenient: bool = False) -> tuple[str, list[Any]]:
    """A SQLite WHERE condition (``"1"`` when empty) and its parameters; ``lenient`` for
    tables holding text that is not UTF-8 (see :func:`sql_text`)."""
    if not query.terms:
        return "1", []
    parts, args = [], []
    for term in query.terms:
        clause, term_args = compile_term(term, now, lenient=lenient)
        parts.append(clause)
        args.extend(term_args)
    return " AND ".join(parts), args


def compile_term(term: Term, now: datetime, *, lenient: bool = False) -> tuple[str, list[Any]]:
    """The SQLite condition of one term (for the jobs table) and its parameters.
    ``lenient``: the Python functions get text columns as bytes (see :func:`sql_text`)."""
    clause, args = _positive(term, now, lenient)
    if term.negated:
        return f"NOT COALESCE(({clause}), 0)", args
    return clause, args


def _positive(term: Term, now: datetime, lenient: bool) -> tuple[str, list[Any]]:
    """The condition of ``term`` without its negation."""
    f, op, values = term.field, term.op, term.values
    if f == "text":
        needle = values[0]
        parts, args = [], []
        for column in ("name", "label", "reason"):
            part, part_args = _icontains_sql(column, needle, lenient)
            parts.append(part)
            args.extend(part_args)
        if _is_hex(needle.lower()):
            parts.append("instr(id, ?) > 0")
            args.append(needle.lower())
        return "(" + " OR ".join(parts) + ")", args
    if f == "id":
        return "instr(id, ?) > 0", [values[0]]
    if f == "status":
        return _status_sql(values, now)
    if f in ("name", "label", "reason"):
        if op == "~":
            sql = f"queuecore_regexp_bytes(?, {sql_text(f)})" if lenient else f"{f} REGEXP ?"
            return sql, [values[0]]
        if f == "reason":
            return _icontains_sql("reason", values[0], lenient)
        return f"{f} IN ({', '.join('?' for _ in values)})", list(values)
    if f == "age":
        # TEXT compares above every number in SQLite: a malformed time must not match
        clause = f"(typeof(created_at) IN ('integer', 'real') AND created_at {_REVERSED[op]} ?)"
        return clause, [to_ms(age_cutoff(now, values[0]))]
    if f == "attempts":
        # anything but an integer is salvaged as 0 attempts (Job.salvage)
        return f"(CASE WHEN typeof(attempts) = 'integer' THEN attempts ELSE 0 END) {op} ?", [values[0]]
    if f == "data":
        return _data_sql(term)
    raise AssertionError(f"unknown field {f}")


#: ``status:stalled`` (one ``?``: now, in ms): :func:`queuecore.status.derived_status`, translated.
#: A time that is not a number (a malformed row, salvaged without one) never stalls.
STALLED_SQL = "(status = 'dequeued' AND available_at <= ? AND typeof(available_at) IN ('integer', 'real'))"
#: ``status:running`` (one ``?``: now, in ms): dequeued and not stalled.
RUNNING_SQL = (
    "(status = 'dequeued'"
    " AND NOT COALESCE(available_at <= ? AND typeof(available_at) IN ('integer', 'real'), 0))"
)


def derived_sql(value: str) -> str:
    """The condition of ``status:running`` or ``status:stalled`` (one ``?``: now, in ms)."""
    return RUNNING_SQL if value == RUNNING else STALLED_SQL


def _status_sql(values: tuple[Any, ...], now: datetime) -> tuple[str, list[Any]]:
    """``status:…``: stored statuses by the index, ``running``/``stalled`` by the clock."""
    parts, args = [], []
    plain = [v for v in values if v not in (RUNNING, STALLED)]
    if plain:
        parts.append(f"status IN ({', '.join('?' for _ in plain)})")
        args.extend(plain)
    for v in values:
        if v in (RUNNING, STALLED):
            parts.append(derived_sql(v))
            args.append(to_ms(now))
    return "(" + " OR ".join(parts) + ")", args


def _data_sql(term: Term) -> tuple[str, list[Any]]:
    """``data.path`` compared with a typed JSON value (see the query language)."""
    path = "$" + "".join(f'."{p}"' for p in term.path)
    wanted = term.values[0]
    kind = "json_type(data, ?)"
    if term.op in ("=", "!="):
        if wanted is None:
            # missing or null, unless the path runs through an array (MongoDB's $ifNull
            # then sees an array, not null); invalid JSON reads as {} like Job.salvage
            prefixes = ["$" + "".join(f'."{p}"' for p in term.path[:i]) for i in range(1, len(term.path))]
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
        if term.op == "!=":
            clause = f"NOT COALESCE({clause}, 0)"
        return clause, args
    cond = f"({kind} IN ('integer', 'real') AND json_extract(data, ?) {term.op} ?)"
    return f"(CASE WHEN json_valid(data) THEN {cond} ELSE 0 END)", [path, path, wanted]


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
    failed so (:class:`Filtering`): the cast costs every row some 5-10 %."""
    return f"(CASE WHEN typeof({column}) = 'text' THEN CAST({column} AS BLOB) END)"


def _icontains_sql(column: str, needle: str, lenient: bool = False) -> tuple[str, list[Any]]:
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


# -- the functions the SQL calls --------------------------------------------------------


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


def regexp_bytes(pattern: str | None, raw: bytes | None) -> int:
    """``regexp`` of a text column given as bytes (see :func:`sql_text`)."""
    return 0 if raw is None else regexp(pattern, raw.decode("utf-8", "replace"))


def icontains_bytes(raw: bytes | None, needle: str | None) -> int:
    """``queuecore_icontains`` of a text column given as bytes."""
    return 0 if raw is None else icontains(raw.decode("utf-8", "replace"), needle)


def register(conn: sqlite3.Connection) -> None:
    """Define the filter language's functions on ``conn`` (the same as ``Query.matches``)."""
    conn.create_function("queuecore_icontains", 2, icontains, deterministic=True)
    conn.create_function("regexp", 2, regexp, deterministic=True)
    conn.create_function("queuecore_icontains_bytes", 2, icontains_bytes, deterministic=True)
    conn.create_function("queuecore_regexp_bytes", 2, regexp_bytes, deterministic=True)


# -- running a filtered read ----------------------------------------------------------


def all_rows(cursor: sqlite3.Cursor) -> Any:
    """Every row of ``cursor`` (a ``fetch`` for :meth:`Filtering.read`)."""
    return cursor.fetchall()


def first_value(cursor: sqlite3.Cursor) -> Any:
    """The first column of the first row of ``cursor`` (a ``fetch`` for :meth:`Filtering.read`)."""
    return cursor.fetchone()[0]


class Filtering:
    """How one store runs filtered reads: as they are, until a filter function first meets
    text that is not UTF-8; from then on (for the store's lifetime: the row is likely to stay)
    in the lenient form straight away, rather than failing and running twice each time."""

    __slots__ = ("lenient",)

    def __init__(self) -> None:
        self.lenient = False

    def read(
        self,
        query: Query,
        now: datetime,
        statement: str,
        extra: Sequence[Any],
        fetch: Callable[[sqlite3.Cursor], T] = all_rows,
    ) -> Callable[[sqlite3.Connection], T]:
        """A read of the rows ``query`` matches at ``now``: ``statement`` with its ``{where}``
        replaced by the query's condition, the condition's parameters and then ``extra``, its
        rows taken by ``fetch``. Run again in the lenient form when a filter function met
        text that is not UTF-8 (a query without such functions never fails so)."""

        def run(conn: sqlite3.Connection, lenient: bool) -> T:
            where, args = compile_query(query, now, lenient=lenient)
            return fetch(conn.execute(statement.replace("{where}", where), [*args, *extra]))

        def read(conn: sqlite3.Connection) -> T:
            if not self.lenient:
                try:
                    return run(conn, False)
                except sqlite3.OperationalError as exc:
                    if _FUNCTION_FAILED not in str(exc):
                        raise
                self.lenient = True
            return run(conn, True)

        return read
