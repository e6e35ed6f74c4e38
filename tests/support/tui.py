"""Helpers for the dashboard's Pilot tests: bounded waits on what the app shows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import BulkConfirmScreen
from jobtui.tui.widgets import JobsTable
from queuecore import Blueprint, Job

#: Longest a test waits for the app to show something.
WAIT = 15.0


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Let the app run until ``condition()`` holds (fails the test after ``timeout``)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await pilot.pause(0.02)
    except TimeoutError:
        raise AssertionError(f"condition not met within {timeout}s: {condition}") from None


async def wait_store(pilot: Pilot[Any], check: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    """Let the app run until the awaited store check holds."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await pilot.pause(0.02)
    except TimeoutError:
        raise AssertionError(f"store condition not met within {timeout}s") from None


def table(app: JobTUI) -> JobsTable:
    """The jobs table of the app's jobs screen."""
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#jobs", JobsTable)


def cell(app: JobTUI, job: Job | queuecore.Job, column: str) -> str:
    """The plain text of ``job``'s cell in ``column`` ('' when the row is absent)."""
    t = table(app)
    key = str(job.id)
    if key not in t._cells:
        return ""
    value = t._cells[key][column]
    return value.plain if hasattr(value, "plain") else str(value)


def notes(app: JobTUI) -> list[str]:
    """The messages of the notifications currently shown."""
    return [n.message for n in app._notifications]


def static_text(widget: Static, width: int = 120) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(widget.content)
    return re.sub(r"[ \t]+\n", "\n", console.export_text())


async def bulk_question(pilot: Pilot[Any]) -> BulkConfirmScreen:
    """Wait until a bulk action's dialog has counted and asks; return it."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen) and app.screen.plan is not None)
    assert isinstance(app.screen, BulkConfirmScreen)
    return app.screen


async def started(pilot: Pilot[Any], rows: int | None = None) -> None:
    """Wait until the app is connected and the first snapshot is shown."""
    app = pilot.app
    assert isinstance(app, JobTUI)
    await wait_for(pilot, lambda: app.model is not None and app.model.loaded)
    if rows is not None:
        await wait_for(pilot, lambda: table(app).row_count == rows)


async def enqueue(store: queuecore.Store, name: str = "t", **kw: Any) -> Job:
    """Enqueue a job (must not be de-duplicated)."""
    job = await queuecore.enqueue(store, Blueprint(name, **kw))
    assert job is not None
    return job


async def fail(store: queuecore.Store, job: Job, reason: str = "boom", delay: float = 3600) -> Job:
    """Dequeue and fail ``job`` as a worker would."""
    assert await queuecore.dequeue(store, job.id, 60, worker="test-worker") is not None
    return await queuecore.fail(store, job.id, reason, delay)


async def complete(store: queuecore.Store, job: Job, result: dict[str, Any] | None = None) -> Job:
    """Dequeue and complete ``job`` as a worker would."""
    assert await queuecore.dequeue(store, job.id, 60, worker="test-worker") is not None
    return await queuecore.complete(store, job.id, result or {"ok": True})


def screen_lines(app: JobTUI) -> list[str]:
    """Every line the app's current screen draws, as the terminal shows it (plain text)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
