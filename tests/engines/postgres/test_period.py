"""The period rule on PostgreSQL holds across transactions: a labeled job that finishes in
another transaction while a periodic blueprint of its name and label is being inserted never
lets the second one in (the insert waits for the finishing transaction, then sees it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg

import queuecore
from queuecore import Blueprint, Status


async def test_a_job_finishing_during_a_periodic_insert_keeps_the_second_one_out(
    store: queuecore.Store,
) -> None:
    first = await queuecore.enqueue(store, Blueprint("tick", label="hourly", period=3600))
    assert first is not None
    await queuecore.dequeue(store, first.id, 30)
    async with await psycopg.AsyncConnection.connect(store.conninfo) as other:  # type: ignore[attr-defined]
        # another process completes the job; its transaction is still open
        await other.execute(
            f'UPDATE "{store.collection}" SET status = %s, finished_at = now(), locked = false WHERE id = %s',
            [Status.COMPLETED.value, str(first.id)],
        )
        second = asyncio.create_task(queuecore.enqueue(store, Blueprint("tick", label="hourly", period=3600)))
        await asyncio.sleep(0.3)
        assert not second.done()  # it waits for the finishing transaction
        await other.commit()
        assert await asyncio.wait_for(second, 10) is None  # finished within the period: skipped
    assert [j.id for j in await store.find(name="tick")] == [first.id]
    # after the period a new one goes in
    later = await queuecore.enqueue(store, Blueprint("tick", label="hourly", period=timedelta(0)))
    assert later is not None
