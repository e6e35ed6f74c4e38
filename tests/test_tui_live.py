"""The dashboard's live model (jobtui.live) against real stores, without Textual."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from support import engines
from support.engines import insert_raw
from support.spies import spy

import queuecore
from jobtui.live import LiveModel
from jobtui.view import Delta, Filter
from queuecore import Blueprint, Change, Status


async def enqueue(store: queuecore.Store, name: str, **kw: object) -> queuecore.Job:
    job = await queuecore.enqueue(store, Blueprint(name, **kw))  # type: ignore[arg-type]
    assert job is not None
    return job


async def run_job(store: queuecore.Store, job: queuecore.Job, outcome: str) -> queuecore.Job:
    """Take ``job`` through dequeue and complete/fail, as a worker would."""
    claimed = await queuecore.dequeue(store, job.id, 60, worker="test")
    assert claimed is not None
    if outcome == "completed":
        return await queuecore.complete(store, job.id, {"ok": True})
    return await queuecore.fail(store, job.id, "boom", 3600)


class Running:
    """A LiveModel running on the store's watch in a task; wait for conditions on its deltas."""

    def __init__(self, model: LiveModel) -> None:
        self.model = model
        self.deltas: list[Delta] = []
        self.event = asyncio.Event()

    def on_delta(self, delta: Delta) -> None:
        self.deltas.append(delta)
        self.event.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 15) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.event.clear()
                await self.event.wait()


@pytest.fixture
async def live(store: queuecore.Store) -> AsyncIterator[Running]:
    running = Running(LiveModel(store, counts_interval=0))
    task = asyncio.create_task(running.model.run(running.on_delta))
    await running.until(lambda: running.model.loaded)
    yield running
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def ids(model: LiveModel) -> list[ObjectId]:
    return [j.id for j in model.ordered()]


async def test_reload_shows_newest_first_and_filters_server_side(store: queuecore.Store) -> None:
    a = await enqueue(store, "alpha")
    b = await enqueue(store, "beta")
    c = await enqueue(store, "alpha", label="third")
    await run_job(store, b, "failed")
    model = LiveModel(store)
    delta = await model.reload()
    assert delta.reloaded
    assert ids(model) == [c.id, b.id, a.id]
    await model.set_filter(Filter(statuses=frozenset({"failed"})))
    assert ids(model) == [b.id]
    await model.set_filter(Filter(name="alpha"))
    assert ids(model) == [c.id, a.id]
    await model.set_filter(Filter(name="alpha", text="THIRD"))
    assert ids(model) == [c.id]
    assert model.names == {"alpha", "beta"}


async def test_insert_matching_goes_on_top_others_are_ignored(store: queuecore.Store) -> None:
    model = LiveModel(store)
    await model.set_filter(Filter(name="wanted"))
    first = await enqueue(store, "wanted")
    await model.reload()
    newer = await enqueue(store, "wanted")
    other = await enqueue(store, "other")
    delta = await model.apply([Change("insert", newer.id, newer), Change("insert", other.id, other)])
    assert delta.added and delta.changed == {newer.id}
    assert ids(model) == [newer.id, first.id]
    assert model.index(newer.id) == 0


async def test_update_that_stops_matching_removes_the_row(store: queuecore.Store) -> None:
    job = await enqueue(store, "t")
    model = LiveModel(store)
    await model.set_filter(Filter(statuses=frozenset({"enqueued"})))
    assert ids(model) == [job.id]
    claimed = await queuecore.dequeue(store, job.id, 60)
    delta = await model.apply([Change("update", job.id, claimed)])
    assert delta.changed == {job.id}
    assert model.get(job.id) is None and len(model) == 0
    # ...and an update that starts matching brings it back
    requeue_view = await store.get(job.id)
    assert requeue_view is not None
    await model.set_filter(Filter(statuses=frozenset({"dequeued"})))
    assert ids(model) == [job.id]


async def test_update_in_place_and_delete(store: queuecore.Store) -> None:
    a = await enqueue(store, "t")
    b = await enqueue(store, "t")
    model = LiveModel(store)
    await model.reload()
    claimed = await queuecore.dequeue(store, a.id, 60)
    assert claimed is not None
    delta = await model.apply([Change("update", a.id, claimed)])
    assert not delta.added and delta.changed == {a.id}
    job = model.get(a.id)
    assert job is not None and job.status is Status.DEQUEUED
    assert ids(model) == [b.id, a.id]
    await model.apply([Change("delete", b.id)])
    assert ids(model) == [a.id]


async def test_older_job_outside_a_partial_window_waits_for_load_more(store: queuecore.Store) -> None:
    jobs = [await enqueue(store, "t") for _ in range(5)]
    model = LiveModel(store, page=2)
    await model.set_filter(Filter(statuses=frozenset({"failed"})))
    assert len(model) == 0 and model.exhausted
    await model.set_filter(Filter())
    assert ids(model) == [jobs[4].id, jobs[3].id] and not model.exhausted
    # a change to an old job outside the window does not enter it
    old = await run_job(store, jobs[0], "failed")
    await model.apply([Change("update", old.id, old)])
    assert ids(model) == [jobs[4].id, jobs[3].id]
    await model.load_more()
    await model.load_more()
    assert ids(model) == [j.id for j in reversed(jobs)]
    assert model.exhausted
    assert (await model.load_more()).changed == set()


async def test_load_more_misses_no_job_when_shown_ones_left_the_filter_meanwhile(
    store: queuecore.Store,
) -> None:
    """The next page starts after the last job shown (keyset), not at an offset: jobs that
    left the filter before their change event was applied do not shift it past older ones."""
    jobs = [await enqueue(store, "t") for _ in range(8)]
    model = LiveModel(store, page=3)
    await model.set_filter(Filter(statuses=frozenset({"enqueued"})))
    assert ids(model) == [jobs[7].id, jobs[6].id, jobs[5].id]
    # another process completes two of the shown jobs; their events are not applied yet
    for job in (jobs[7], jobs[6]):
        await run_job(store, job, "completed")
    await model.load_more()
    await model.load_more()
    await model.load_more()
    assert set(ids(model)) >= {j.id for j in jobs[:6]}  # every job still enqueued, seen once
    assert len(ids(model)) == len(set(ids(model)))


async def test_window_is_trimmed_to_its_limit_on_inserts(store: queuecore.Store) -> None:
    jobs = [await enqueue(store, "t") for _ in range(2)]
    model = LiveModel(store, page=2)
    await model.reload()
    newer = await enqueue(store, "t")
    delta = await model.apply([Change("insert", newer.id, newer)])
    assert ids(model) == [newer.id, jobs[1].id]
    assert jobs[0].id in delta.changed and not model.exhausted


async def test_counts_are_throttled_never_per_event(
    store: queuecore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    model = LiveModel(store, counts_interval=5, clock=lambda: now[0])
    counted = spy(monkeypatch, store, "counts")
    await model.reload()
    assert await model.refresh_counts()
    changes = []
    for _ in range(20):
        job = await enqueue(store, "t")
        changes.append(Change("insert", job.id, job))
    for change in changes:
        await model.apply([change])
        await model.refresh_counts()
    assert len(counted) == 1  # the throttle held
    now[0] = 6.0
    assert await model.refresh_counts()
    assert len(counted) == 2
    assert model.counts["enqueued"] == 20
    assert not await model.refresh_counts()  # nothing changed since: no query
    now[0] = 20.0
    assert not await model.refresh_counts()


async def test_rates_count_each_outcome_once(store: queuecore.Store) -> None:
    model = LiveModel(store)
    await model.reload()
    ok = await run_job(store, await enqueue(store, "t"), "completed")
    bad = await run_job(store, await enqueue(store, "t"), "failed")
    for _ in range(2):  # the same event twice (e.g. polling overlap) counts once
        await model.apply([Change("update", ok.id, ok), Change("update", bad.id, bad)])
    assert sum(model.rates("completed")) == 1
    assert sum(model.rates("failed")) == 1
    assert sum(model.rates("completed")[-2:]) == 1  # this minute (or the last, at a boundary)


async def test_latency_is_the_oldest_waiting_job_per_task(store: queuecore.Store) -> None:
    await enqueue(store, "slow")
    await enqueue(store, "slow")
    await enqueue(store, "later", delay=3600)  # not waiting yet
    model = LiveModel(store)
    await model.reload()
    assert await model.refresh(force=True)
    assert model.latency is not None
    assert set(model.latency) == {"slow"}
    lat = model.latencies(datetime.now(UTC) + timedelta(seconds=30))
    assert 29 <= lat["slow"] <= 40


async def test_malformed_documents_are_kept_flagged(store: queuecore.Store) -> None:
    oid = ObjectId()
    await insert_raw(store, engines.of(store).malformed_doc(oid, "t"))
    model = LiveModel(store)
    await model.reload()
    job = model.get(oid)
    assert job is not None and job.malformed
    await model.refresh(force=True)


async def test_run_follows_the_watch(live: Running, store: queuecore.Store) -> None:
    model = live.model
    job = await enqueue(store, "watched")
    await live.until(lambda: model.get(job.id) is not None)
    await live.until(lambda: model.counts["enqueued"] == 1)
    await run_job(store, job, "completed")
    await live.until(lambda: (j := model.get(job.id)) is not None and j.status is Status.COMPLETED)
    await live.until(lambda: sum(model.rates("completed")) == 1)
    await store.delete([job.id])
    await live.until(lambda: model.get(job.id) is None)
    assert model.mode != "reconnecting"  # the engine's live feed (its own name), or polling
    assert model.mode_label.startswith(("live", "polling"))


async def test_counts_held_back_by_the_throttle_follow_without_another_event(
    store: queuecore.Store,
) -> None:
    """The second of two quick changes is counted when the throttle's interval ends, with no
    further event and no clock tick (the counts never lag the rows for long)."""
    running = Running(LiveModel(store, counts_interval=0.3))
    task = asyncio.create_task(running.model.run(running.on_delta))
    try:
        await running.until(lambda: running.model.loaded)
        await enqueue(store, "t")
        await running.until(lambda: running.model.counts["enqueued"] == 1)
        await enqueue(store, "t")  # within the interval: held back
        await running.until(lambda: len(running.model.jobs) == 2)
        await running.until(lambda: running.model.counts["enqueued"] == 2, timeout=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
