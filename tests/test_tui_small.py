"""Pilot tests of the dashboard's small promises: read-only keys say so, the help shows its
brackets, the filter bar names a query, notifications keep clear of the workers panel, the
panel's "current job" never hides its count, sparklines stay empty until connected, a zero
``stalled`` count is quiet, and a finished job shows no progress bar in the table."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from support.targets import StoreTarget
from support.tui import cell, enqueue, notes, started, static_text, table, wait_for
from textual.widgets import Sparkline, Static

import queuecore
from jobtui import present
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import HelpScreen, JobDetailScreen
from jobtui.tui.widgets import FilterBar, WorkersPanel
from queuecore import Status
from queuecore.store.changes import Changes, Guard


def make_app(target: StoreTarget, **kw: object) -> JobTUI:
    return JobTUI(target.uri, collection=target.collection, **kw)  # type: ignore[arg-type]


def read_only_notes(app: JobTUI) -> list[str]:
    return [n for n in notes(app) if n.startswith("Read-only")]


# -- read-only ------------------------------------------------------------------------------


async def test_a_mutating_key_in_read_only_mode_says_read_only_once(target: StoreTarget, store) -> None:
    job = await enqueue(store)
    app = make_app(target, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("c")
        await wait_for(pilot, lambda: bool(read_only_notes(app)))
        assert read_only_notes(app) == ["Read-only: cancel is disabled (the dashboard runs read-only)."]
        await pilot.press("c", "c")  # again while it shows: no second one
        await pilot.pause()
        assert len(read_only_notes(app)) == 1
        for key, what in (
            ("n", "enqueue"),
            ("space", "marking jobs"),
            ("C", "bulk cancel"),
            ("R", "bulk re-enqueue"),
        ):
            await pilot.press(key)
            await wait_for(pilot, lambda w=what: any(f": {w} is disabled" in n for n in read_only_notes(app)))
        assert len(read_only_notes(app)) == 5 and app.screen is app.jobs_screen
        assert (await store.get(job.id)).status is Status.ENQUEUED  # type: ignore[union-attr]
        # the detail screen's keys too
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        await pilot.press("r")
        requeue = "Read-only: re-enqueue is disabled (the dashboard runs read-only)."
        await wait_for(pilot, lambda: requeue in read_only_notes(app))
        assert (await store.get(job.id)).status is Status.ENQUEUED  # type: ignore[union-attr]


# -- help, filter bar -----------------------------------------------------------------------


async def test_the_help_shows_brackets_literally(target: StoreTarget) -> None:
    app = make_app(target)
    async with app.run_test(size=(140, 50)) as pilot:
        await started(pilot, rows=0)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.is_mounted)
        text = static_text(app.screen.query_one("#help-keys", Static), width=140)
        assert "Apply a saved filter ([filters] of the config file)" in text
        assert ":status failed[,…] | all" in text


async def test_the_filter_bar_names_a_query_as_a_query(target: StoreTarget, store) -> None:
    await enqueue(store, "send-mail")
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("slash", *"name:send-mail !reason:~x", "enter")
        bar = app.screen.query_one("#filters", FilterBar)
        await wait_for(pilot, lambda: "query:" in bar.plain())
        assert "· query: name:send-mail !reason:~x ·" in bar.plain()
        assert "text:" not in bar.plain() and "'" not in bar.plain()


# -- the workers panel ----------------------------------------------------------------------

TASKS = """
import asyncio
from queuecore import Task

release = asyncio.Event()

async def slow(ctx):
    await release.wait()

tasks = [Task("slow", slow, workers=3), Task("other", slow, workers=1)]
"""


def write_tasks(tmp_path: Path) -> str:
    path = tmp_path / f"small_tasks_{uuid.uuid4().hex[:8]}.py"
    path.write_text(TASKS)
    return str(path)


def panel(app: JobTUI) -> WorkersPanel:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#workers", WorkersPanel)


def current(app: JobTUI, task: str) -> str:
    value = panel(app).get_cell(task, "current")
    return value.plain if isinstance(value, Text) else str(value)


async def test_current_job_lists_every_busy_workers_job_or_a_count(
    target: StoreTarget, store, tmp_path: Path
) -> None:
    app = make_app(target, workers=write_tasks(tmp_path), refresh=0.2)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: app.queue is not None and panel(app).row_count == 2)
        jobs = [await enqueue(store, "slow") for _ in range(2)]
        await wait_for(pilot, lambda: len(current(app, "slow").split()) == 2)
        assert set(current(app, "slow").split()) == {j.short_id for j in jobs}
        jobs.append(await enqueue(store, "slow"))
        await wait_for(pilot, lambda: current(app, "slow").endswith("+2"))
        shown = current(app, "slow")
        width = next(c.width for k, c in panel(app).columns.items() if k.value == "current")
        assert len(shown) <= width  # the count is never what the column cuts off
        assert shown.split()[0] in {j.short_id for j in jobs}
        queue = app.queue
        assert queue is not None
        queue.grace = 0.1


async def test_notifications_never_cover_the_workers_panel(
    target: StoreTarget, store, tmp_path: Path
) -> None:
    for n in range(40):  # a full table: the panel sits at the bottom, where toasts appear
        await enqueue(store, "not-hosted-here", label=str(n))
    app = make_app(target, workers=write_tasks(tmp_path), refresh=0.2)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await started(pilot, rows=40)
        await wait_for(
            pilot, lambda: app.queue is not None and panel(app).display and panel(app).row_count == 2
        )
        for n in range(3):
            app.notify(f"note {n}: something worth a line or two of text", timeout=30)
        await wait_for(pilot, lambda: len(app.screen.query("Toast")) == 3)
        await pilot.pause()
        workers = panel(app).region
        assert workers.height > 0
        for toast in app.screen.query("Toast"):
            assert toast.region.height > 0 and not toast.region.overlaps(workers), (toast.region, workers)
        app.queue.grace = 0.1  # type: ignore[union-attr]


# -- summary: sparklines, stalled -----------------------------------------------------------


def drawn(widget: Sparkline) -> str:
    console = Console(width=max(1, widget.size.width), record=True, file=open("/dev/null", "w"))
    console.print(widget.render())
    return console.export_text()


async def test_sparklines_are_empty_while_connecting(target: StoreTarget, monkeypatch) -> None:
    gate = asyncio.Event()
    real = queuecore.connect

    async def slow_connect(*args, **kw):  # type: ignore[no-untyped-def]
        await gate.wait()
        return await real(*args, **kw)

    monkeypatch.setattr(queuecore, "connect", slow_connect)
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await wait_for(pilot, lambda: app.jobs_screen is not None and app.jobs_screen.is_mounted)
        await pilot.pause()
        for status in ("completed", "failed"):
            spark = app.screen.query_one(f"#spark-{status}", Sparkline)
            assert spark.size.width > 0
            assert "█" not in drawn(spark), drawn(spark)
        gate.set()
        await started(pilot, rows=0)


def stalled_style(app: JobTUI) -> str:
    content = app.screen.query_one("#summary-counts", Static).content
    assert isinstance(content, Text)
    for span in content.spans:
        if content.plain[span.start : span.end].strip() == "stalled":
            return str(span.style)
    raise AssertionError(content.plain)


async def test_the_stalled_count_is_coloured_only_when_not_zero(target: StoreTarget, store) -> None:
    job = await enqueue(store)
    app = make_app(target, refresh=0.2)
    async with app.run_test(size=(160, 36)) as pilot:
        await started(pilot, rows=1)
        assert "stalled 0" in app.screen.query_one("#summary-counts", Static).content.plain  # type: ignore[union-attr]
        assert stalled_style(app) == "dim"
        assert await queuecore.dequeue(store, job.id, 0.01) is not None  # its timeout passes at once
        await wait_for(
            pilot, lambda: "stalled 1" in app.screen.query_one("#summary-counts", Static).content.plain
        )  # type: ignore[union-attr]
        assert stalled_style(app) == present.STATUS_STYLES["stalled"]


# -- progress of finished jobs --------------------------------------------------------------


@pytest.mark.parametrize("finish", ["complete", "fail"])
async def test_a_finished_job_shows_no_progress_bar_but_its_detail_keeps_the_last(
    target: StoreTarget, store, finish: str
) -> None:
    job = await enqueue(store)
    app = make_app(target)
    async with app.run_test(size=(160, 36)) as pilot:
        await started(pilot, rows=1)
        assert await queuecore.dequeue(store, job.id, 60, worker="w") is not None
        await store.update(job.id, Guard.status(Status.DEQUEUED), Changes(progress=0.5))  # ctx.update
        await wait_for(pilot, lambda: cell(app, job, "progress").endswith("50%"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        body = app.screen.query_one("#detail-body", Static)
        await wait_for(pilot, lambda: "50%" in static_text(body))
        assert "last progress" not in static_text(body)  # running: its progress, as it is now
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        if finish == "complete":
            await queuecore.complete(store, job.id, {"ok": True})
        else:
            await queuecore.fail(store, job.id, "boom", 3600)
        await wait_for(pilot, lambda: cell(app, job, "status") in ("completed", "failed"))
        assert cell(app, job, "progress") == ""
        table(app).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        body = app.screen.query_one("#detail-body", Static)
        await wait_for(pilot, lambda: "last progress" in static_text(body))
        line = next(ln for ln in static_text(body).splitlines() if "last progress" in ln)
        assert line.rstrip().endswith("50%")
