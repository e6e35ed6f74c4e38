"""A burst of change events reaches the jobs table in batches, cell by cell, on both engines.

The dashboard follows 1,000 change events per second by showing the model's changes at a
capped rate and repainting only the cells that changed (jobtui/screens/jobs.py,
jobtui/tui/widgets/jobs_table.py and painted_table.py). Whatever the batching, the table must
end up showing exactly what the store holds — on screen, not only in its data — without reloading the window.
"""

from __future__ import annotations

import time

import pytest
from support.spies import spy
from support.targets import StoreTarget
from support.tui import enqueue, started, table, wait_for
from textual.geometry import Region

import queuecore
from jobtui.format import utcnow
from jobtui.tui.app import JobTUI
from jobtui.tui.screens.table_updates import APPLY_INTERVAL
from jobtui.tui.widgets.job_rows import COLUMNS, render_row
from queuecore import Job, Status
from queuecore.store.changes import Changes, Guard

JOBS = 60
EVENTS = 600


def shown_lines(app: JobTUI) -> dict[str, str]:
    """The text of each row on screen, by row key, as the table's widget renders it now."""
    t = table(app)
    width, height = t.size
    strips = t.render_lines(Region(0, 0, width, height))
    header = t.header_height if t.show_header else 0
    keys = t.keys()
    out = {}
    for y in range(header, height):
        index = y - header + int(t.scroll_y)
        if index < len(keys):
            out[keys[index]] = strips[y].text
    return out


async def test_a_burst_of_updates_is_applied_in_batches_and_shown(
    target: StoreTarget, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs: list[Job] = []
    for i in range(JOBS):
        job = await enqueue(store, f"burst-{i % 3}")
        claimed = await queuecore.dequeue(store, job.id, 600, worker="test-worker")
        assert claimed is not None
        jobs.append(claimed)
    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(150, 40)) as pilot:
        await started(pilot, rows=JOBS)
        assert app.model is not None and app.store is not None
        reads = spy(monkeypatch, app.store, "find")  # a reload reads the window again
        updates = spy(monkeypatch, table(app), "sync")  # a table update
        await pilot.press("down", "down", "down")
        chosen = table(app).current_id

        # progress reports of every running job, round-robin, as fast as the store takes them
        began = time.monotonic()
        for n in range(EVENTS):
            job = jobs[n % JOBS]
            done = await store.update(
                job.id,
                Guard.status(Status.DEQUEUED, attempts=job.attempts),
                Changes(progress=(n % 97) / 100, note=f"step {n}"),
            )
            assert done is not None
        final = {str(j.id): j for j in await store.find(limit=JOBS)}
        assert len(final) == JOBS

        def expected(key: str) -> dict[str, str]:
            cells = render_row(final[key], utcnow())
            return {c: str(getattr(cells[c], "plain", cells[c])) for c in ("progress", "task", "status")}

        def cells_match() -> bool:
            shown = table(app)._cells
            return all(
                {c: str(getattr(shown[k][c], "plain", shown[k][c])) for c in ("progress", "task", "status")}
                == expected(k)
                for k in final
            )

        await wait_for(pilot, cells_match)
        elapsed = time.monotonic() - began
        # ...and what is painted on screen is the same (the rows in view, every column)
        await wait_for(
            pilot,
            lambda: all(expected(k)["progress"] in line for k, line in shown_lines(app).items()),
        )
        lines = shown_lines(app)
        assert 10 < len(lines) < JOBS  # some rows in view, some not
        for key, line in lines.items():
            assert final[key].short_id in line and expected(key)["progress"] in line
        assert len(COLUMNS) == len(table(app).columns)

        # batched: no reload of the window, and at most one table update per APPLY_INTERVAL
        # however fast (or, on a loaded machine, slowly) the events came
        assert len(reads) == 0
        assert 0 < len(updates) <= elapsed / APPLY_INTERVAL + 2
        # rows changed in place: same rows, same order, the cursor on its job
        assert table(app).keys() == [str(j.id) for j in reversed(jobs)]
        assert table(app).current_id == chosen
