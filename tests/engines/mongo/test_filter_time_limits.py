"""MongoDB's filtered reads carry ``maxTimeMS``, and the server's ``ExecutionTimeout`` is a
QueryTimeout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import ExecutionTimeout
from support.targets import StoreTarget
from support.tui import enqueue

import queuecore
from queuecore import parse


@pytest.fixture
async def monitored(target: StoreTarget) -> AsyncIterator[tuple[queuecore.Store, list[Any]]]:
    """A MongoDB store whose client records every command it sends."""
    from queuecore.store.mongo import MongoStore

    class Recorder(monitoring.CommandListener):
        def __init__(self) -> None:
            self.commands: list[Any] = []

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            self.commands.append(event.command)

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    recorder = Recorder()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        target.uri, tz_aware=True, event_listeners=[recorder]
    )
    database = client.get_default_database(default="queuecore").name
    store = MongoStore(client, database, target.collection, target.uri)
    await store.open()
    try:
        yield store, recorder.commands
    finally:
        await store.coll.drop()
        await store.close()


async def test_mongodb_filtered_reads_carry_max_time_ms(monitored: tuple[queuecore.Store, list[Any]]) -> None:
    store, commands = monitored
    store.query_timeout = 2.5
    await enqueue(store, "send-mail")
    commands.clear()
    assert len(await store.find(query=parse("name:~^SEND"))) == 1
    assert await store.count(parse("name:~^send")) == 1
    assert await store.count(parse("name:~^send"), cap=10) == 1
    finds = [c for c in commands if "find" in c]
    counts = [c for c in commands if "aggregate" in c]
    assert len(finds) == 1 and len(counts) == 2
    assert finds[0]["maxTimeMS"] == 2500 and all(c["maxTimeMS"] == 2500 for c in counts)
    assert finds[0]["filter"] == {"name": {"$regex": "^SEND", "$options": "i"}}  # sent as typed
    # unfiltered reads are not limited (nothing to stop: an index walk or a plain page)
    commands.clear()
    await store.find(limit=5)
    assert [c for c in commands if "find" in c and "maxTimeMS" in c] == []


async def test_mongodb_execution_timeout_is_query_timeout(
    store: queuecore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nx-27017 accepts maxTimeMS but never enforces it (neosqlite ignores it): the server's
    # answer over the limit (ExecutionTimeout, code 50) is played by the driver here
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.cursor import AsyncCursor

    store.query_timeout = 2.5
    job = await enqueue(store, "send-mail")

    async def over_the_limit(*args: Any, **kwargs: Any) -> Any:
        raise ExecutionTimeout("operation exceeded time limit", 50, {"ok": 0, "code": 50})

    with monkeypatch.context() as patch:
        patch.setattr(AsyncCursor, "to_list", over_the_limit)
        patch.setattr(AsyncCollection, "count_documents", over_the_limit)
        with pytest.raises(queuecore.QueryTimeout, match=r"^filter took longer than 2\.5 s$"):
            await store.find(query=parse("name:~^send"))
        with pytest.raises(queuecore.QueryTimeout, match=r"2\.5 s"):
            await store.count(parse("name:~^send"))
    assert (await store.get(job.id)) is not None  # the store goes on
    assert len(await store.find(query=parse("name:~^send"))) == 1
