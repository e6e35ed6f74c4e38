"""The dashboard never goes stale (issue 12), on both engines.

What is checked is what reached the terminal: :class:`Terminal` applies every update Textual
sends to its driver to a grid of characters, so a table whose data changed but whose rows
were never repainted (the freeze after a bulk action) is seen as the operator saw it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from rich.cells import cell_len
from support.targets import StoreTarget
from support.tui import bulk_question, complete, enqueue, started, table, wait_for, wait_store
from textual._compositor import CompositorUpdate
from textual.pilot import Pilot
from textual.screen import Screen

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.widgets import SummaryBar
from queuecore import Job, Status
from queuecore.store.changes import Changes, Guard

#: How soon a change made by another process must be on screen with no key pressed. The freeze
#: this guards against lasted until the next key press (forever, in a test); the bound leaves room
#: for a loaded test machine, and the issue's 1 s target is measured by bench/tui.
SHOWN_WITHIN = 2.0
#: Rows updated while the question is open: their repaint spans several frames (``PAINT_BUDGET``
#: rows each), so the answer lands while a repaint waits for the dialog's next frame.
BUSY = 24

CSI = re.compile(r"\x1b\[(?:(\d+);(\d+)H|[0-9;?]*[A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


class Terminal:
    """What the app wrote to its terminal: the updates Textual hands its driver, applied to a grid."""

    def __init__(self, app: JobTUI) -> None:
        self.app = app
        self.grid: list[list[str]] = []
        original = app._display

        def display(screen: Screen[Any], renderable: Any) -> None:
            if isinstance(renderable, CompositorUpdate):
                self.apply(renderable.render_segments(app.console))
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]

    def apply(self, data: str) -> None:
        width, height = self.app.size
        if len(self.grid) != height or (self.grid and len(self.grid[0]) != width):
            self.grid = [[" "] * width for _ in range(height)]
        x = y = 0
        pos = 0
        for match in CSI.finditer(data + "\x1b[0m"):
            for char in data[pos : match.start()]:
                if char == "\n":
                    x, y = 0, y + 1
                    continue
                if 0 <= y < height and 0 <= x < width:
                    self.grid[y][x] = char
                x += max(1, cell_len(char))
            pos = match.end()
            if match.group(1):
                y, x = int(match.group(1)) - 1, int(match.group(2)) - 1

    def lines(self) -> list[str]:
        return ["".join(row) for row in self.grid]

    def row(self, job: Job) -> str:
        """The line showing ``job`` ('' when none does)."""
        return next((line for line in self.lines() if job.short_id in line), "")

    def text(self) -> str:
        return "\n".join(self.lines())


def make_app(target: StoreTarget, **kw: Any) -> JobTUI:
    return JobTUI(target.uri, collection=target.collection, **kw)


def summary(app: JobTUI) -> str:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#summary", SummaryBar).plain()


async def shown(pilot: Pilot[Any], condition: Callable[[], bool], within: float = SHOWN_WITHIN) -> None:
    """Let the app run, with no key pressed, until ``condition()`` holds (at most ``within`` s)."""
    await wait_for(pilot, condition, within)


async def running(store: queuecore.Store, name: str = "busy") -> Job:
    job = await enqueue(store, name)
    claimed = await queuecore.dequeue(store, job.id, 600, worker="test-worker")
    assert claimed is not None
    return claimed


async def report(store: queuecore.Store, job: Job, progress: float) -> None:
    done = await store.update(
        job.id, Guard.status(Status.DEQUEUED, attempts=job.attempts), Changes(progress=progress)
    )
    assert done is not None


# -- the freeze after a bulk action on marked jobs --------------------------------


@pytest.mark.parametrize("key", ["R", "C"])
async def test_changes_keep_showing_after_a_bulk_action_on_marked_jobs(
    target: StoreTarget, store, open_store, key: str
) -> None:
    busy = [await running(store) for _ in range(BUSY)]
    top = [await enqueue(store, "mail") for _ in range(3)]  # newest first: top[2], top[1], top[0]
    if key == "R":  # re-enqueue needs finished jobs; cancel, active ones
        top = [await complete(store, job) for job in top]
    marked = [top[1], top[0]]
    other = await open_store()  # another process
    app = make_app(target)
    async with app.run_test(size=(150, 40)) as pilot:
        terminal = Terminal(app)
        await started(pilot, rows=BUSY + 3)
        t = table(app)
        await pilot.press("g", "down", "space", "space", key)  # space marks and moves down
        await bulk_question(pilot)
        # while the question is open, the rows under it keep changing
        for job in busy:
            await report(other, job, 0.5)
        await wait_for(pilot, lambda: bool(t._repaint))  # their repaint is under way: answer now
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        want = Status.ENQUEUED if key == "R" else Status.CANCELLED
        await wait_store(pilot, lambda: statuses(other, marked, want))

        # no key from here on: what another process changes shows on its own
        await shown(pilot, lambda: all(want.value in terminal.row(j) for j in marked))
        await shown(pilot, lambda: all(" 50%" in terminal.row(j) for j in busy[4:]))
        finished = await queuecore.complete(other, busy[0].id, {"ok": True})
        assert finished.status is Status.COMPLETED
        await shown(pilot, lambda: "completed" in terminal.row(busy[0]))
        counts = await other.counts()
        expected = f"completed {counts['completed']}"
        await shown(pilot, lambda: expected in terminal.text())
        assert expected in summary(app)


async def statuses(store: queuecore.Store, jobs: list[Job], status: Status) -> bool:
    found = [await store.get(j.id) for j in jobs]
    return all(j is not None and j.status is status for j in found)


# -- the indicator says "live" only while changes reach the screen --------------------------


async def test_the_indicator_stops_saying_live_when_changes_do_not_reach_the_screen(
    target: StoreTarget, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await enqueue(store, "watched")
    app = make_app(target)
    async with app.run_test(size=(150, 40)) as pilot:
        await started(pilot, rows=1)
        await wait_for(pilot, lambda: "live" in summary(app) or "polling" in summary(app))
        # the repaints stop (as they did after a dialog closed): the data changes, the screen not
        monkeypatch.setattr(type(table(app)), "_repaint_some", lambda self: None)
        await queuecore.dequeue(store, job.id, 600, worker="test-worker")
        await wait_for(pilot, lambda: "behind" in summary(app))
        assert "live" not in summary(app)
        # repaints resume: the indicator says live again
        monkeypatch.undo()
        t = table(app)
        t._repaint_some()
        await wait_for(pilot, lambda: "behind" not in summary(app))
        assert "live" in summary(app) or "polling" in summary(app)


async def test_the_indicator_says_paused_while_the_view_is_frozen(target: StoreTarget, store) -> None:
    await enqueue(store, "watched")
    app = make_app(target)
    async with app.run_test(size=(150, 40)) as pilot:
        await started(pilot, rows=1)
        await wait_for(pilot, lambda: "live" in summary(app) or "polling" in summary(app))
        await pilot.press("p")
        await wait_for(pilot, lambda: "● paused" in summary(app))
        assert "live" not in summary(app)
        await pilot.press("p")
        await wait_for(pilot, lambda: "● paused" not in summary(app))
        assert "live" in summary(app) or "polling" in summary(app)
