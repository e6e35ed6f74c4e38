"""The database goes away for 5 s and comes back: nothing is lost (issue 6).

MongoDB: the test's own nx-27017 server is stopped, kept down for at least 5 s and started
again on the same port with the same data file, while a :class:`~queuecore.Queue` works jobs
and the dashboard's :class:`~jobtui.live.LiveModel` watches. The queue's feed and the
dashboard's watcher reopen their change streams with the last resume token (and reload on
the ``reset`` that follows every reconnect), so no transition is missed.

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

SQLite has no server to lose; its outage is the file held under an exclusive transaction by
another process for 5 s. Writers wait (busy timeout 30 s), readers and the change feed go
on (WAL), and the feed continues from its sequence number: nothing fails, nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from bson import ObjectId
from engines.mongo.support import spy_reopenings
from support.waits import wait_all

import queuecore
from jobtui.live import LiveModel
from jobtui.view import Delta
from queuecore import Blueprint, Change, ConnectError, Context, Job, Queue, Status, Task
from queuecore.store.base import MODE_CHANGE_FEED, MODE_CHANGE_STREAM, MODE_RECONNECTING
from queuecore.store.changes import Changes, Guard

#: How long the database is unavailable.
OUTAGE_S = 5.0
#: The longest any wait in these tests may take.
DEADLINE_S = 60.0


def finished(job: Job) -> bool:
    return job.status in queuecore.FINISHED


async def until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    """Wait until ``condition()`` holds (for states with no event to await, like ``store.mode``)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():  # noqa: ASYNC110 - store.mode has no event to await
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:g}s: {what}") from None


class Worked:
    """A queue on ``store`` with one task that counts how often each job's handler ran.

    A job with ``{"hold": true}`` blocks in its handler until ``release`` is set.
    """

    def __init__(self, store: queuecore.Store) -> None:
        self.runs: Counter[ObjectId] = Counter()
        self.reports: list[BaseException] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.queue = Queue(store, reporter=self.reports.append)
        self.queue.add(Task("work", self.handle, timeout=60, lifetime=60))

    async def handle(self, ctx: Context) -> None:
        self.runs[ctx.job.id] += 1
        if ctx.job.data.get("hold"):
            self.holding.set()
            await self.release.wait()
        ctx.result["n"] = ctx.job.data.get("n")


class Watching:
    """The dashboard's live model following ``store`` as JobTUI runs it, and a raw feed recorder."""

    def __init__(self, store: queuecore.Store) -> None:
        self.store = store
        self.model = LiveModel(store, counts_interval=0, latency_interval=3600)
        self.changes: list[Change] = []
        #: Runs of the model that ended with an error (and were restarted).
        self.interruptions: list[BaseException] = []
        self.updated = asyncio.Event()
        self.recorded = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def on_delta(self, delta: Delta) -> None:
        self.updated.set()

    async def follow(self) -> None:
        """What ``JobTUI.watch_store`` does: a run that fails is restarted after a backoff.

        A restarted run begins with ``reset``, so the window is reloaded and nothing is missed.
        """
        while True:
            try:
                await self.model.run(self.on_delta)
            except Exception as exc:
                self.interruptions.append(exc)
                await asyncio.sleep(queuecore.backoff(0.5, 10, 2, len(self.interruptions)).total_seconds())

    async def record(self) -> None:
        async for change in self.store.watch():
            self.changes.append(change)
            self.recorded.set()

    async def recorded_all(self, ids: list[ObjectId], timeout: float = DEADLINE_S) -> None:
        """Wait until the raw recorder (a feed of its own, not the model's) has delivered the
        completion of every job in ``ids``."""

        def done() -> bool:
            last = {c.id: c.job for c in self.changes}
            return all(last.get(i) is not None and last[i].status is Status.COMPLETED for i in ids)  # type: ignore[union-attr]

        try:
            async with asyncio.timeout(timeout):
                while not done():
                    self.recorded.clear()
                    await self.recorded.wait()
        except TimeoutError:
            raise AssertionError(
                f"the raw feed did not deliver every completion within {timeout:g}s"
            ) from None

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self.follow()), asyncio.create_task(self.record())]
        await self.shows(lambda: self.model.loaded, "the model loaded its first snapshot")

    async def shows(self, condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
        """Wait, delta by delta, until the model satisfies ``condition``."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    for task in self.tasks:
                        if task.done():
                            task.result()  # a watcher that died: show why
                    self.updated.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            await self.updated.wait()
        except TimeoutError:
            raise AssertionError(f"the model did not show, within {timeout:g}s: {what}") from None

    def status(self, id: ObjectId) -> Status | str | None:
        job = self.model.get(id)
        return job.status if job is not None else None

    def transitions(self, id: ObjectId) -> list[str]:
        """The events the raw feed delivered for ``id``, and the status the last one carried.

        One event per write: each carries the job as it was when the feed read it (MongoDB's
        ``updateLookup``, SQLite's join), so a quick dequeue+complete may both show completed.
        """
        mine = [c for c in self.changes if c.id == id]
        last = mine[-1].job if mine else None
        return [c.kind for c in mine] + [str(last.status) if last is not None else "?"]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def enqueue(store: queuecore.Store, **data: Any) -> Job:
    job = await queuecore.enqueue(store, Blueprint("work", data=data))
    assert job is not None
    return job


async def enqueue_retrying(store: queuecore.Store, data: dict[str, Any], failures: list[ConnectError]) -> Job:
    """What a caller does with ConnectError: try again (at once: the store's timeout paces it)."""
    while True:
        try:
            return await enqueue(store, **data)
        except ConnectError as exc:
            failures.append(exc)
            if len(failures) > 3:
                raise


async def assert_model_equals_database(watching: Watching, db: queuecore.Store, ids: list[ObjectId]) -> None:
    """The watcher ends with exactly the database's state: every job, status and attempt."""
    await watching.shows(
        lambda: all(watching.status(i) is Status.COMPLETED for i in ids), "every job completed"
    )
    stored = {j.id: (j.status, j.attempts, j.result) for j in await db.find(limit=1000)}
    shown = {j.id: (j.status, j.attempts, j.result) for j in watching.model.ordered()}
    assert shown == stored
    counts = await db.counts()
    await watching.shows(lambda: watching.model.counts == counts, f"the counts {counts}")


@contextlib.contextmanager
def sample_modes(*stores: queuecore.Store) -> Iterator[list[set[str]]]:
    """Every ``mode`` each store showed while the block ran (sampled every 10 ms)."""
    seen: list[set[str]] = [set() for _ in stores]

    async def sample() -> None:
        while True:
            for store, modes in zip(stores, seen, strict=True):
                modes.add(store.mode)
            await asyncio.sleep(0.01)

    task = asyncio.get_running_loop().create_task(sample())
    try:
        yield seen
    finally:
        task.cancel()


# -- MongoDB: the server stops and restarts --------------------------------------------------


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


class EndingStreams:
    """Wraps a collection: every change stream it opens ends at once without an event (nx-27017's
    streams do after a restart; a misbehaving proxy might always do it)."""

    def __init__(self, coll: Any) -> None:
        self._coll = coll
        self.resumed_after: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coll, name)

    def with_options(self, **kw: Any) -> EndingStreams:
        """Its view with other options (the store reads raw documents) ends its streams too."""
        return self

    async def watch(self, **kw: Any) -> EndingStreams:
        self.resumed_after.append(kw.get("resume_after"))
        return self

    resume_token: ClassVar[dict[str, str]] = {"_data": "token-1"}

    async def __aenter__(self) -> EndingStreams:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> EndingStreams:
        return self

    async def __anext__(self) -> dict[str, Any]:
        raise StopAsyncIteration


async def test_a_stream_the_server_ends_is_reopened_from_its_token_with_backoff(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from queuecore.store.mongo import feed

    store = await queuecore.connect(mongo_uri, collection=f"ending_{ObjectId()}")
    waits: list[int] = []

    def no_wait(low: float, high: float, factor: float, failures: int) -> timedelta:
        waits.append(failures)
        return timedelta(0)

    monkeypatch.setattr(feed, "backoff", no_wait)
    reopened = spy_reopenings(monkeypatch)
    streams = EndingStreams(store.coll)  # type: ignore[attr-defined]
    store.coll = streams  # type: ignore[attr-defined]
    feed = store.watch()
    try:
        changes = [await anext(feed) for _ in range(4)]
    finally:
        await feed.aclose()
        await store.close()
    assert [c.kind for c in changes] == ["reset"] * 4  # each reopening tells the consumer to reload
    assert streams.resumed_after == [None, *[{"_data": "token-1"}] * 3]  # from the token
    assert waits == [0, 1, 2] and reopened.on(store) == 3  # growing backoff


# -- SQLite: another process holds the file under an exclusive transaction ---------------------

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
print("released", flush=True)
"""


async def test_sqlite_locked_for_5s_workers_and_watcher_wait_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    uri = f"sqlite:///{path}"
    worker_store = await queuecore.connect(uri)
    viewer = await queuecore.connect(uri)
    client = await queuecore.connect(uri)
    worked = Worked(worker_store)
    watching = Watching(viewer)
    locker: asyncio.subprocess.Process | None = None
    try:
        await watching.start()
        async with worked.queue:
            before = [(await enqueue(client, n=i)).id for i in range(10)]
            await watching.shows(
                lambda: all(watching.status(i) is Status.COMPLETED for i in before), "before"
            )
            held = await enqueue(client, hold=True, n="held")
            async with asyncio.timeout(DEADLINE_S):
                await worked.holding.wait()
            await watching.shows(lambda: watching.status(held.id) is Status.DEQUEUED, "the held job running")

            with sample_modes(worker_store, viewer) as modes:
                locker = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    LOCKER,
                    str(path),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                assert locker.stdin is not None and locker.stdout is not None
                async with asyncio.timeout(DEADLINE_S):
                    assert (await locker.stdout.readline()).strip() == b"locked"
                worked.release.set()  # the held job ends while the file is locked
                waiting = asyncio.create_task(enqueue(client, n="waited"))
                # readers are not blocked: the dashboard can reload while writers wait
                await watching.model.reload()
                assert watching.status(held.id) is Status.DEQUEUED
                await asyncio.sleep(OUTAGE_S)  # the lock is held for 5 s
                assert not waiting.done()  # the write waits for the lock instead of failing
                assert (await viewer.get(held.id)).status is Status.DEQUEUED  # type: ignore[union-attr]
                locker.stdin.write(b"release\n")
                await locker.stdin.drain()
                async with asyncio.timeout(DEADLINE_S):
                    assert (await locker.stdout.readline()).strip() == b"released"
                    waited = await waiting
            assert modes == [{MODE_CHANGE_FEED}, {MODE_CHANGE_FEED}]  # nothing to reconnect to

            ids = [*before, held.id, waited.id]
            done = await wait_all(client, ids, finished, timeout=DEADLINE_S)
            assert all(j.status is Status.COMPLETED and j.attempts == 1 for j in done), done
            assert worked.runs == Counter(dict.fromkeys(ids, 1))
            assert worked.reports == []  # nothing failed: everyone waited
            await assert_model_equals_database(watching, client, ids)
            await watching.recorded_all(ids)
        for id in ids:  # the feed continued from its position: an event per transition, no reset
            assert watching.transitions(id) == ["insert", "update", "update", "completed"], id
        assert [c.kind for c in watching.changes].count("reset") == 1
    finally:
        if locker is not None and locker.returncode is None:
            locker.kill()
            await locker.wait()
        await watching.stop()
        for store in (worker_store, viewer, client):
            await store.close()


# -- regression: an outcome that cannot be written is retried, the job does not run again ---------


async def test_outcome_written_after_the_database_is_back_not_run_twice(store: queuecore.Store) -> None:
    real_update = store.update_only  # what a worker finishing its attempt writes with
    refused = 0

    async def flaky_update(id: ObjectId, guard: Guard, changes: Changes) -> bool:
        nonlocal refused
        if changes.status == Status.COMPLETED and refused < 2:
            refused += 1
            raise ConnectError("cannot reach the database: test outage")
        return await real_update(id, guard, changes)

    store.update_only = flaky_update  # type: ignore[method-assign]
    worked = Worked(store)
    async with worked.queue:
        job = await enqueue(store, n=1)
        [done] = await wait_all(store, [job.id], finished)
    assert done.status is Status.COMPLETED and done.attempts == 1 and done.result == {"n": 1}
    assert refused == 2 and worked.runs == Counter({job.id: 1})
    assert [type(r) for r in worked.reports] == [ConnectError]  # the first failure, not every retry
