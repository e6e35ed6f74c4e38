"""The SQL of the PostgreSQL store's writes: inserts, the period rule, the claim, guarded updates.

Every transition is one ``UPDATE … WHERE <guard> RETURNING …`` statement: the guard is checked
by the statement that writes, so two processes never both win. The label's lock is a partial
unique index over ``(name, label) WHERE locked`` (``locked``: an active labeled job), so an
insert that would take a held lock inserts nothing (``ON CONFLICT … DO NOTHING``) and an update
that would take one raises :class:`~queuecore.store.common.LockConflict`.

The period rule (a labeled blueprint with a period is skipped when a job of its name and label
finished within it) is checked inside the insert's statement, after an advisory lock on the
name and label that every update finishing such a job takes too (a trigger, ``schema.sql``):
a job finishing in another transaction meanwhile has committed before the check reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from ...fields import FIELDS, Kind
from ...job import Job
from ..changes import Changes, Guard
from ..common import CLAIMABLE, LockConflict, claim_changes
from . import text as pgtext
from .codec import COLUMNS, SELECT, encode
from .filter import STALLED_SQL

#: A new job's columns: every stored field's (``queuecore.fields``), and the label's lock.
INSERT_COLUMNS = ", ".join([*COLUMNS, "locked"])
INSERT_MARKS = ", ".join(
    [*("%s::jsonb" if f.kind in (Kind.OBJECT, Kind.EVENTS) else "%s" for f in FIELDS), "%s"]
)

#: Append one event to the history, keeping the newest MAX_EVENTS (``Codec.append_args``:
#: the entry, the limit, the entry twice); a history that is not an array starts over.
APPEND = (
    "CASE WHEN jsonb_typeof(events) IS DISTINCT FROM 'array' THEN jsonb_build_array(%s::jsonb)"
    " WHEN jsonb_array_length(events) >= %s THEN (events - 0) || jsonb_build_array(%s::jsonb)"
    " ELSE events || jsonb_build_array(%s::jsonb) END"
)


def lock_target(table: str) -> str:
    """The arbiter of ``ON CONFLICT``: the label's lock index."""
    return "(name, label) WHERE locked"


def insert_sql(table: str) -> str:
    """The insert of a new job (``Codec.insert_values``); no row when its lock is held."""
    return (
        f'INSERT INTO "{table}" ({INSERT_COLUMNS}) VALUES ({INSERT_MARKS})'
        f" ON CONFLICT {lock_target(table)} DO NOTHING"
    )


def period_lock_sql() -> str:
    """The advisory lock of a name and label (``period_key``) held until the transaction ends."""
    return "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


def period_key(table: str, name: str, label: str) -> str:
    """The text the advisory lock of a name and label is hashed from; the same as the
    trigger's ``TG_TABLE_NAME || E'\\x1f' || name || E'\\x1f' || label`` (``schema.sql``)."""
    return f"{table}\x1f{pgtext.encode(name)}\x1f{pgtext.encode(label)}"


def periodic_sql(table: str) -> str:
    """The insert of a labeled blueprint with a period: no row when a job of its name and
    label finished after the time given as its last three values (name, label, time)."""
    return (
        f'INSERT INTO "{table}" ({INSERT_COLUMNS}) SELECT {INSERT_MARKS} WHERE NOT EXISTS'
        f' (SELECT 1 FROM "{table}" WHERE name = %s AND label = %s AND finished_at > %s)'
        f" ON CONFLICT {lock_target(table)} DO NOTHING"
    )


def period_args(job: Job, values: list[Any], since: datetime) -> list[Any]:
    """The parameters of :func:`periodic_sql`."""
    return [*values, pgtext.encode(job.name), pgtext.encode(job.label), since]


#: The stored keys a claim sets, in the order :func:`claim_args` gives their values.
CLAIM_KEYS = tuple(key for key, _ in claim_changes(datetime.fromtimestamp(0, UTC), timedelta(0), "").stored())


def claim_sql(table: str) -> str:
    """The claim of a due job (``claim_changes``, attempts + 1); returns the claimed row."""
    statuses = ", ".join(f"'{s.value}'" for s in CLAIMABLE)
    return (
        f'UPDATE "{table}" SET {", ".join(f"{key} = %s" for key in CLAIM_KEYS)},'
        f" attempts = COALESCE(attempts, 0) + 1, events = {APPEND} WHERE id = %s"
        f" AND status IN ({statuses}) AND available_at <= %s"
        f" RETURNING {SELECT}"
    )


def claim_args(changes: Changes, event_args: tuple[Any, ...], id: str, now: datetime) -> tuple[Any, ...]:
    """The parameters of :func:`claim_sql`."""
    return (*(encode(key, value) for key, value in changes.stored()), *event_args, id, now)


def guarded(
    table: str, id: str, guard: Guard, changes: Changes, *, event_args: tuple[Any, ...] | None
) -> tuple[str, list[Any]]:
    """The statement and arguments of a guarded update (see :meth:`Store.update`)."""
    stored = list(changes.stored())
    assignments = [f"{key} = %s::jsonb" if key in ("data", "result") else f"{key} = %s" for key, _ in stored]
    args: list[Any] = [encode(key, value) for key, value in stored]
    if event_args is not None:
        assignments.append(f"events = {APPEND}")
        args.extend(event_args)
    if changes.lock is True:
        assignments.append("locked = (label <> '')")
    elif changes.lock is False:
        assignments.append("locked = false")
    if not assignments:
        assignments.append("id = id")
    where = ["id = %s"]
    args.append(id)
    guards = []
    if guard.statuses is not None:
        guards.append("status = ANY(%s)")
        args.append([s.value for s in guard.statuses])
    if guard.stalled_at is not None:  # status:stalled at that time (queuecore.status)
        guards.append(STALLED_SQL)
        args.append(guard.stalled_at)
    if guards:
        where.append(f"({' OR '.join(guards)})")
    if guard.attempts is not None:
        where.append("attempts = %s")
        args.append(guard.attempts)
    return f'UPDATE "{table}" SET {", ".join(assignments)} WHERE {" AND ".join(where)}', args


def is_lock_conflict(exc: BaseException, table: str) -> bool:
    """Whether ``exc`` is a clash on the table's label lock."""
    return (
        isinstance(exc, psycopg.errors.UniqueViolation)
        and getattr(exc.diag, "constraint_name", None) == f"{table}_lock"
    )


async def lock_checked(cur: psycopg.AsyncCursor[Any], table: str, sql: str, args: Sequence[Any]) -> None:
    """Run a guarded update; a clash on the name+label lock is a :class:`LockConflict`."""
    try:
        await cur.execute(sql, args)
    except psycopg.errors.UniqueViolation as exc:
        if is_lock_conflict(exc, table):
            raise LockConflict(str(exc)) from None
        raise
