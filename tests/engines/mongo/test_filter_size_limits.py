"""A MongoDB read past the time limit (a server that never answers, a read the driver
interrupts) is a QueryTimeout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import _OperationCancelled
from support.stall_proxy import stall_proxy
from support.targets import StoreTarget
from support.tui import enqueue

import queuecore
from queuecore import parse


@pytest.mark.timeout(60)
async def test_mongodb_a_filter_the_server_never_answers_is_query_timeout(target: StoreTarget) -> None:
    """The server keeps working on the filter (its reply never comes): the client gives the
    read up shortly after the limit with ``QueryTimeout``, and the store goes on."""
    with stall_proxy(target.uri, mode="command") as proxy:
        store = await queuecore.connect(proxy.uri, collection=target.collection)
        try:
            store.query_timeout = 0.2
            job = await enqueue(store, "send-mail")
            for read in (
                store.find(query=parse("name:~stall-here")),
                store.count(parse("label:~stall-here")),
            ):
                with pytest.raises(queuecore.QueryTimeout, match=r"^filter took longer than 0\.2 s$"):
                    await asyncio.wait_for(read, 30)  # before: waited for ever
            assert proxy.held.is_set()  # the server really got no chance to answer
            assert [j.id for j in await store.find(query=parse("name:send-mail"))] == [job.id]
        finally:
            await store.coll.drop()  # type: ignore[attr-defined]
            await store.close()


@pytest.mark.timeout(60)
async def test_mongodb_a_read_the_driver_interrupts_past_the_limit_is_query_timeout(
    target: StoreTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case of the review: a server too busy to answer anything, heartbeats included. The
    driver's monitor gives it up and interrupts the read ("operation cancelled", seconds after
    the limit): that is the filter taking too long, not an unreachable server."""
    from pymongo.asynchronous.cursor import AsyncCursor

    import queuecore.store.mongo.limits as limits

    async def lost(*args: Any, **kwargs: Any) -> Any:
        raise _OperationCancelled("operation cancelled")

    monkeypatch.setattr(limits, "CLIENT_GRACE", 120.0)  # let the driver's own interrupt come first
    with stall_proxy(target.uri, mode="server") as proxy:
        # a heartbeat every 0.5 s, given up after 0.5 s: the interrupt comes in seconds, not 11
        uri = f"{proxy.uri}&heartbeatFrequencyMS=500&connectTimeoutMS=500"
        store = await queuecore.connect(uri, collection=target.collection)
        try:
            store.query_timeout = 0.2
            await enqueue(store, "send-mail")
            with pytest.raises(queuecore.QueryTimeout, match=r"^filter took longer than 0\.2 s$") as caught:
                await asyncio.wait_for(store.find(query=parse("name:~stall-here")), 50)
            assert isinstance(caught.value.__context__, _OperationCancelled)  # the driver's interrupt
            proxy.release()
            # a connection lost within the limit is what it is: the server cannot be reached
            store.query_timeout = 30
            with monkeypatch.context() as patch:
                patch.setattr(AsyncCursor, "to_list", lost)
                with pytest.raises(queuecore.ConnectError, match="cannot reach MongoDB"):
                    await store.find(query=parse("name:~^send"))
        finally:
            proxy.release()
            await store.coll.drop()  # type: ignore[attr-defined]
            await store.close()
