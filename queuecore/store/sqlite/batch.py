"""``enqueue_many`` on SQLite: every insert of one call in one transaction, all or nothing.

A producer killed midway, a full disk or any other failure leaves none of the batch (SQLite
rolls the savepoint back, or the transaction was never committed), so a caller may simply
retry the whole call. The cost: the write lock is held for the whole batch (other processes'
writes wait for it, up to the busy timeout), and the WAL grows by the batch before a
checkpoint can copy it back — split very large batches into calls of a few thousand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

#: ``(conn, sql, values) -> inserted``: False when the label's lock (or the period) skipped it.
InsertOne = Callable[[sqlite3.Connection, str, Sequence[Any]], bool]


def insert_all(
    statements: Sequence[tuple[str, Sequence[Any], bool]], insert_one: InsertOne
) -> Callable[[sqlite3.Connection], list[bool]]:
    """A write that runs ``statements`` (``(sql, values, checks_period)``) inside one
    savepoint and returns, in their order, whether each inserted a row.

    Those that check a period run after the others (as ``enqueue_many`` promises: a labeled
    blueprint with a period never takes a label from one without). Any exception undoes
    every insert of the call, also inside a transaction shared with other writes (group
    commit), which then goes on without them."""
    order = [i for i, s in enumerate(statements) if not s[2]] + [i for i, s in enumerate(statements) if s[2]]

    def run(conn: sqlite3.Connection) -> list[bool]:
        done = [False] * len(statements)
        conn.execute("SAVEPOINT insert_many")
        try:
            for i in order:
                sql, values, _ = statements[i]
                done[i] = insert_one(conn, sql, values)
        except BaseException:
            if conn.in_transaction:  # else SQLite rolled everything back already
                conn.execute("ROLLBACK TO insert_many")
                conn.execute("RELEASE insert_many")
            raise
        conn.execute("RELEASE insert_many")
        return done

    return run
