"""Keyset paging: ``store.find(after=job)`` and the dashboard's bulk count built on it.

A bulk action (``C``/``R`` without marks) collects every job the filter matches, page by
page. Paged with ``skip``, a job inserted above the cut meanwhile shifted every later page
down (a job read twice: counted and acted on twice) and a job leaving the filter shifted them
up (a job never read). Paged by keyset, each page starts after the last job of the previous
one, so the collected ids are exactly the jobs that matched, on both engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import queuecore
from jobtui import bulk
from jobtui.view import Filter
from queuecore import Blueprint, Job, Store
from queuecore._time import utcnow
from queuecore.sort import Sort, SortField


async def _mixed(store: Store) -> list[Job]:
    """Jobs with ties on every sort field (a batch shares its creation millisecond, names and
    labels repeat) and missing values (never started, never ended)."""
    jobs: list[Job] = []
    for batch in range(3):  # three creation times, each shared by a batch
        while jobs and utcnow() <= jobs[-1].created:  # noqa: ASYNC110 - a clock has no event
            await asyncio.sleep(0.001)  # until the millisecond clock has moved on
        blueprints = [
            Blueprint(f"task-{i % 3}", label=f"l{i}" if i % 4 else "", data={"i": i})
            for i in range(batch * 9, batch * 9 + 9)
        ]
        jobs += [j for j in await queuecore.enqueue_many(store, blueprints) if j is not None]
    assert len(jobs) == 27 and len({j.created for j in jobs}) > 1
    for job in jobs[::3]:
        assert await queuecore.dequeue(store, job.id, 60) is not None
    for job in jobs[::6]:
        await queuecore.complete(store, job.id, {})
    await queuecore.fail(store, jobs[3].id, "boom", 0)
    return await store.find(limit=1000)


SORTS = [Sort(field, descending) for field in SortField for descending in (True, False)]


@pytest.mark.parametrize("sort", SORTS, ids=str)
async def test_find_after_pages_through_every_job_once_in_any_order(store: Store, sort: Sort) -> None:
    """Pages of ``find(after=<last job of the previous page>)`` are the one-read result cut
    in pieces: same jobs, same order, none twice — ties and missing values included."""
    everything = await _mixed(store)
    whole = [j.id for j in await store.find(limit=1000, sort=sort)]
    assert sorted(whole) == sorted(j.id for j in everything)
    paged: list[Any] = []
    last: Job | None = None
    while True:
        page = await store.find(limit=4, sort=sort, after=last)
        paged.extend(j.id for j in page)
        if len(page) < 4:
            break
        last = page[-1]
    assert paged == whole


async def test_find_after_keeps_the_filter(store: Store) -> None:
    """``after`` narrows the filtered result; it never widens it."""
    await _mixed(store)
    enqueued = await store.find(status="enqueued", limit=1000)
    assert len(enqueued) > 6
    rest = await store.find(status="enqueued", limit=1000, after=enqueued[5])
    assert [j.id for j in rest] == [j.id for j in enqueued[6:]]
    assert await store.find(status="enqueued", after=enqueued[-1]) == []


Find = Callable[..., Awaitable[list[Job]]]


async def test_bulk_count_collects_exactly_the_matching_jobs_while_jobs_arrive_and_leave(
    store: Store, open_store: Callable[[], Awaitable[Store]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two pages of the count (``C`` on the filter ``task: mail``), another process
    enqueues jobs (newer than the cut) and cancels a job already counted: the plan holds
    every job that matched, each once, and none of the new ones."""
    monkeypatch.setattr(bulk, "PAGE", 10)
    other = await open_store()
    jobs = await queuecore.enqueue_many(
        store, [Blueprint("mail" if i % 5 else "sms", data={"i": i}) for i in range(55)]
    )
    done = jobs[41]
    assert done is not None and await queuecore.dequeue(store, done.id, 60) is not None
    await queuecore.complete(store, done.id, {})  # not matching from the start
    matching = {j.id for j in jobs if j is not None and j.name == "mail" and j.id != done.id}
    counted: list[Job] = []
    arrived: set[Any] = set()
    find: Find = store.find

    async def find_while_jobs_move(*args: Any, **kwargs: Any) -> list[Job]:
        if counted:  # between two pages
            new = [Blueprint(name, data={"n": len(arrived)}) for name in ("mail", "sms", "mail")]
            arrived.update(j.id for j in await queuecore.enqueue_many(other, new) if j is not None)
            await queuecore.cancel_job(other, counted[-1].id, "by someone else")
        page = await find(*args, **kwargs)
        counted.extend(page)
        return page

    monkeypatch.setattr(store, "find", find_while_jobs_move)
    current = Filter(frozenset(), "mail", "")
    plan = await bulk.plan_filter(store, "cancel", current, bulk.bulk_statuses("cancel", current))
    assert len(arrived) >= 9  # at least 4 pages, so 3 times 3 arrivals
    assert len(plan.ids) == len(set(plan.ids)), "a job was counted twice"
    assert set(plan.ids) == matching
