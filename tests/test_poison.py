"""Poison payloads: data nested deeper than ``MAX_DEPTH`` is refused on every way in, and a
stored document that cannot be decoded (too deep, not UTF-8, not JSON, written by another
program) reads back as a malformed job on every way out — it never stops a worker, the
board, ``ls``, ``show`` or the dashboard. Poison rows and documents are written directly
into the store (sqlite3 on the file, pymongo on the collection), among good jobs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pydantic import BaseModel
from support.cli import Cli, assert_one_line_error, in_store
from support.nesting import nested, nested_lists, nested_text
from support.targets import StoreTarget
from support.tui import cell, started, table, wait_for
from support.waits import wait_all

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import EnqueueScreen
from queuecore import Blueprint, Context, Job, MalformedJob, Queue, Status, Store, Task
from queuecore.job import MAX_DEPTH, depth_message
from queuecore.web import endpoint

MESSAGE = depth_message()  # "job data is nested deeper than the limit of 64 levels"
GOOD = 20


def test_the_limit_is_64_levels() -> None:
    assert MAX_DEPTH == 64
    assert MESSAGE == "job data is nested deeper than the limit of 64 levels"


# -- refused on the way in ------------------------------------------------------------------------


class Deep(BaseModel):
    tree: dict[str, Any]


async def test_enqueue_refuses_data_deeper_than_the_limit_and_takes_the_limit(store: Store) -> None:
    for too_deep in (nested(65), nested_lists(65), nested(100_000)):
        with pytest.raises(ValueError, match=MESSAGE):
            await queuecore.enqueue(store, Blueprint("deep", data=too_deep))
    with pytest.raises(ValueError, match=MESSAGE):  # a model's data: the model is level 1
        await queuecore.enqueue(store, Blueprint("deep", model=Deep(tree=nested(64))))
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(ValueError, match=MESSAGE):  # infinitely deep: refused, no RecursionError
        await queuecore.enqueue(store, Blueprint("deep", data=cyclic))
    # enqueue_many: every blueprint is checked first, so one deep one inserts nothing
    batch = [Blueprint("deep", data={"n": n}) for n in range(5)] + [Blueprint("deep", data=nested(65))]
    with pytest.raises(ValueError, match=MESSAGE):
        await queuecore.enqueue_many(store, batch)
    assert await store.count() == 0
    # exactly the limit is accepted, and reads back as it was, not malformed
    [a, b] = await queuecore.enqueue_many(store, [Blueprint("deep", data=nested(64))] * 2)
    c = await queuecore.enqueue(store, Blueprint("deep", model=Deep(tree=nested(63))))
    d = await queuecore.enqueue(store, Blueprint("deep", data=nested_lists(64)))
    for job, data in ((a, nested(64)), (b, nested(64)), (c, {"tree": nested(63)}), (d, nested_lists(64))):
        assert job is not None
        stored = await store.get(job.id)
        assert stored is not None and stored.malformed is None and stored.data == data


async def test_a_handler_result_deeper_than_the_limit_fails_the_attempt(store: Store) -> None:
    async def handler(ctx: Context) -> None:
        ctx.result = nested(65)

    queue = Queue(store)
    queue.add(Task("deep-result", handler, max_attempts=1))
    async with queue:
        job = await queuecore.enqueue(store, Blueprint("deep-result"))
        assert job is not None
        [done] = await wait_all(store, [job.id], lambda j: j.status in queuecore.FINISHED)
    assert done.status is Status.CANCELLED and done.result is None
    assert "the handler's result is nested deeper than the limit of 64 levels" in done.reason
    # through the API as well
    other = await queuecore.enqueue(store, Blueprint("x"))
    assert other is not None and await queuecore.dequeue(store, other.id, 60) is not None
    with pytest.raises(ValueError, match="a job's result is nested deeper than the limit of 64 levels"):
        await queuecore.complete(store, other.id, nested(65))


async def exchange(app: Any, body: bytes) -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": "/", "headers": []}, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


async def test_the_web_endpoint_answers_400_for_deep_data(store: Store) -> None:
    app = endpoint(store, lambda request: Blueprint("hook", data=request.json()))
    for body in (nested_text(65).encode(), b'{"a":' + b"[" * 980 + b"]" * 980 + b"}"):  # ~2 KB
        status, answer = await exchange(app, body)
        assert status == 400, answer
        assert "nested deeper than the limit of 64 levels" in answer["error"], answer
    assert await store.count() == 0
    assert await exchange(app, nested_text(64).encode()) == (200, {})
    [job] = await store.find()
    assert job.data == nested(64)


def test_cli_enqueue_refuses_deep_data_in_one_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(nested_text(65))
    assert_one_line_error(cli("enqueue", "deep", "--data", nested_text(65)), "invalid --data:", MESSAGE)
    assert_one_line_error(cli("enqueue", "deep", "--data", f"@{path}"), "invalid --data:", MESSAGE)
    assert sum(cli.counts().values()) == 0
    assert cli.ok("enqueue", "deep", "--data", nested_text(64)).stdout.strip()
    assert sum(cli.counts().values()) == 1


async def test_the_enqueue_form_shows_the_limit_and_does_not_submit(target: StoreTarget, store) -> None:
    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        form = app.screen
        form.query_one("#enqueue-name").value = "deep"
        status = form.query_one("#enqueue-data-status")
        for text in (nested_text(65), "[" * 100_000):  # over the limit; beyond what Python can parse
            form.query_one("#enqueue-data").text = text
            await wait_for(pilot, lambda: MESSAGE in str(status.content))
            assert form.query_one("#enqueue-ok").disabled
            await pilot.press("ctrl+s")
            assert app.screen is form  # not submitted
        form.query_one("#enqueue-data").text = nested_text(64)
        await wait_for(pilot, lambda: "valid JSON object" in str(status.content))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
    [job] = await store.find()
    assert job.data == nested(64)


# -- stored poison reads back malformed -----------------------------------------------------------


@dataclass
class Poison:
    """The good jobs and the poison documents written among them."""

    good: list[ObjectId]
    poison: dict[ObjectId, str]  # id → a word the malformed problem names


def _enqueue_good(target: StoreTarget) -> list[ObjectId]:
    async def action(store: Store) -> list[ObjectId]:
        jobs = await queuecore.enqueue_many(store, [Blueprint("work", data={"n": n}) for n in range(GOOD)])
        return [j.id for j in jobs if j is not None]

    return in_store(target, action)


def write_poison(target: StoreTarget) -> Poison:
    """~20 good jobs of task ``work``, and poison documents of that task written directly."""
    good = _enqueue_good(target)
    return Poison(good, target.support.write_poison(target))


async def test_every_read_of_the_store_returns_poison_as_malformed(target: StoreTarget, store) -> None:
    feed = store.watch()
    assert (await anext(feed)).kind == "reset"
    seen: dict[ObjectId, Job] = {}
    wanted: set[ObjectId] = set()
    arrived = asyncio.Event()

    async def follow() -> None:  # the change feed: each poison insert arrives as a malformed job
        async for change in feed:
            if change.job is not None:
                seen[change.id] = change.job
            if wanted and wanted <= seen.keys():
                arrived.set()

    following = asyncio.create_task(follow())
    try:
        poison = await asyncio.to_thread(write_poison, target)
        wanted.update(poison.poison)
        if wanted <= seen.keys():
            arrived.set()
        await asyncio.wait_for(arrived.wait(), 15)
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await feed.aclose()
    for oid, problem in poison.poison.items():
        assert seen[oid].malformed is not None and problem in seen[oid].malformed, seen[oid].malformed
    found = {j.id: j for j in await store.find(limit=100)}
    assert set(found) == {*poison.good, *poison.poison}
    for oid, problem in poison.poison.items():
        job = await store.get(oid)
        assert job is not None and job.malformed is not None and problem in job.malformed, (problem, job)
        assert found[oid].malformed == job.malformed
        assert job.data == {}  # data too deep (or not an object) is never handed on
    assert all(found[oid].malformed is None for oid in poison.good)
    # the board's reads: the whole set comes back, the poison flagged
    named = {oid for oid, job in found.items() if job.name == "work"}  # not the poison in ``name``
    assert len(named) >= GOOD + len(poison.poison) - 1
    active = await store.active(["work"])
    assert {j.id for j in active} == named
    pages = [j async for page in store.active_pages(["work"], size=3) for j in page]
    assert {j.id for j in pages} == named
    assert {j.id for j in pages if j.malformed} == named - set(poison.good)
    assert (await store.counts())["enqueued"] >= GOOD
    assert "work" in await store.oldest_waiting()


async def test_a_queue_processes_every_good_job_around_the_poison(target: StoreTarget, store) -> None:
    poison = await asyncio.to_thread(write_poison, target)
    ran: list[ObjectId] = []
    reports: list[BaseException] = []

    async def handler(ctx: Context) -> None:
        ran.append(ctx.job.id)

    queue = Queue(store, reporter=reports.append)
    queue.add(Task("work", handler))
    async with queue:
        await wait_all(store, poison.good, lambda j: j.status is Status.COMPLETED)
        later = await queuecore.enqueue(store, Blueprint("work", data={"late": True}))
        assert later is not None
        await wait_all(store, [later.id], lambda j: j.status is Status.COMPLETED)
        assert queue.ready
    assert sorted(ran) == sorted([*poison.good, later.id])  # no handler ran for a poison document
    assert not [r for r in reports if not isinstance(r, MalformedJob)], reports
    for oid in poison.poison:
        job = await store.get(oid)
        assert job is not None and job.malformed and job.attempts == 0  # never claimed


def test_ls_and_show_list_poison_as_malformed(cli: Cli) -> None:
    poison = write_poison(cli.target)
    listed = cli.json("ls", "--limit", "100")
    assert {j["id"] for j in listed if j["malformed"]} == {str(oid) for oid in poison.poison}
    assert len(listed) == GOOD + len(poison.poison)
    shown = cli.ok("ls", "--limit", "100").stdout
    for oid in poison.poison:
        assert str(oid) in shown
        result = cli.ok("show", str(oid))
        assert "malformed" in result.stdout and "Traceback" not in result.stdout + result.stderr
        assert cli.json("show", str(oid))["malformed"]
    assert cli.ok("stats").stdout


async def test_the_dashboard_shows_poison_rows_and_its_workers_process_the_rest(
    target: StoreTarget, store, tmp_path: Path
) -> None:
    poison = await asyncio.to_thread(write_poison, target)
    spec = tmp_path / "poison_tasks.py"
    spec.write_text(
        "from queuecore import Task\n\nasync def work(ctx):\n    pass\n\ntasks = [Task('work', work)]\n"
    )
    app = JobTUI(target.uri, collection=target.collection, workers=str(spec))
    async with app.run_test(size=(140, 50)) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: table(app).row_count == GOOD + len(poison.poison))
        for oid in poison.poison:
            key = type("J", (), {"id": oid})
            assert cell(app, key, "status") == "⚠ malformed"  # type: ignore[arg-type]
        await wait_all(store, poison.good, lambda j: j.status is Status.COMPLETED)
        for oid in poison.good:
            key = type("J", (), {"id": oid})
            await wait_for(pilot, lambda k=key: cell(app, k, "status") == "completed")  # type: ignore[arg-type]
        assert app.is_running
