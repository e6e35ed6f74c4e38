"""The embedded SQLite engine: zero set-up, safe for several processes on one machine.

- WAL journal and a busy timeout, so readers never block the writer and
  concurrent writers wait instead of failing.
- Every transition is one ``UPDATE … WHERE <guard> RETURNING *`` statement:
  atomic across processes without explicit locking.
- Labeled de-duplication: a ``lock`` column with a UNIQUE index, set only while
  a labeled job is active (NULLs never collide).
- The change feed: triggers write every insert/update/delete into
  ``<table>_changes``; ``watch()`` tails it by sequence number, so it sees the
  writes of other processes too. Writes of this process wake watchers at once;
  other processes' writes are noticed within ``feed_interval`` (cheap
  ``PRAGMA data_version`` check).
- A guarded write (one indexed statement, tens of microseconds) runs on the event loop's
  own thread when the database is free: its connection has a busy timeout of zero, so it
  never waits for a lock, and it never checkpoints (the store's thread does). When the
  write lock is held elsewhere (another process, or the store's thread) the write goes
  to the store's thread instead and waits there (see ``executor.Inline``).
- Everything else — reads, scans, waits for a lock — runs off the event loop, on the
  store's thread and one thread per watcher. Calls made in one event-loop iteration reach
  the store's thread together, and the guarded writes among them share one transaction
  (group commit; see ``executor.SQLThread``). A watcher reads the changes of this process's
  writes on the event loop's thread too (a few rows by index).
- Rows are read back without pydantic validating every field when they are exactly
  what this engine writes (``codec.py``); anything else is validated, or salvaged as
  malformed.

The modules, one job each:

- ``store.py`` — :class:`SQLiteStore`, the ``Store`` methods; ``writes.py`` — the SQL of its
  inserts, claim and guarded updates; ``batch.py`` — ``enqueue_many`` all or nothing;
  ``counts.py`` — ``counts()``;
- ``codec.py`` — rows ↔ jobs (per-store caches; a column per field of
  :mod:`queuecore.fields`); ``rowcode.py`` — its fast row parser and insert encoder, written
  from that table at import; ``decode.py`` — rows another program wrote (text that is not
  UTF-8, odd audit rows);
- ``filter.py`` — a :class:`~queuecore.query.Query` compiled to SQL (``compile_query``);
- ``schema.py`` with ``schema.sql``/``indexes.sql`` — tables (the jobs table's columns from
  the field table, added to an older table on open), triggers, indexes, retention;
- ``executor.py`` — the store's thread, group commit, the event loop's inline writes;
- ``file.py`` — the database file: its identity, the WAL's size, a full disk;
- ``feed.py`` — the change feed and ``watch()``.

Constants are read where they are defined (``feed.FEED_KEEP``, ``file.WAL_LIMIT``…): the names
exported here are for reading only.
"""

from typing import Any

from ...errors import ConnectError
from ...uri import sqlite_path
from .feed import FEED_KEEP
from .file import BUSY_TIMEOUT_MS, WAL_LIMIT
from .store import SQLiteStore


async def open_store(uri: str, *, collection: str, timeout: float, create: bool, **_: Any) -> SQLiteStore:
    """The engine's opener for the registry: ``sqlite:///…`` or a plain path (``timeout`` is
    not used: a file does not keep one waiting)."""
    try:
        store = SQLiteStore(sqlite_path(uri), collection, create=create)
    except ValueError as exc:
        raise ConnectError(str(exc)) from None
    await store.open()
    return store


__all__ = ["BUSY_TIMEOUT_MS", "FEED_KEEP", "WAL_LIMIT", "SQLiteStore", "open_store"]
