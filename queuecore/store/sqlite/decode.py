"""Reading rows another program wrote into a SQLite store, without ever raising.

Python's ``sqlite3`` decodes every TEXT value as strict UTF-8 while it fetches a row: a
single value that is not UTF-8 (any program may write one, ``CAST(x'ff' AS TEXT)``) makes
the whole ``fetchall`` raise, and with it every listing, board load and change feed that
reads that row. Decoding every value leniently costs about a third more per row on the hot
path, so the connections keep the fast strict decoding, and only a read that meets such a
value is read again with :func:`lenient_text` (which marks the value, see :class:`NotUTF8`,
so the job comes back malformed rather than silently altered).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..._time import from_ms
from ...audit import AuditEntry
from ...job import too_deep

T = TypeVar("T")


class NotUTF8(str):
    """A TEXT value that is not valid UTF-8, decoded with U+FFFD for each bad byte; made
    only by :func:`lenient_text`, so a row holding one is known to be malformed."""

    __slots__ = ()


def lenient_text(raw: bytes) -> str:
    """A connection's ``text_factory`` that never fails: plain ``str`` for UTF-8 text, a
    :class:`NotUTF8` for anything else."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return NotUTF8(raw.decode("utf-8", "replace"))


def undecodable(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is sqlite3's failure to decode a TEXT value as UTF-8."""
    return isinstance(exc, sqlite3.OperationalError) and "Could not decode to UTF-8" in str(exc)


def tolerant(fn: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    """``fn`` (a read) that, when a value it fetches is not UTF-8, runs once more with
    :func:`lenient_text` as the connection's text factory (set back afterwards)."""

    def run(conn: sqlite3.Connection) -> T:
        try:
            return fn(conn)
        except sqlite3.OperationalError as exc:
            if not undecodable(exc) or conn.text_factory is lenient_text:
                raise
        return leniently(conn, fn)

    return run


def leniently(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn(conn)`` with :func:`lenient_text` as the connection's text factory."""
    before = conn.text_factory
    conn.text_factory = lenient_text
    try:
        return fn(conn)
    finally:
        conn.text_factory = before


def returned_row(cursor: sqlite3.Cursor, select: str, args: Sequence[Any]) -> Any:
    """The row an ``UPDATE … RETURNING`` cursor returns. When a value of it is not UTF-8 the
    write itself is done (SQLite applies it at the first step): the statement is closed and
    the row is read again leniently with ``select``/``args`` in the same transaction."""
    try:
        return cursor.fetchone()
    except sqlite3.OperationalError as exc:
        if not undecodable(exc):
            raise
    conn = cursor.connection
    cursor.close()  # resets the statement, so the transaction can commit
    return leniently(conn, lambda c: c.execute(select, args).fetchone())


def fetch_rows(cursor: sqlite3.Cursor, size: int) -> list[Any]:
    """Up to ``size`` more rows of ``cursor`` (``fetchmany``), switching its connection to
    :func:`lenient_text` for good at the first value that is not UTF-8: a failed fetch keeps
    its place, so the row that failed is fetched again, and none before it is lost."""
    rows: list[Any] = []
    while len(rows) < size:
        try:
            row = cursor.fetchone()
        except sqlite3.OperationalError as exc:
            if not undecodable(exc) or cursor.connection.text_factory is lenient_text:
                raise
            cursor.connection.text_factory = lenient_text
            continue
        if row is None:
            break
        rows.append(row)
    return rows


def audit_entry(row: sqlite3.Row) -> AuditEntry:
    """An audit row as an entry; odd values (another program's) read as text or empty, an
    unreadable time as the epoch: never raises."""
    at = row["at"]
    try:
        when = from_ms(at) if isinstance(at, int | float) else from_ms(0)
    except (ValueError, OverflowError, OSError):
        when = from_ms(0)
    return AuditEntry(
        at=when,
        who=_text(row["who"]),
        source=_text(row["source"]),
        action=_text(row["action"]),
        ids=_json_list(row["ids"]),
        detail=_text(row["detail"]),
    )


def _text(value: Any) -> str:
    """A stored value as plain text (None as empty; bytes decoded, bad bytes as U+FFFD)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return []
    return [str(v) if not too_deep(v) else "?" for v in value] if isinstance(value, list) else []
