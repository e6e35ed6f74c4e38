"""The PostgreSQL engine: jobs in a table of a PostgreSQL server (14 or later).

- The driver is psycopg 3, asyncio API, with its connection pool (``psycopg_pool``); see
  :mod:`.connect`. Connections are autocommit: each transition is one statement.
- Every transition is one ``UPDATE … WHERE <guard> RETURNING …``; the label's lock is a
  partial unique index over active labeled jobs; the period rule is checked inside the
  insert (after an advisory lock finishing updates take too); ``enqueue_many`` is one
  transaction (:mod:`.writes`, :mod:`.batch`).
- Live changes: statement triggers write a change table and ``NOTIFY``; watchers ``LISTEN``
  and read the table, so a reconnect or a missed notification loses nothing (:mod:`.feed`);
  ``store.mode`` is ``listen/notify``.
- The filter language as SQL with bound parameters (:mod:`.filter`), regular expressions
  translated from RE2 (:mod:`.regex`), filtered reads under ``statement_timeout``.
- The schema is created on open and migrated by version (:mod:`.schema`, ``schema.sql``).

The modules, one job each: ``store.py`` (:class:`PostgresStore`), ``connect.py``,
``schema.py``, ``codec.py`` (rows ↔ jobs), ``text.py`` (NUL in text), ``writes.py``,
``batch.py``, ``counts.py``, ``filter.py``, ``regex.py``, ``order.py``, ``feed.py``.
Selected by ``postgresql://`` and ``postgres://`` URIs (:mod:`queuecore.store.registry`).
"""

from __future__ import annotations

from typing import Any

from ...errors import ConnectError
from ...uri import mask
from .connect import connection, open_pool, reachable
from .feed import MODE_LISTEN_NOTIFY
from .store import PostgresStore


async def open_store(uri: str, *, collection: str, timeout: float, create: bool, **_: Any) -> PostgresStore:
    """The engine's opener for the registry: ``postgresql://user@host:port/database``."""
    shown = mask(uri)
    try:
        from .schema import check_name

        check_name(collection)
    except ValueError as exc:
        raise ConnectError(str(exc)) from None
    pool = await open_pool(uri, timeout)
    try:
        with reachable(shown):
            async with connection(pool) as conn:
                cur = await conn.execute("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'")
                row = await cur.fetchone()
        store = PostgresStore(pool, uri, shown, collection, timeout=timeout, icu=bool(row and row[0]))
        await store.open(create)
    except BaseException:
        await pool.close()
        raise
    return store


__all__ = ["MODE_LISTEN_NOTIFY", "PostgresStore", "open_store"]
