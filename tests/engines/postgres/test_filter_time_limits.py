"""Filtered reads on PostgreSQL stop at ``store.query_timeout`` (the server's
``statement_timeout``): ``QueryTimeout``, and the store goes on; a read whose task is cancelled
(a dashboard's replaced filter) is stopped on the server too."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

import queuecore
from queuecore import Blueprint, QueryTimeout, parse

SLOW = "reason:~(x|xx|xxx)+y"  # no match in a long run of x: a long scan for the server's engine


async def fill(store: queuecore.Store, rows: int = 100_000, width: int = 200) -> None:
    """Many rows written by the server itself (fast), each with a reason the filter scans."""
    async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
        await conn.execute(
            f'INSERT INTO "{store.collection}" (id, name, status, created_at, available_at, reason)'
            " SELECT lpad(to_hex(n), 24, '0'), 'bulk', 'completed', now(), now(), repeat('x', %s)"
            " FROM generate_series(1, %s) n",
            [width, rows],
        )


async def test_a_filter_over_the_limit_is_stopped_and_the_store_goes_on(store: queuecore.Store) -> None:
    await fill(store)
    store.query_timeout = 0.05
    with pytest.raises(QueryTimeout, match=r"filter took longer than 0\.05 s"):
        await store.find(query=parse(SLOW))
    with pytest.raises(QueryTimeout):
        await store.count(parse(SLOW))
    job = await queuecore.enqueue(store, Blueprint("after"))  # writes and unfiltered reads go on
    assert job is not None and (await store.get(job.id)) is not None
    assert (await store.counts())["completed"] == 100_000


async def test_a_cancelled_read_is_stopped_on_the_server(store: queuecore.Store) -> None:
    await fill(store, 200_000, 1000)  # the read takes about a second here
    store.query_timeout = None
    read = asyncio.create_task(store.find(query=parse(SLOW)))
    await asyncio.sleep(0.2)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
            [f'%FROM "{store.collection}" WHERE%'],
        )
        assert (await cur.fetchone()) == (0,)
