"""MongoDB change streams that fail: no replica set (40573), lost history (286),
``invalidate``, connection errors and streams the server ends without an event. The server's
answers are simulated around a real collection; the tests count how often the stream is
reopened (no retry storm)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect, OperationFailure

import queuecore
from queuecore.store.base import MODE_CHANGE_STREAM, MODE_POLLING, MODE_RECONNECTING
from queuecore.store.mongo import MongoStore

from .support import spy_reopenings


class Scripted:
    """Wraps a collection; ``watch`` follows a script of outcomes, then the real thing."""

    def __init__(self, coll: Any, script: list[Any]) -> None:
        self._coll = coll
        self.script = script
        self.calls: list[dict[str, Any]] = []
        self.times: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coll, name)

    def with_options(self, **kw: Any) -> Scripted:
        """A view with other options (the store reads raw documents) that follows the same script."""
        view = Scripted(self._coll.with_options(**kw), self.script)
        view.calls, view.times = self.calls, self.times
        return view

    async def watch(self, **kw: Any) -> Any:
        self.calls.append(kw)
        self.times.append(time.monotonic())
        step = self.script.pop(0) if self.script else "real"
        if step == "real":
            return await self._coll.watch(**kw)
        if isinstance(step, BaseException):
            raise step
        return FakeStream(step)


class FakeStream:
    """A change stream that yields scripted events, then raises (or ends)."""

    def __init__(self, events: list[Any]) -> None:
        self.events = list(events)
        self.resume_token = {"_data": "token-1"}

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        await asyncio.sleep(0)
        if not self.events:
            await asyncio.sleep(3600)
        event = self.events.pop(0)
        if isinstance(event, BaseException):
            raise event
        return event


@pytest.fixture
async def mongo(mongo_uri: str):
    store = await queuecore.connect(mongo_uri, collection=f"watch_{time.monotonic_ns()}")
    assert isinstance(store, MongoStore)
    real = store.coll
    try:
        yield store
    finally:
        store.coll = real
        await real.drop()
        await store.close()


async def take(feed, n: int, timeout: float = 10) -> list[queuecore.Change]:
    out = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out.append(await anext(feed))
    return out


async def test_no_change_streams_switches_to_polling_for_good(mongo: MongoStore) -> None:
    no_rs = OperationFailure("$changeStream stage is only supported on replica sets", code=40573)
    scripted = Scripted(mongo.coll, [no_rs])
    mongo.coll = scripted  # type: ignore[assignment]
    mongo.poll_interval = 0.05
    feed = mongo.watch()
    try:
        changes = await take(feed, 4)
    finally:
        await feed.aclose()
    assert [c.kind for c in changes] == ["reset"] * 4  # every tick: reload
    assert mongo.mode == MODE_POLLING
    assert len(scripted.calls) == 1  # never tried again this session


async def test_history_lost_drops_the_token_and_reloads(mongo: MongoStore) -> None:
    lost = OperationFailure("resume point may no longer be in the oplog", code=286)
    scripted = Scripted(mongo.coll, [[lost], "real"])
    mongo.coll = scripted  # type: ignore[assignment]
    feed = mongo.watch()
    try:
        first, second = await take(feed, 2)
        assert first.kind == "reset" and second.kind == "reset"
        job = await queuecore.enqueue(mongo, queuecore.Blueprint("after"))
        assert job is not None
        third = await take(feed, 1)
    finally:
        await feed.aclose()
    assert third[0].kind == "insert" and third[0].id == job.id
    assert len(scripted.calls) == 2
    assert scripted.calls[1].get("resume_after") is None
    assert mongo.mode == MODE_CHANGE_STREAM


async def test_invalidate_reopens_the_stream(mongo: MongoStore) -> None:
    scripted = Scripted(mongo.coll, [[{"operationType": "invalidate"}], "real"])
    mongo.coll = scripted  # type: ignore[assignment]
    feed = mongo.watch()
    try:
        changes = await take(feed, 2)
    finally:
        await feed.aclose()
    assert [c.kind for c in changes] == ["reset", "reset"]
    assert len(scripted.calls) == 2 and scripted.calls[1].get("resume_after") is None


async def test_connection_errors_back_off_without_a_storm(
    mongo: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reopenings = spy_reopenings(monkeypatch)
    down = [AutoReconnect("connection refused") for _ in range(5)]
    scripted = Scripted(mongo.coll, [*down, "real"])
    mongo.coll = scripted  # type: ignore[assignment]
    feed = mongo.watch()
    modes = []

    async def observe() -> None:
        while True:
            modes.append(mongo.mode)
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(observe())
    try:
        [change] = await take(feed, 1, timeout=30)
    finally:
        watcher.cancel()
        await feed.aclose()
    assert change.kind == "reset"
    assert len(scripted.calls) == 6 and reopenings.on(mongo) == len(reopenings) == 5
    assert MODE_RECONNECTING in modes and mongo.mode == MODE_CHANGE_STREAM
    gaps = [b - a for a, b in zip(scripted.times, scripted.times[1:], strict=False)]
    # exponential: each wait at least half the nominal 0.1 s · 2^n (jitter is 0.5–1×)
    for n, gap in enumerate(gaps[:5]):
        assert gap >= 0.05 * 2**n * 0.9, gaps


async def test_resume_after_a_dropped_stream_uses_the_token(mongo: MongoStore) -> None:
    scripted = Scripted(mongo.coll, [[AutoReconnect("reset by peer")], "real"])
    mongo.coll = scripted  # type: ignore[assignment]
    feed = mongo.watch()
    try:
        await take(feed, 2)
    finally:
        await feed.aclose()
    # the token is kept across a transient error; the consumer still reloads (reset)
    assert scripted.calls[1].get("resume_after") == {"_data": "token-1"}


class Unreachable:
    """A collection whose server cannot be reached: every command fails as the driver does
    (cursors when they are read)."""

    def __getattr__(self, name: str) -> Any:
        if name == "find":
            return lambda *args, **kwargs: UnreachableCursor()
        if name == "with_options":  # a view of it (the store reads raw documents) is unreachable too
            return lambda *args, **kwargs: self

        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise AutoReconnect("connection refused")

        return fail


class UnreachableCursor:
    async def close(self) -> None:  # as PyMongo's: a coroutine
        return None

    def __getattr__(self, name: str) -> Any:
        if name in ("to_list", "next"):

            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise AutoReconnect("connection refused")

            return fail
        return lambda *args, **kwargs: self  # sort, skip, limit …

    def __aiter__(self) -> UnreachableCursor:
        return self

    async def __anext__(self) -> Any:
        raise AutoReconnect("connection refused")


async def test_reads_and_claims_on_an_unreachable_server_raise_connect_error(mongo: MongoStore) -> None:
    """Every store call — reads and claims too, not only writes — turns "no server" into
    ConnectError naming the server (what workers, the CLI and the dashboard handle)."""
    job = await queuecore.enqueue(mongo, queuecore.Blueprint("x"))
    assert job is not None
    mongo.coll = Unreachable()  # type: ignore[assignment]
    calls = [
        lambda: mongo.get(job.id),
        lambda: mongo.find(),
        lambda: mongo.count(),
        lambda: mongo.counts(),
        lambda: mongo.claim(job.id, job.created, timedelta(seconds=5), "w"),
        lambda: mongo._finished_since("x", "", job.created),
        lambda: mongo.delete([job.id]),
        lambda: mongo.active(["x"]),
        lambda: mongo.oldest_waiting(),
    ]
    for call in calls:
        with pytest.raises(queuecore.ConnectError, match="cannot reach MongoDB at mongodb://"):
            await call()
    with pytest.raises(queuecore.ConnectError, match="cannot reach MongoDB at mongodb://"):
        await anext(mongo.active_pages(["x"]))


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
