"""PostgreSQL goes away for 5 s and comes back: nothing is lost.

A server of the test's own is stopped (fast shutdown: every session is ended), kept down 5 s
and started again on the same port with the same data, while a :class:`~queuecore.Queue` works
jobs and the dashboard's :class:`~jobtui.live.LiveModel` watches. The watchers reconnect with
backoff (``store.mode`` says ``reconnecting`` meanwhile, ``listen/notify`` after) and go on
from their position in the change table: every transition of every job is delivered, none
twice, without a reload. A write issued while the server is down raises ConnectError ("cannot
reach PostgreSQL at …"); a worker whose handler ended meanwhile retries writing the outcome,
so its job is completed once and its handler never runs again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from support.outage import (
    DEADLINE_S,
    OUTAGE_S,
    Watching,
    Worked,
    assert_model_equals_database,
    enqueue,
    enqueue_retrying,
    finished,
    sample_modes,
    until,
)
from support.waits import wait_all

import queuecore
from queuecore import ConnectError, Status
from queuecore.store.base import MODE_RECONNECTING
from queuecore.store.postgres import MODE_LISTEN_NOTIFY

from .server import Server, start_server


@pytest.fixture
def pg() -> Iterator[Server]:
    """A server of this test's own, which the test stops and restarts."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def stores(pg: Server) -> AsyncIterator[Callable[..., Any]]:
    opened: list[queuecore.Store] = []

    async def open_store(timeout: float = 5.0) -> queuecore.Store:
        store = await queuecore.connect(pg.uri, collection="jobs", timeout=timeout)
        store.poll_interval = 0.2  # type: ignore[attr-defined]
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


async def test_postgres_down_for_5s_queue_and_dashboard_reconnect_and_lose_nothing(
    pg: Server, stores
) -> None:
    worker_store = await stores()
    viewer = await stores()
    writer = await stores(timeout=2.0)
    worked = Worked(worker_store)
    watching = Watching(viewer)
    await watching.start()
    loop = asyncio.get_running_loop()
    async with worked.queue:
        before = [(await enqueue(writer, n=i)).id for i in range(10)]
        await watching.shows(lambda: all(watching.status(i) is Status.COMPLETED for i in before), "before")
        held = await enqueue(writer, hold=True, n="held")
        async with asyncio.timeout(DEADLINE_S):
            await worked.holding.wait()
        await watching.shows(lambda: watching.status(held.id) is Status.DEQUEUED, "the held job running")

        with sample_modes(worker_store, viewer) as modes:
            began = loop.time()
            await asyncio.to_thread(pg.stop, remove=False)
            worked.release.set()  # the held job ends while the server is down: its outcome must wait
            with pytest.raises(ConnectError) as refused:
                await queuecore.enqueue(writer, queuecore.Blueprint("work", data={"n": "refused"}))
            message = str(refused.value)
            assert message.startswith(f"cannot reach PostgreSQL at {pg.uri}: "), message
            assert "\n" not in message
            await until(
                lambda: worker_store.mode == viewer.mode == MODE_RECONNECTING,
                "the queue's and the dashboard's stores report reconnecting",
            )
            await asyncio.sleep(max(0.0, OUTAGE_S - (loop.time() - began)))
            await asyncio.to_thread(pg.start)
            waited = await enqueue_retrying(writer, {"n": "waited"}, [])
            await until(
                lambda: worker_store.mode == viewer.mode == MODE_LISTEN_NOTIFY,
                "both stores listen again",
            )
        assert all(m >= {MODE_LISTEN_NOTIFY, MODE_RECONNECTING} for m in modes), modes

        ids = [*before, held.id, waited.id]
        done = await wait_all(writer, ids, finished, timeout=DEADLINE_S)
        assert all(j.status is Status.COMPLETED and j.attempts == 1 for j in done), done
        assert worked.runs == Counter(dict.fromkeys(ids, 1))  # every handler ran exactly once
        await assert_model_equals_database(watching, writer, ids)
        await watching.recorded_all(ids)
    await watching.stop()
    # the feed delivered every transition of every job, resumed from its position
    for id in ids:
        assert watching.transitions(id) == ["insert", "update", "update", "completed"], (id, watching.changes)
