"""SQLite runs regular expressions in linear time, and stops a filter over the time limit, a
cancelled one and a replaced one, freeing the store."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from support.cli import in_store
from support.targets import StoreTarget
from support.tui import enqueue, started, table, wait_for
from test_filter_time_limits import EVIL_NAME, bar_text, many, type_filter

import queuecore
from jobtui.tui.app import JobTUI
from queuecore import parse


@pytest.mark.timeout(60)
async def test_sqlite_runs_a_backtracking_pattern_in_linear_time(store: queuecore.Store) -> None:
    # (MongoDB evaluates $regex itself, bounded by maxTimeMS below; nx-27017 would backtrack)
    evil = await enqueue(store, EVIL_NAME)
    plain = await enqueue(store, "aaaa")
    query = parse("name:~(a+)+$")
    assert [j.id for j in await store.find(query=query)] == [plain.id]
    assert await store.count(parse("!name:~(a+)+$")) == 1
    assert (await store.get(evil.id)) is not None


async def test_sqlite_filter_over_the_limit_is_stopped_and_the_store_goes_on(store: queuecore.Store) -> None:
    await many(store, 5000)
    query = parse("name:~^task-1.*9$")
    wanted = await store.count(query)
    store.query_timeout = 0.0001  # a scan of 5,000 rows through the regex takes milliseconds
    with pytest.raises(queuecore.QueryTimeout) as caught:
        await store.find(query=query, limit=10_000)
    assert str(caught.value) == "filter took longer than 0.0001 s"
    assert isinstance(caught.value, queuecore.QueueError)
    with pytest.raises(queuecore.QueryTimeout):
        await store.count(query)
    # the handler went with the read: unfiltered reads and writes are never limited
    assert len(await store.find(limit=10_000)) == 5000
    assert (await store.counts()).total == 5000
    job = await enqueue(store, "after")
    assert (await store.get(job.id)) is not None
    store.query_timeout = 5.0
    assert await store.count(query) == wanted


async def test_sqlite_a_cancelled_filter_stops_and_frees_the_store(store: queuecore.Store) -> None:
    await many(store, 400)
    calls, started_event = [0], threading.Event()

    def slow_regexp(pattern: str, value: str) -> int:  # 400 rows x 10 ms: 4 s if it runs to the end
        calls[0] += 1
        started_event.set()
        time.sleep(0.01)
        return 0

    await store._run(lambda c: c.create_function("regexp", 2, slow_regexp))  # type: ignore[attr-defined]
    store.query_timeout = 600.0
    read = asyncio.create_task(store.find(query=parse("name:~x")))
    await asyncio.to_thread(started_event.wait, 30)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    # the store's thread is free again: the next read does not queue behind the whole scan
    assert len(await store.find(limit=1000)) == 400
    assert calls[0] < 400


@pytest.mark.timeout(60)
def test_cli_a_backtracking_pattern_returns(cli: Any, target: StoreTarget) -> None:
    in_store(target, lambda s: enqueue(s, EVIL_NAME))
    result = cli("ls", "-q", "name:~(a+)+$")
    assert result.exit_code == 0, result.stderr
    assert "no jobs match" in result.stderr


async def test_sqlite_a_replaced_filter_stops_its_query(target: StoreTarget, store: queuecore.Store) -> None:
    # the real path: Textual cancels the replaced load, and the store stops its SQL (else the
    # newer filter's query would wait on the store's thread until the old scan ended)
    await many(store, 300)
    calls = [0]

    def slow_regexp(pattern: str, value: str) -> int:  # 300 rows x 50 ms: 15 s to the end
        calls[0] += 1
        time.sleep(0.05)  # 10 ms (3 s) was shorter than typing the next filter on a loaded machine
        return 0

    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot)
        assert app.store is not None
        await app.store._run(lambda c: c.create_function("regexp", 2, slow_regexp))  # type: ignore[attr-defined]
        await type_filter(pilot, "name:~nothing")
        await wait_for(pilot, lambda: "searching…" in bar_text(app))
        await type_filter(pilot, "name:task-7")
        await wait_for(pilot, lambda: app.model is not None and app.model.filter.text == "name:task-7")
        await wait_for(pilot, lambda: len(table(app).keys()) == 1)
        assert calls[0] < 300
