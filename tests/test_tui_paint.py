"""Changed rows are repainted a few per frame, so a key press never waits behind a large repaint.

Each row of the jobs table costs about a millisecond to draw; when many rows change at once
(a burst of progress reports, the clock's tick) the table repaints ``PAINT_BUDGET`` of them per
frame. The repaint of the next rows is asked for "after the frame" — but Textual runs such a
callback as soon as the screen is idle, which can be before the frame that draws the rows just
asked for: frames then drew a dozen to 30 changed rows each (15–30 ms; under a stream of changes the
key press → render p99 of ``python -m bench tui`` went from ~20 ms to 50–100 ms).

What is counted is what reached the terminal: the lines of the table in each update Textual
hands its driver.
"""

from __future__ import annotations

import re
from typing import Any

from support.targets import StoreTarget
from support.tui import cell, started, table, wait_for
from textual._compositor import ChopsUpdate

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.widgets.painted_table import PAINT_BUDGET
from queuecore import Status
from queuecore.store.changes import Changes, Guard

JOBS = 30
MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")


async def test_a_frame_draws_at_most_paint_budget_changed_rows(target: StoreTarget, store) -> None:
    jobs = []
    for i in range(JOBS):
        job = await queuecore.enqueue(store, queuecore.Blueprint(f"paint-{i % 3}"))
        assert job is not None
        claimed = await queuecore.dequeue(store, job.id, 600, worker="test-worker")
        assert claimed is not None
        jobs.append(claimed)
    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(150, 50)) as pilot:
        await started(pilot, rows=JOBS)
        t = table(app)
        assert t.show_header
        header = t.region.y  # a frame drawing it redraws the whole table (a layout): not counted
        rows = range(header + t.header_height, header + t.header_height + JOBS)  # the rows' lines
        frames: list[set[int]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if isinstance(renderable, ChopsUpdate):  # a partial update: the lines it changes
                drawn = {int(y) - 1 for y, _ in MOVE.findall(renderable.render_segments(app.console))}
                frames.append(set() if header in drawn else drawn & set(rows))
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]
        for job in jobs:  # every row changes at once (a progress report each, as ctx.update writes)
            done = await store.update(
                job.id, Guard.status(Status.DEQUEUED, attempts=job.attempts), Changes(progress=0.42)
            )
            assert done is not None

        def repainted() -> bool:  # every row holds the new value and none waits for its repaint
            shown = all(cell(app, job, "progress").endswith("42%") for job in jobs)
            return shown and not t._pending and not t._repaint and getattr(t, "_drawn", True)

        await wait_for(pilot, repainted)
        await pilot.pause()  # the frame of the last rows
        drawn = [sorted(lines) for lines in frames if lines]
        assert len(set().union(*frames)) >= JOBS // 2  # the rows were drawn by these frames
        # ``PAINT_BUDGET`` per repaint; on a starved machine (two CPU hogs beside the test) a frame
        # late by more than ``PAINT_WAIT`` may hold a second one — never the 18–27 rows of before
        assert max(map(len, drawn)) <= 2 * PAINT_BUDGET, f"table rows drawn per frame: {drawn}"
