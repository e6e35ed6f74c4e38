"""Documents in the jobs collection that are not valid jobs (other programs', bugs'): workers
skip them and keep working, the CLI lists, shows and counts them flagged, the dashboard flags
them and keeps running — nothing changed, nothing lost, on every engine."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from support import engines
from support.cli import Cli, in_store
from support.engines import insert_raw
from support.targets import StoreTarget
from support.tui import cell, started, table, wait_for
from support.waits import wait_all

import queuecore
from jobtui.tui.app import JobTUI
from queuecore import Blueprint, Context, Job, MalformedJob, Queue, Store, Task


def finished(job: Job) -> bool:
    return job.status in queuecore.FINISHED


# -- malformed documents in the jobs collection ------------------------------------------------


def malformed_docs(engine: str) -> list[dict[str, Any]]:
    """Documents that are not valid jobs, as other programs (or bugs) might leave them (the
    engine's ``support.malformed_docs``).

    All carry the name of the test's task where a name is given, so a worker would take them if
    it did not check. SQLite rows must fill the NOT NULL columns; anything else goes.
    """
    return engines.of(engine).malformed_docs()


def shown_id(doc: dict[str, Any]) -> ObjectId:
    """The id a malformed document is listed under (a stable placeholder for a foreign _id)."""
    return Job.from_doc(dict(doc)).id


async def raw_docs(store: Store) -> list[Any]:
    """The collection exactly as stored, to prove nothing was changed or lost."""
    return await engines.of(store).raw_docs(store)


async def test_workers_skip_malformed_documents_and_keep_working(store: Store) -> None:
    docs = malformed_docs(store.engine)
    half = len(docs) // 2
    for doc in docs[:half]:
        await insert_raw(store, dict(doc))
    ran: list[ObjectId] = []
    reports: list[BaseException] = []

    async def handler(ctx: Context) -> None:
        ran.append(ctx.job.id)

    queue = Queue(store, reporter=reports.append)
    queue.add(Task("work", handler))
    async with queue:
        first = await queuecore.enqueue(store, Blueprint("work", data={"n": 1}))
        for doc in docs[half:]:  # arriving while the queue runs: through the change feed
            await insert_raw(store, dict(doc))
        second = await queuecore.enqueue(store, Blueprint("work", data={"n": 2}))
        assert first is not None and second is not None
        before = await raw_docs(store)
        await wait_all(store, [first.id, second.id], finished)
        assert queue.ready
    assert sorted(ran) == sorted([first.id, second.id])  # no handler ran for a malformed document
    assert any(isinstance(r, MalformedJob) for r in reports)
    assert not [r for r in reports if not isinstance(r, MalformedJob)], reports
    after = await raw_docs(store)
    good = {str(first.id), str(second.id)}

    def others(rows: list[Any]) -> list[Any]:
        return [r for r in rows if engines.of(store).raw_id(r) not in good]

    assert others(after) == others(before)  # untouched: nothing changed, nothing lost
    assert len(others(after)) == len(docs)


def test_cli_lists_shows_and_counts_malformed_documents(cli: Cli) -> None:
    docs = malformed_docs(cli.target.engine)

    async def insert(store: Store) -> None:
        for doc in docs:
            await insert_raw(store, dict(doc))
        await queuecore.enqueue(store, Blueprint("fine"))

    in_store(cli.target, insert)
    listed = cli.json("ls", "--limit", "100")
    assert len(listed) == len(docs) + 1
    flagged = {j["id"] for j in listed if j["malformed"]}
    assert flagged == {str(shown_id(d)) for d in docs}
    assert "malformed" in cli.ok("ls", "--limit", "100").stdout
    stats = cli.json("stats")
    assert stats["total"] == len(docs) + 1
    for doc in docs:
        if isinstance(doc["_id"], ObjectId):
            shown = cli.json("show", str(doc["_id"]))
            assert shown["malformed"], shown
            assert "malformed" in cli.ok("show", str(doc["_id"])).stdout


async def test_dashboard_flags_malformed_documents_and_keeps_running(
    target: StoreTarget, store: Store
) -> None:
    docs = malformed_docs(target.engine)
    half = len(docs) // 2
    for doc in docs[:half]:
        await insert_raw(store, dict(doc))
    good = await queuecore.enqueue(store, Blueprint("fine"))
    assert good is not None
    app_ = JobTUI(target.uri, collection=target.collection)
    async with app_.run_test(size=(140, 40)) as pilot:
        await started(pilot, rows=half + 1)
        for doc in docs[half:]:  # arriving while the dashboard watches
            await insert_raw(store, dict(doc))
        await wait_for(pilot, lambda: table(app_).row_count == len(docs) + 1)
        for doc in docs:
            row = type("Row", (), {"id": shown_id(doc)})
            await wait_for(pilot, lambda row=row: "malformed" in cell(app_, row, "status"))  # type: ignore[misc]
        assert cell(app_, good, "status") == "enqueued"
        for key in ("1", "1", "2", "2"):  # filters reload around them
            await pilot.press(key)
        await pilot.press("enter")  # the detail of whatever row is under the cursor
        await pilot.press("escape")
        assert app_.is_running and app_.model is not None and app_.model.loaded
