"""MongoDB goes away for 5 s and comes back: nothing is lost (issue 6).

The test's own nx-27017 server is stopped, kept down for at least 5 s and started again on
the same port with the same data file, while a :class:`~queuecore.Queue` works jobs and the
dashboard's :class:`~jobtui.live.LiveModel` watches. The queue's feed and the dashboard's
watcher reopen their change streams with the last resume token (and reload on the ``reset``
that follows every reconnect), so no transition is missed.

What a user gets from a write issued during the outage (asserted below):

- ``queuecore.enqueue`` raises :class:`queuecore.ConnectError` ("cannot reach MongoDB at …",
  password masked, no driver topology dump): at once when the connection it had pooled broke
  with the server, else after waiting for the server for the store's connect timeout
  (``connect(uri, timeout=…)``, the client's server-selection timeout, default 5 s). Nothing
  was enqueued; the caller retries. A call (or retry) made once the driver knows the server is
  gone waits, and succeeds as if nothing happened if the server is back within the timeout.
  (Against a replica set the driver's retryable writes also retry the broken-connection case.)
- A worker whose handler finished during the outage retries writing the outcome (for up to
  the task's timeout), so the job is completed once and its handler does not run again.

``store.mode`` shows ``reconnecting`` once the driver gives up on the server (after its
server-selection timeout), and returns to ``change-stream`` after the restart. The outage
below lasts until both watchers were seen reconnecting, and at least 5 s.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
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
from queuecore import Blueprint, Change, ConnectError, Status
from queuecore.store.base import MODE_CHANGE_STREAM, MODE_RECONNECTING

from .support import spy_reopenings


@pytest.fixture
def nx(tmp_path: Path) -> Iterator[Any]:
    """An nx-27017 server of this test's own, which the test may stop and restart."""
    if os.environ.get("QUEUECORE_TEST_MONGO_URI"):
        pytest.skip("stops and restarts its own nx-27017 server; QUEUECORE_TEST_MONGO_URI is set")
    from support.mongo_server import start_server

    server = start_server(tmp_path / "nx")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def stores(nx: Any) -> AsyncIterator[Callable[..., Any]]:
    """Open stores on the test server's ``jobs`` collection; all closed at the end."""
    opened: list[queuecore.Store] = []

    async def open_store(timeout: float = 5.0) -> queuecore.Store:
        store = await queuecore.connect(nx.uri, collection="jobs", timeout=timeout)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


async def test_mongodb_down_for_5s_queue_and_dashboard_reconnect_and_lose_nothing(
    nx, stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    reopened = spy_reopenings(monkeypatch)
    worker_store = await stores()
    viewer = await stores()
    patient = await stores(timeout=DEADLINE_S)  # its writes wait out the outage
    impatient = await stores(timeout=1.0)  # its writes give up after 1 s
    worked = Worked(worker_store)
    watching = Watching(viewer)
    await watching.start()
    loop = asyncio.get_running_loop()
    async with worked.queue:
        before = [(await enqueue(patient, n=i)).id for i in range(10)]
        await watching.shows(lambda: all(watching.status(i) is Status.COMPLETED for i in before), "before")
        held = await enqueue(patient, hold=True, n="held")
        async with asyncio.timeout(DEADLINE_S):
            await worked.holding.wait()
        await watching.shows(lambda: watching.status(held.id) is Status.DEQUEUED, "the held job running")
        due = await queuecore.enqueue(patient, Blueprint("work", data={"n": "due"}, delay=2))
        assert due is not None

        with sample_modes(worker_store, viewer) as modes:
            began = loop.time()
            await asyncio.to_thread(nx.stop)
            worked.release.set()  # the held job ends while the server is down: its outcome must wait
            broken: list[ConnectError] = []
            waiting = asyncio.create_task(enqueue_retrying(patient, {"n": "waited"}, broken))
            refused_blueprint = Blueprint("work", data={"n": "retried"})
            for _ in range(2):  # the pooled connection is broken; then no server within 1 s
                with pytest.raises(ConnectError) as refused:
                    await queuecore.enqueue(impatient, refused_blueprint)
                message = str(refused.value)
                assert message.startswith(f"cannot reach MongoDB at {nx.uri}: "), message
                assert "Topology Description" not in message and "\n" not in message
            await until(
                lambda: worker_store.mode == viewer.mode == MODE_RECONNECTING,
                "the queue's and the dashboard's stores report reconnecting",
            )
            assert not waiting.done()  # still waiting for the server
            await asyncio.sleep(max(0.0, OUTAGE_S - (loop.time() - began)))  # the outage lasts 5 s
            await asyncio.to_thread(nx.start)

            retried = await queuecore.enqueue(impatient, refused_blueprint)  # the caller's retry
            assert retried is not None
            async with asyncio.timeout(DEADLINE_S):
                waited = await waiting
            assert len(broken) <= 1  # at most the broken connection; then it waited for the server
            await until(
                lambda: worker_store.mode == viewer.mode == MODE_CHANGE_STREAM,
                "both stores are back on their change streams",
            )
        assert all(m >= {MODE_CHANGE_STREAM, MODE_RECONNECTING} for m in modes), modes

        ids = [*before, held.id, due.id, waited.id, retried.id]
        done = await wait_all(patient, ids, finished, timeout=DEADLINE_S)
        assert all(j.status is Status.COMPLETED and j.attempts == 1 for j in done), done
        assert worked.runs == Counter(dict.fromkeys(ids, 1))  # every handler ran exactly once
        assert (await patient.get(held.id)).result == {"n": "held"}  # type: ignore[union-attr]
        await assert_model_equals_database(watching, patient, ids)
        await watching.recorded_all(ids)
    await watching.stop()

    # the raw feed delivered an event for every transition of every job: resumed, not just reloaded
    for id in ids:
        assert watching.transitions(id) == ["insert", "update", "update", "completed"], (id, watching.changes)
    assert sum(c.kind == "reset" for c in watching.changes) >= 2  # the first, and one after reconnecting
    # a reload right after the restart may hit a connection the driver had pooled before the outage:
    # the dashboard restarts the run (as JobTUI does), at most once or twice
    assert len(watching.interruptions) <= 2, watching.interruptions
    # bounded reconnects: one watch (queue) and two (model + recorder), each reopened a few times at
    # most (a stream whose driver got the server back within its own retry is not reopened at all)
    assert 1 <= reopened.on(worker_store) <= 3, reopened.on(worker_store)
    assert 1 <= reopened.on(viewer) <= 6, reopened.on(viewer)


async def test_change_stream_resumes_across_a_restart_or_resets(
    nx, stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes made while the watcher was away are delivered after the restart, or a reset is."""
    reopened = spy_reopenings(monkeypatch)
    watcher = await stores()
    writer = await stores(timeout=DEADLINE_S)
    feed = watcher.watch()
    seen: list[Change] = []
    try:
        async with asyncio.timeout(DEADLINE_S):
            assert (await anext(feed)).kind == "reset"
            first = await enqueue(writer, n=1)
            assert (await anext(feed)).id == first.id
            await asyncio.to_thread(nx.restart)  # same port, same data file
            # written while the watcher is not reading: its stream cannot have reopened yet
            second = await enqueue_retrying(writer, {"n": 2}, [])
            third = await enqueue_retrying(writer, {"n": 3}, [])
            while (change := await anext(feed)).id != third.id:
                seen.append(change)
    finally:
        await feed.aclose()
    assert change.kind == "insert"
    delivered = [(c.kind, c.id) for c in seen if c.kind != "reset"]
    # the contract: a missed write is delivered, or a reset tells the consumer to reload
    assert ("insert", second.id) in delivered or any(c.kind == "reset" for c in seen), seen
    # nx-27017 keeps its change log in the data file, so the stream resumed from its token: the
    # driver did it (the stale getMore gets CursorNotFound), or the engine reopened it (a reset first)
    assert delivered == [("insert", second.id)], seen
    assert reopened.on(watcher) <= 1
