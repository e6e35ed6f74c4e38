"""Pilot tests: the connection-problem screen and the workers panel (``workers=``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from support.engines import QUICK
from support.targets import StoreTarget
from support.tui import cell, enqueue, started, static_text, table, wait_for, wait_store
from textual.widgets import Static

from jobtui.tui.app import JobTUI
from jobtui.tui.screens import AuditScreen, ConnectionScreen, HelpScreen, JobsScreen
from jobtui.tui.widgets import WorkersPanel
from queuecore import Status


def problem_text(app: JobTUI) -> str:
    screen = app.screen
    assert isinstance(screen, ConnectionScreen)
    return "\n".join(static_text(w) for w in screen.query(Static))


async def problem_shown(pilot, app: JobTUI) -> str:
    """The problem screen's text once it is mounted (the screen is pushed before its widgets
    are composed: reading it at once can find nothing)."""
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ConnectionScreen) and bool(app.screen.query("#connection-problem")),
    )
    return problem_text(app)


def unopenable(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[JobTUI, str, Callable[[], None]]:
    """A dashboard on a store (of the quickest engine) that cannot be opened until ``fix()``,
    and what its connect error says."""
    target, says, fix = QUICK.unopenable(request, tmp_path)
    return JobTUI(target.uri, collection=target.collection), says, fix


async def test_retry_connects_once_the_problem_is_fixed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    app, says, fix = unopenable(request, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        assert says in await problem_shown(pilot, app)
        fix()
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        await started(pilot, rows=0)
        assert app.store is not None and app.store.engine == QUICK.name


async def test_a_retry_that_connects_under_the_help_leaves_no_stale_problem_screen(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # r, then ? before the store opened: the help covered the problem screen when the retry
    # succeeded, which then stayed under it ("Cannot open the job store" while connected),
    # and its r opened a second store (the first one never closed).
    app, _, fix = unopenable(request, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await problem_shown(pilot, app)
        fix()
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        app.action_retry_connect()  # the r pressed just before the ?
        await started(pilot, rows=0)
        first = app.store
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert not any(isinstance(s, ConnectionScreen) for s in app.screen_stack)
        app.action_retry_connect()  # a stray retry (the palette, a queued key) keeps the store
        await pilot.pause(0.2)
        assert app.store is first


async def test_a_retry_while_the_workers_start_does_not_cut_the_connection_short(
    quick_target: StoreTarget, monkeypatch
) -> None:
    # r while the store was open and the hosted queue was still loading its board cancelled
    # that start; the next attempt found the store open and returned, and nothing ever
    # loaded (no model, no queue, every later r did nothing)
    import asyncio

    from queuecore import Queue

    gate, entered = asyncio.Event(), asyncio.Event()
    real_run = Queue.run

    async def slow_run(self: Queue) -> None:
        entered.set()
        await gate.wait()  # a board loading a large backlog
        await real_run(self)

    monkeypatch.setattr(Queue, "run", slow_run)
    app = JobTUI(quick_target.uri, collection=quick_target.collection, workers="examples.tasks")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, entered.is_set)
        app.action_retry_connect()  # an impatient r (the palette, a queued key)
        await wait_for(pilot, lambda: any("Still connecting" in n.message for n in app._notifications))
        gate.set()
        await wait_for(pilot, lambda: app.queue is not None and app.model is not None and app.model.loaded)
        assert isinstance(app.screen, JobsScreen)


async def test_the_audit_log_opened_before_connecting_says_so(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # ctrl+p → "Audit log" on the connection-problem screen showed "loading the audit log…"
    # for ever; it says there is no store yet, and loads once there is one.
    app, _, fix = unopenable(request, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await problem_shown(pilot, app)
        app.open_audit()
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen) and app.screen.is_mounted)
        status = app.screen.query_one("#audit-status", Static)
        await wait_for(pilot, lambda: "not connected" in static_text(status))
        fix()
        app.action_retry_connect()
        await wait_for(pilot, lambda: "0 most recent operator actions" in static_text(status))


TASKS = """
import asyncio
from queuecore import Task, E

release = asyncio.Event()

async def quick(ctx):
    ctx.result = {"ok": True}

async def slow(ctx):
    await ctx.update(progress=0.5, note="half way")
    await release.wait()

async def broken(ctx):
    raise E("no such user", retry=False)

tasks = [Task("quick", quick), Task("slow", slow, workers=1), Task("broken", broken, workers=1)]
"""


def write_tasks(tmp_path: Path) -> str:
    """A tasks module under a fresh name (so each test imports its own), as a file-path spec."""
    path = tmp_path / f"tui_tasks_{uuid.uuid4().hex[:8]}.py"
    path.write_text(TASKS)
    return str(path)


def panel(app: JobTUI) -> WorkersPanel:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#workers", WorkersPanel)


def panel_cell(app: JobTUI, task: str, column: str) -> str:
    value = panel(app).get_cell(task, column)
    return value.plain if hasattr(value, "plain") else str(value)


async def test_workers_panel_runs_tasks_and_controls_them(target: StoreTarget, store, tmp_path: Path) -> None:
    spec = write_tasks(tmp_path)
    app = JobTUI(target.uri, collection=target.collection, workers=spec, refresh=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: app.queue is not None and panel(app).row_count == 3)
        assert panel(app).display
        # a job of a hosted task runs in the dashboard's process
        quick = await enqueue(store, "quick")
        await wait_for(pilot, lambda: cell(app, quick, "status") == "completed")
        await wait_for(pilot, lambda: panel_cell(app, "quick", "processed") == "1")
        bad = await enqueue(store, "broken")
        await wait_for(pilot, lambda: cell(app, bad, "status") == "cancelled")
        await wait_for(pilot, lambda: panel_cell(app, "broken", "error") == "no such user")
        assert panel_cell(app, "broken", "failed") == "1"
        slow = await enqueue(store, "slow")
        await wait_for(pilot, lambda: panel_cell(app, "slow", "current") == slow.short_id)
        await wait_for(pilot, lambda: cell(app, slow, "progress").endswith("50%"))
        assert panel_cell(app, "slow", "state") == "1 busy 0 idle"
        # keys act on the task under the panel's cursor: w focuses the panel
        await pilot.press("w")
        await wait_for(pilot, lambda: panel(app).has_focus)
        assert panel(app).current_task == "quick"
        await pilot.press("p")
        await wait_for(pilot, lambda: panel_cell(app, "quick", "state").startswith("paused"))
        waiting = await enqueue(store, "quick")
        await pilot.pause(0.5)
        assert (await store.get(waiting.id)).status is Status.ENQUEUED  # type: ignore[union-attr]
        await pilot.press("p")

        async def done() -> bool:
            job = await store.get(waiting.id)
            return job is not None and job.status is Status.COMPLETED

        await wait_store(pilot, done)
        await pilot.press("plus")
        await wait_for(pilot, lambda: panel_cell(app, "quick", "workers") == "3")
        await pilot.press("minus", "minus", "minus")
        await wait_for(pilot, lambda: panel_cell(app, "quick", "workers") == "1")  # never below 1
        assert any("quick: 1 worker." in n.message for n in app._notifications)
        await pilot.press("w")
        await wait_for(pilot, lambda: table(app).has_focus)
        # quitting stops the workers gracefully: the running job is failed for retry, not lost
        queue = app.queue
        assert queue is not None
        queue.grace = 0.2
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, timeout=30)
    job = await store.get(slow.id)
    assert job is not None and job.status is Status.FAILED
    assert "queue closed" in job.reason


async def test_workers_spec_that_fails_to_load_is_a_notification(target: StoreTarget, tmp_path: Path) -> None:
    app = JobTUI(target.uri, collection=target.collection, workers=str(tmp_path / "missing.py"))
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, rows=0)
        await wait_for(pilot, lambda: any("Workers not started" in n.message for n in app._notifications))
        assert app.queue is None and not panel(app).display
        await pilot.press("w")
        await wait_for(pilot, lambda: any("No workers run" in n.message for n in app._notifications))


async def test_enqueue_form_checks_data_against_a_hosted_task(target: StoreTarget, store) -> None:
    """With --workers, data for a hosted task is checked against its model as it is typed:
    the worker would cancel such a job, so the form refuses it; other names are not judged."""
    app = JobTUI(target.uri, collection=target.collection, workers="examples.tasks")
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: app.queue is not None)
        await pilot.press("n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "EnqueueScreen")
        form = app.screen
        status = form.query_one("#enqueue-data-status", Static)
        form.query_one("#enqueue-name").value = "send-mail"  # type: ignore[attr-defined]
        form.query_one("#enqueue-data").text = '{"to": 5}'  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "invalid data for task 'send-mail': to:" in str(status.content))
        assert form.query_one("#enqueue-ok").disabled
        form.query_one("#enqueue-name").value = "not-hosted-here"  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "valid JSON object" in str(status.content))
        form.query_one("#enqueue-name").value = "send-mail"  # type: ignore[attr-defined]
        form.query_one("#enqueue-data").text = '{"to": "ada@example.com"}'  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "valid data for task 'send-mail'" in str(status.content))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        await wait_store(pilot, lambda: _enqueued(store, "send-mail"))


async def _enqueued(store, name: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(await store.find(name=name))
