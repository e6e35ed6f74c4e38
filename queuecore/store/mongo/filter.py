"""The MongoDB translation of a :class:`~queuecore.query.Query`: a filter document.

:meth:`Query.matches <queuecore.query.Query.matches>` is the reference semantics; this module
says the same in MongoDB's terms. Every value of a query is a BSON value of the filter, never
code: a regex is ``$regex`` (RE2 syntax, checked at parse time, so it means the same here),
nothing is ever evaluated. A missing or null field is matched with ``{$in: [null]}`` (and
``$ifNull`` inside ``$expr``), which matches both on MongoDB and on its emulator.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bson import ObjectId

from ... import _regex
from ...job import Status
from ...query import _REVERSED, Query, Term, _compare, _is_hex, age_cutoff
from ...status import RUNNING, STALLED

#: The comparison operators of the language as MongoDB's.
_MONGO_OP = {"<": "$lt", ">": "$gt", "<=": "$lte", ">=": "$gte"}


def query_filter(query: Query, now: datetime) -> dict[str, Any]:
    """A MongoDB filter (``{}`` when empty). Status and name terms are plain equality/``$in``
    conditions, so the server can use its indexes on them."""
    clauses = [term_filter(t, now) for t in query.terms]
    if not clauses:
        return {}
    if len(clauses) == 1:
        return clauses[0]
    return {"$and": clauses}


def term_filter(term: Term, now: datetime) -> dict[str, Any]:
    """The MongoDB filter of one term (negation included)."""
    positive = _positive(term, now)
    return {"$nor": [positive]} if term.negated else positive


#: Every BSON type but ``date`` (``$type``'s names; ``missing`` for an absent field).
NOT_DATE_TYPES = [
    "missing",
    "null",
    "undefined",
    "double",
    "int",
    "long",
    "decimal",
    "string",
    "bool",
    "object",
    "array",
    "binData",
    "objectId",
    "timestamp",
    "regex",
    "javascript",
    "symbol",
    "dbPointer",
    "minKey",
    "maxKey",
]


def derived_filter(value: str, now: datetime) -> dict[str, Any]:
    """The jobs :func:`queuecore.status.derived_status` calls ``value`` (running or stalled) at
    ``now``: dequeued, with ``available_at`` a date at or before ``now`` (stalled) or not
    (running: a later date, or a value of another type, which a salvaged job reads as none).
    The other types are named rather than negated (``$not``/``$nor`` around the comparison):
    the test emulator's ``find`` gets a negated comparison wrong on mixed types."""
    if value == STALLED:  # BSON compares a date with dates only
        return {"status": Status.DEQUEUED.value, "available_at": {"$lte": now}}
    not_a_date = {"$expr": {"$in": [{"$type": "$available_at"}, NOT_DATE_TYPES]}}
    return {"status": Status.DEQUEUED.value, "$or": [{"available_at": {"$gt": now}}, not_a_date]}


def _positive(term: Term, now: datetime) -> dict[str, Any]:
    f, op, values = term.field, term.op, term.values
    if f == "text":
        pattern = {"$regex": re.escape(values[0]), "$options": "i"}
        ors: list[dict[str, Any]] = [{c: pattern} for c in ("name", "label", "reason")]
        needle = values[0].lower()
        if _is_hex(needle):
            ors.append(_id_filter(needle))
        return {"$or": ors}
    if f == "id":
        return _id_filter(values[0])
    if f == "status":
        ors = []
        plain = [v for v in values if v not in (RUNNING, STALLED)]
        if plain:
            ors.append({"status": {"$in": plain}})
        for v in values:
            if v in (RUNNING, STALLED):  # queuecore.status.derived_status, translated
                ors.append(derived_filter(v, now))
        return ors[0] if len(ors) == 1 else {"$or": ors}
    if f in ("name", "label", "reason"):
        if op == "~":
            cond: dict[str, Any] = {f: {"$regex": values[0], "$options": "i"}}
            if _regex.search(values[0], ""):  # a null/missing field reads as ""
                cond = {"$or": [cond, {f: {"$in": [None]}}]}
            return cond
        if f == "reason":
            return {"reason": {"$regex": re.escape(values[0]), "$options": "i"}}
        wanted = list(values) + ([None] if "" in values else [])
        return {f: {"$in": wanted}}
    if f == "age":
        return {"created_at": {_MONGO_OP[_REVERSED[op]]: age_cutoff(now, values[0])}}
    if f == "attempts":
        cond = {"attempts": values[0] if op == "=" else {_MONGO_OP[op]: values[0]}}
        if _compare(0, op, values[0]):  # a missing or null count reads as 0 (Job's default)
            cond = {"$or": [cond, {"attempts": {"$in": [None]}}]}
        return cond
    if f == "data":
        return {"$expr": _data_expr(term)}
    raise AssertionError(f"unknown field {f}")


def _data_expr(term: Term) -> dict[str, Any]:
    """A ``data.<path>`` comparison as an ``$expr``: typed as in ``Query.matches`` (a number
    equals only a number, null also a missing value)."""
    ref = "$data." + ".".join(term.path)
    wanted = term.values[0]
    numeric = {"$in": [{"$type": ref}, ["int", "long", "double", "decimal"]]}
    if term.op in ("=", "!="):
        if wanted is None:
            equal: dict[str, Any] = {"$eq": [{"$ifNull": [ref, None]}, None]}
        elif isinstance(wanted, bool):
            equal = {"$and": [{"$eq": [{"$type": ref}, "bool"]}, {"$eq": [ref, wanted]}]}
        elif isinstance(wanted, str):
            equal = {"$and": [{"$eq": [{"$type": ref}, "string"]}, {"$eq": [ref, wanted]}]}
        else:
            equal = {"$and": [numeric, {"$eq": [ref, wanted]}]}
        return equal if term.op == "=" else {"$not": [equal]}
    return {"$and": [numeric, {_MONGO_OP[term.op]: [ref, wanted]}]}


def _id_filter(hex_digits: str) -> dict[str, Any]:
    """The ids holding these hex digits: the id itself for all 24, else a match on its text."""
    if len(hex_digits) == 24:
        return {"_id": ObjectId(hex_digits)}
    as_text = {"$convert": {"input": "$_id", "to": "string", "onError": ""}}
    return {"$expr": {"$regexMatch": {"input": as_text, "regex": hex_digits}}}


__all__ = ["derived_filter", "query_filter", "term_filter"]
