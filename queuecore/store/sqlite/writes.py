"""The SQL of the SQLite store's writes: inserts, the claim and guarded updates.

Every transition is one ``UPDATE … WHERE <guard> RETURNING *`` statement, atomic across
processes without explicit locking; labeled de-duplication is a ``lock`` column with a UNIQUE
index, set only while a labeled job is active (NULLs never collide), so a clash on it is an
``IntegrityError`` naming ``lock``. Values are always bound parameters.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..._time import to_ms
from ..changes import Changes, Guard
from ..common import CLAIMABLE, LockConflict, claim_changes
from .codec import INSERT_COLUMNS, INSERT_MARKS, SELECT, encode
from .filter import STALLED_SQL

#: Append one event to the JSON history, keeping the newest MAX_EVENTS (``Codec.append_args``).
APPEND = (
    "CASE WHEN json_array_length(events) >= ?"
    " THEN json_insert(json_remove(events, '$[0]'), '$[#]', json(?))"
    " ELSE json_insert(events, '$[#]', json(?)) END"
)


def insert_sql(table: str) -> str:
    """The insert of a new job (``Codec.insert_values``)."""
    return f"INSERT INTO {table} ({INSERT_COLUMNS}) VALUES ({INSERT_MARKS})"


def periodic_sql(table: str) -> str:
    """The insert of a labeled blueprint with a period: skipped (no row) when a job of its
    name and label finished after the time given as its last three values (name, label, ms)."""
    return (
        f"INSERT INTO {table} ({INSERT_COLUMNS}) SELECT {INSERT_MARKS} WHERE NOT EXISTS"
        f" (SELECT 1 FROM {table} WHERE name = ? AND label = ? AND finished_at > ?)"
    )


#: The stored keys a claim sets, in the order :func:`claim_args` gives their values.
CLAIM_KEYS = tuple(key for key, _ in claim_changes(datetime.fromtimestamp(0, UTC), timedelta(0), "").stored())


def claim_sql(table: str) -> str:
    """The claim of a due job (:func:`~queuecore.store.common.claim_changes`, attempts + 1);
    parameters :func:`claim_args`; returns the claimed row."""
    statuses = ", ".join(f"'{s.value}'" for s in CLAIMABLE)
    return (
        f"UPDATE {table} SET {', '.join(f'{key} = ?' for key in CLAIM_KEYS)},"
        f" attempts = attempts + 1, events = {APPEND} WHERE id = ?"
        f" AND status IN ({statuses}) AND available_at <= ?"
        f" RETURNING {SELECT}"
    )


def claim_args(changes: Changes, event_args: tuple[Any, ...], id: str, now: int) -> tuple[Any, ...]:
    """The parameters of :func:`claim_sql`: the claim's values, ``APPEND``'s, the id, now (ms)."""
    return (*(encode(key, value) for key, value in changes.stored()), *event_args, id, now)


def reread_sql(table: str) -> str:
    """One job's row by id (a returned row read again leniently, see ``decode.returned_row``)."""
    return f"SELECT {SELECT} FROM {table} WHERE id = ?"


def guarded(
    table: str, id: str, guard: Guard, changes: Changes, *, event_args: tuple[Any, ...] | None
) -> tuple[str, list[Any]]:
    """The statement and arguments of a guarded update (see :meth:`Store.update`);
    ``event_args``: ``APPEND``'s parameters when an event is appended."""
    stored = list(changes.stored())
    assignments = [f"{key} = ?" for key, _ in stored]
    args: list[Any] = [encode(key, value) for key, value in stored]
    if event_args is not None:
        assignments.append(f"events = {APPEND}")
        args.extend(event_args)
    if changes.lock is True:
        assignments.append("lock = CASE WHEN label != '' THEN queuecore_lock_key(name, label) END")
    elif changes.lock is False:
        assignments.append("lock = NULL")
    where = ["id = ?"]
    args.append(id)
    guards = []
    if guard.statuses is not None:
        guards.append(f"status IN ({', '.join('?' for _ in guard.statuses)})")
        args.extend(s.value for s in guard.statuses)
    if guard.stalled_at is not None:  # status:stalled at that time (queuecore.status)
        guards.append(STALLED_SQL)
        args.append(to_ms(guard.stalled_at))
    if guards:
        where.append(f"({' OR '.join(guards)})")
    if guard.attempts is not None:
        where.append("attempts = ?")
        args.append(guard.attempts)
    return f"UPDATE {table} SET {', '.join(assignments)} WHERE {' AND '.join(where)}", args


def lock_checked(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
    """Run a guarded update; a clash on the name+label lock is a :class:`LockConflict`."""
    try:
        return conn.execute(sql, args)
    except sqlite3.IntegrityError as exc:
        if "lock" in str(exc):
            raise LockConflict(str(exc)) from None
        raise


def inserted(conn: sqlite3.Connection, sql: str, values: Sequence[Any]) -> bool:
    """Run one insert; False when the label's lock is held (nothing inserted)."""
    try:
        return conn.execute(sql, values).rowcount == 1
    except sqlite3.IntegrityError as exc:
        if "lock" in str(exc):
            return False
        raise
