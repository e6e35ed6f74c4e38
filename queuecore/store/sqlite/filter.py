"""Filtered reads of a SQLite store that survive text another program wrote that is not UTF-8.

The filter language runs Python functions in SQL (``regexp`` for ``name:~…``, and
``queuecore_icontains`` for free text and ``reason:`` with a needle ``LIKE`` cannot fold).
sqlite3 decodes each TEXT argument as strict UTF-8 before calling them, so one row holding
``CAST(x'ff6e616d65' AS TEXT)`` made every such filter on the store fail ("user-defined
function raised exception"). Casting every argument to BLOB costs every row of every filtered
read some 5-10 %, so a read runs as it always did and only when it fails so is it run once
more in the lenient form (:meth:`Query.sql` with ``lenient=True``), as are the store's later
filtered reads (:class:`Filtering`): the functions then get the bytes, decoded with U+FFFD
for each bad byte, exactly as the row is read back (salvaged, ``malformed`` set) and as
:meth:`Query.matches` matches it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ...query import Query, icontains, regexp

T = TypeVar("T")

#: What sqlite3 raises when a Python function (or the decoding of its arguments) fails.
_FUNCTION_FAILED = "user-defined function raised exception"


def regexp_bytes(pattern: str | None, raw: bytes | None) -> int:
    """``regexp`` of a text column given as bytes (see :func:`queuecore.query.sql_text`)."""
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
            where, args = query.sql(now, lenient=lenient)
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
