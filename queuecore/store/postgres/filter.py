"""The filter language in PostgreSQL: a :class:`~queuecore.query.Query` as a WHERE condition.

:func:`compile_query` means exactly what :meth:`Query.matches` means, other programs' rows
included; every value is a bound parameter. Free text and ``reason:`` compare
``lower(column)`` with ``str.lower`` of the needle — ``lower`` under the ICU root collation when
the server has it (Unicode's full lower-case mapping, as Python's), else under the database's
own. Regular expressions are translated (:mod:`.regex`) and matched case-sensitively on the
``C``-collated columns, so the translation alone decides. ``data.*`` terms walk the ``jsonb``
object by object (an array on the way equals nothing, as in ``Query.matches``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...query import _REVERSED, Query, QueryRefused, Term, _is_hex, age_cutoff
from ...status import RUNNING, STALLED
from . import text as pgtext
from .regex import Untranslatable, translate

#: A time Python can hold (a stored ``infinity`` or a year past 9999 is read as none).
READABLE = "({col} >= '0001-01-01 00:00:00+00' AND {col} < '10000-01-01 00:00:00+00')"
#: ``status:stalled`` (one ``%s``: now): :func:`queuecore.status.derived_status`, translated.
STALLED_SQL = "(status = 'dequeued' AND available_at <= %s AND " + READABLE.format(col="available_at") + ")"
#: ``status:running`` (one ``%s``: now): dequeued and not stalled.
RUNNING_SQL = (
    "(status = 'dequeued' AND NOT COALESCE(available_at <= %s AND "
    + READABLE.format(col="available_at")
    + ", false))"
)


class Dialect:
    """What the server offers the translation: how text is lower-cased."""

    __slots__ = ("lower",)

    def __init__(self, icu: bool) -> None:
        #: ``lower(...)`` of a column, as SQL with ``{col}``.
        self.lower = 'lower({col} COLLATE "und-x-icu")' if icu else 'lower({col} COLLATE "default")'


def compile_query(query: Query, now: datetime, dialect: Dialect) -> tuple[str, list[Any]]:
    """A WHERE condition (``true`` when empty) and its parameters; :class:`QueryRefused` for a
    regular expression PostgreSQL cannot run."""
    if not query.terms:
        return "true", []
    parts, args = [], []
    for term in query.terms:
        clause, term_args = compile_term(term, now, dialect)
        parts.append(clause)
        args.extend(term_args)
    return " AND ".join(parts), args


def compile_term(term: Term, now: datetime, dialect: Dialect) -> tuple[str, list[Any]]:
    """The condition of one term and its parameters."""
    clause, args = _positive(term, now, dialect)
    if term.negated:
        return f"NOT COALESCE(({clause}), false)", args
    return clause, args


def _contains(column: str, needle: str, dialect: Dialect) -> tuple[str, list[Any]]:
    return f"strpos({dialect.lower.format(col=column)}, %s) > 0", [pgtext.encode(needle.lower())]


def _positive(term: Term, now: datetime, dialect: Dialect) -> tuple[str, list[Any]]:
    f, op, values = term.field, term.op, term.values
    if f == "text":
        needle = values[0]
        parts, args = [], []
        for column in ("name", "label", "reason"):
            part, part_args = _contains(column, needle, dialect)
            parts.append(part)
            args.extend(part_args)
        if _is_hex(needle.lower()):
            parts.append("strpos(id, %s) > 0")
            args.append(needle.lower())
        return "(" + " OR ".join(parts) + ")", args
    if f == "id":
        return "strpos(id, %s) > 0", [values[0]]
    if f == "status":
        return _status_sql(values, now)
    if f in ("name", "label", "reason"):
        if op == "~":
            try:
                pattern = translate(values[0])
            except Untranslatable as exc:
                raise QueryRefused(f"PostgreSQL cannot run this filter ({exc})") from None
            return f"COALESCE({f}, '') ~ %s", [pattern]
        if f == "reason":
            return _contains("reason", values[0], dialect)
        return f"COALESCE({f}, '') = ANY(%s)", [[pgtext.encode(v) for v in values]]
    if f == "age":
        readable = READABLE.format(col="created_at")
        return f"({readable} AND created_at {_REVERSED[op]} %s)", [age_cutoff(now, values[0])]
    if f == "attempts":
        return f"COALESCE(attempts, 0) {op} %s", [values[0]]
    if f == "data":
        return _data_sql(term)
    raise AssertionError(f"unknown field {f}")


def derived_sql(value: str) -> str:
    """The condition of ``status:running`` or ``status:stalled`` (one ``%s``: now)."""
    return RUNNING_SQL if value == RUNNING else STALLED_SQL


def _status_sql(values: tuple[Any, ...], now: datetime) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    plain = [v for v in values if v not in (RUNNING, STALLED)]
    if plain:
        parts.append("status = ANY(%s)")
        args.append(plain)
    for v in values:
        if v in (RUNNING, STALLED):
            parts.append(derived_sql(v))
            args.append(now)
    return "(" + " OR ".join(parts) + ")", args


def _data_sql(term: Term) -> tuple[str, list[Any]]:
    """``data.path`` compared with a typed JSON value, walking objects only: data that is
    not an object, a missing key or a scalar on the way is MISSING (equal to null), an array
    on the way BLOCKED (equal to nothing)."""
    path = list(term.path)
    wanted = term.values[0]
    args: list[Any] = []
    missing, blocked, found = _outcomes(term, wanted, args)
    cases = ["CASE WHEN jsonb_typeof(data) IS DISTINCT FROM 'object' THEN " + missing]
    prefix_args: list[Any] = []
    for i in range(1, len(path)):
        kind = "jsonb_typeof(data #> %s::text[])"
        cases.append(f"WHEN {kind} = 'array' THEN {blocked}")
        cases.append(f"WHEN {kind} IS DISTINCT FROM 'object' THEN {missing}")
        prefix_args += [path[:i], path[:i]]
    value_args = [path] * found.count("{v}")
    sql = " ".join(cases) + " ELSE " + found.replace("{v}", "(data #> %s::text[])") + " END"
    # the parameters in the order they appear: the prefixes, then the value's, then the outcome's
    return f"({sql})", [*prefix_args, *value_args, *args]


def _outcomes(term: Term, wanted: Any, args: list[Any]) -> tuple[str, str, str]:
    """The results of the term for a MISSING value, a BLOCKED path and a found value ``{v}``
    (whose own parameters, after the value's, go to ``args``)."""
    op = term.op
    if op in ("=", "!="):
        if wanted is None:
            equal_missing, equal_blocked = "true", "false"
            equal = "(jsonb_typeof({v}) IS NULL OR jsonb_typeof({v}) = 'null')"
        elif isinstance(wanted, bool):
            equal_missing = equal_blocked = "false"
            equal = f"COALESCE({{v}} = '{'true' if wanted else 'false'}'::jsonb, false)"
        elif isinstance(wanted, str):
            equal_missing = equal_blocked = "false"
            equal = "COALESCE(jsonb_typeof({v}) = 'string' AND {v} #>> '{}' = %s, false)"
            args.append(pgtext.encode(wanted))
        else:
            equal_missing = equal_blocked = "false"
            equal = (
                "(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v})::numeric = %s::numeric ELSE false END)"
            )
            args.append(str(wanted))
        if op == "!=":
            return _not(equal_missing), _not(equal_blocked), f"NOT {equal}"
        return equal_missing, equal_blocked, equal
    number = (
        f"(CASE WHEN jsonb_typeof({{v}}) = 'number' THEN ({{v}})::numeric {op} %s::numeric ELSE false END)"
    )
    args.append(str(wanted))
    return "false", "false", number


def _not(value: str) -> str:
    return "false" if value == "true" else "true"


__all__ = [
    "READABLE",
    "RUNNING_SQL",
    "STALLED_SQL",
    "Dialect",
    "compile_query",
    "compile_term",
    "derived_sql",
]
