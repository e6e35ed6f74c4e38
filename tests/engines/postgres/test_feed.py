"""The PostgreSQL change feed: a transaction that commits after a later one is not passed over,
a watcher whose history was trimmed resets, and a notification is only a wake-up (a watcher
that missed one still reads the change)."""

from __future__ import annotations

import asyncio

import psycopg

import queuecore
from queuecore import Blueprint, Change
from queuecore.store.postgres import feed


async def next_change(it, kind: str | None = None, timeout: float = 10) -> Change:
    async with asyncio.timeout(timeout):
        while True:
            change = await anext(it)
            if kind is None or change.kind == kind:
                return change


async def test_a_change_committed_after_a_later_one_is_not_missed(store: queuecore.Store) -> None:
    first = await queuecore.enqueue(store, Blueprint("a"))
    second = await queuecore.enqueue(store, Blueprint("b"))
    assert first is not None and second is not None
    watch = store.watch()
    try:
        await next_change(watch, "reset")
        async with await psycopg.AsyncConnection.connect(store.conninfo) as slow:  # type: ignore[attr-defined]
            # takes the lower sequence number, and commits last
            await slow.execute(
                f'UPDATE "{store.collection}" SET note = %s WHERE id = %s', ["slow", str(first.id)]
            )
            await queuecore.cancel_job(store, second.id, "quick")
            quick = await next_change(watch, "update")
            assert quick.id == second.id
            await slow.commit()
        late = await next_change(watch, "update")
        assert late.id == first.id and late.job is not None and late.job.note == "slow"
    finally:
        await watch.aclose()


async def test_a_watcher_whose_history_was_trimmed_resets(store: queuecore.Store) -> None:
    watch = store.watch()
    try:
        await next_change(watch, "reset")  # the watcher waits here, before its first read
        job = await queuecore.enqueue(store, Blueprint("x"))
        assert job is not None
        await queuecore.dequeue(store, job.id, 30)
        async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
            await conn.execute(feed.trim_sql(store.collection), [0, f"{store.collection}.trimmed"])
        assert (await next_change(watch)).kind == "reset"  # the rows it had not read are gone
        await queuecore.complete(store, job.id)
        done = await next_change(watch, "update")  # and it goes on from the newest row
        assert done.id == job.id and done.job is not None and done.job.status == "completed"
    finally:
        await watch.aclose()


async def test_a_missed_notification_only_delays_a_change(store: queuecore.Store) -> None:
    store.poll_interval = 0.2  # type: ignore[attr-defined]
    watch = store.watch()
    try:
        await next_change(watch, "reset")
        async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
            # a write whose notification never comes (the trigger's NOTIFY, undone by hand)
            await conn.execute(f'ALTER TABLE "{store.collection}" DISABLE TRIGGER "{store.collection}_ins"')
            try:
                job = await queuecore.enqueue(store, Blueprint("quiet"))
                await conn.execute(
                    f'INSERT INTO "{store.collection}_changes" (id, op) VALUES (%s, %s)',
                    [str(job.id), "insert"],
                )
            finally:
                await conn.execute(
                    f'ALTER TABLE "{store.collection}" ENABLE TRIGGER "{store.collection}_ins"'
                )
        assert (await next_change(watch, "insert", timeout=3)).id == job.id
    finally:
        await watch.aclose()
