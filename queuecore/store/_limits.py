"""Hard time limits on filtered reads: ``store.find``/``store.count`` with filter terms.

A filter is typed by a person and runs over every job: even in linear time (RE2, see
:mod:`queuecore._regex`) a scan of a huge table or a slow server can take long, and a
dashboard or a script must not wait for it without end. Over the store's ``query_timeout``
the database itself stops the read and :class:`~queuecore.errors.QueryTimeout` is raised
("filter took longer than N s"); the store goes on working.

- **SQLite**: a progress handler on the connection for the duration of that one read (the
  store's thread runs one call at a time, so no other statement ever sees it), removed
  afterwards: unfiltered reads and every write run without it. The handler also stops the
  read as soon as the awaiting task is cancelled (a newer filter replaced it), so the next
  read does not queue behind it.
- **MongoDB**: ``maxTimeMS`` on the ``find``/``aggregate`` (``count_documents``) command;
  the server's ``ExecutionTimeout`` (code 50) becomes ``QueryTimeout``, and so does a read the
  client gives up (:func:`queuecore.store.mongo.limits.mongo_read`): a server that ignores
  ``maxTimeMS`` or is too busy to answer is not taken for an unreachable one.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import QueryTimeout
from ..query import QueryRefused

T = TypeVar("T")

#: SQLite virtual-machine instructions between two looks at the clock (a few microseconds of
#: work; the look itself costs well under 1 % of a filtered scan).
PROGRESS_STEPS = 1000


class _Deadline:
    """SQLite's progress handler for one read: non-zero (stop) once the time is up or the
    read was given up. The clock starts when the read starts running, not while it waits
    for the store's thread."""

    __slots__ = ("at", "seconds", "stopped")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = math.inf
        self.stopped = False

    def __call__(self) -> int:
        return 1 if self.stopped or time.monotonic() >= self.at else 0


def _bounded(fn: Callable[[sqlite3.Connection], T], deadline: _Deadline) -> Callable[[sqlite3.Connection], T]:
    def run(conn: sqlite3.Connection) -> T:
        if deadline.at == math.inf:  # a second run (lenient decoding) keeps the first one's clock
            deadline.at = time.monotonic() + deadline.seconds
        conn.set_progress_handler(deadline, PROGRESS_STEPS)
        try:
            return fn(conn)
        except sqlite3.OperationalError as exc:
            if deadline() and "interrupt" in str(exc):
                raise QueryTimeout(deadline.seconds) from None
            raise
        finally:
            conn.set_progress_handler(None, 0)

    return run


async def sqlite_read(
    run: Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]],
    fn: Callable[[sqlite3.Connection], T],
    seconds: float | None,
) -> T:
    """``await run(fn)`` (a SQLite store's ``_run``) stopped after ``seconds`` (None: no limit,
    and no handler at all) with :class:`QueryTimeout`, or when the awaiting task is cancelled."""
    if seconds is None:
        return await run(_refusing(fn))
    deadline = _Deadline(seconds)
    try:
        return await run(_refusing(_bounded(fn, deadline)))
    except asyncio.CancelledError:
        deadline.stopped = True  # the store's thread drops the statement at its next look
        raise


#: SQLite's result codes of a statement it cannot run as written (expression tree too deep,
#: LIKE pattern too complex, too many variables, a statement too long): the filter's fault.
_REFUSED = {"SQLITE_ERROR", "SQLITE_TOOBIG", "SQLITE_RANGE"}


def _refusing(fn: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    """``fn`` with SQLite's refusal of the filter's statement as :class:`QueryRefused` (a
    ``QueryError``): "SQLite cannot run this filter (…)", never the driver's class name. A
    store failure (busy, I/O, a missing table) stays what it is."""

    def run(conn: sqlite3.Connection) -> T:
        try:
            return fn(conn)
        except (sqlite3.OperationalError, sqlite3.DataError) as exc:
            name = getattr(exc, "sqlite_errorname", "")
            if name not in _REFUSED or str(exc).startswith("no such"):
                raise
            raise QueryRefused(f"SQLite cannot run this filter ({exc}); make it smaller") from None

    return run


def check_limit(seconds: float | None) -> float | None:
    """A valid ``query_timeout``: a positive number of seconds, or None (no limit)."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"query_timeout must be a positive number of seconds or None, not {seconds!r}")
    if math.isinf(seconds):
        return None
    return float(seconds)


__all__ = [
    "PROGRESS_STEPS",
    "check_limit",
    "sqlite_read",
]
