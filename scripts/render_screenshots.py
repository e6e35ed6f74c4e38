"""Render the README's SVG screenshots from the seeded demo.

    python3 scripts/render_screenshots.py [--out screenshots]

Seeds the demo jobs (``jobtui.demo.seed``) into a SQLite store in a temporary
directory (``$TMPDIR/jobtui-demo``, removed afterwards), runs the example workers
(``examples/tasks.py``) until the store holds a mix of statuses (waiting on the
store's change feed, bounded), then drives the dashboard headless
(``JobTUI.run_test(size=(120, 36))``) and saves:

* ``jobs.svg`` — the jobs screen with mixed statuses,
* ``detail.svg`` — the detail of a job with a history of retries,
* ``enqueue.svg`` — the enqueue form, filled in,
* ``bulk.svg`` — ``R`` on the marked jobs: the bulk question with its reason field,
* ``confirm.svg`` — ``c``: the question before a job is cancelled,
* ``workers.svg`` — the dashboard hosting the example workers (workers panel focused).

Each SVG is written with ``xml:space="preserve"`` on its root: Rich draws every space as a
no-break space, which browsers keep but librsvg (``rsvg-convert``, image viewers) drops at the
start of a text run, so "c Cancel" would render as "cCancel" there. With it, every renderer
places each character in its cell. (librsvg also ignores ``textLength``: with a font a little
wider than the cell, such as DejaVu Sans Mono, a long run of box characters ends short of its
cell there, and a dialog's edge looks a cell off. Browsers keep every run to its cells.)

Exits non-zero with one line if the demo does not reach the mix in time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import queuecore
from jobtui.demo import example_tasks_spec, seed
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import BulkConfirmScreen, ConfirmScreen
from jobtui.workers import build_queue
from queuecore import Job, Status, Store

SIZE = (120, 36)
#: Longest the script waits for the store or the app to reach a state.
TIMEOUT = 60.0
ROOT = Path(__file__).resolve().parent.parent


async def wait_store(store: Store, ready: Callable[[], Any], what: str) -> Any:
    """Re-check ``ready()`` (awaitable, truthy when done) on every change of the store."""
    try:
        async with asyncio.timeout(TIMEOUT):
            async for _ in store.watch():
                result = await ready()
                if result:
                    return result
    except TimeoutError:
        raise SystemExit(f"error: the demo did not reach {what} within {TIMEOUT:g}s") from None
    raise AssertionError("unreachable")


async def wait_app(pilot: Any, condition: Callable[[], bool], what: str) -> None:
    """Let the app run until ``condition()`` holds (bounded)."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                await pilot.pause(0.05)
    except TimeoutError:
        raise SystemExit(f"error: the dashboard did not show {what} within {TIMEOUT:g}s") from None


def save(app: JobTUI, out: Path, name: str) -> None:
    """Write the screen as ``out/name.svg`` (with the whitespace kept by every renderer)."""
    svg = app.export_screenshot(title="jobtui")
    svg = svg.replace("<svg ", '<svg xml:space="preserve" ', 1)
    (out / f"{name}.svg").write_text(svg, encoding="utf-8")


async def mixed(store: Store) -> bool:
    """Every status is present, a retried job has failed, and a doomed job has ended."""
    counts = await store.counts()
    if not all(counts[s.value] for s in Status):
        return False
    doomed = await store.find(status=Status.CANCELLED, name="doomed", limit=1)
    running = await store.find(status=Status.DEQUEUED, name="slow", limit=5)
    return bool(doomed) and any((j.progress or 0) > 0 for j in running)


def rows(app: JobTUI) -> int:
    screen = app.jobs_screen
    if screen is None:
        return 0
    return screen.table.row_count


async def shoot_jobs_detail_enqueue(uri: str, out: Path, detail_job: Job) -> None:
    app = JobTUI(uri, refresh=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await wait_app(pilot, lambda: rows(app) >= 20, "the jobs table")
        await pilot.pause(1.0)  # one refresh tick: sparklines and countdowns filled in
        save(app, out, "jobs")

        screen = app.jobs_screen
        assert screen is not None
        table = screen.table
        table.move_cursor(row=table.get_row_index(str(detail_job.id)), animate=False)
        await pilot.press("enter")
        await wait_app(
            pilot,
            lambda: (
                type(app.screen).__name__ == "JobDetailScreen"
                and getattr(app.screen, "job", None) is not None
            ),
            "the job detail",
        )
        await pilot.pause(0.3)
        save(app, out, "detail")
        await pilot.press("escape")
        await wait_app(pilot, lambda: app.screen is app.jobs_screen, "the jobs screen again")

        await pilot.press("n")
        await wait_app(pilot, lambda: type(app.screen).__name__ == "EnqueueScreen", "the enqueue form")
        form = app.screen
        form.query_one("#enqueue-name").value = "send-mail"  # type: ignore[attr-defined]
        form.query_one("#enqueue-label").value = "ada"  # type: ignore[attr-defined]
        form.query_one("#enqueue-data").text = '{"to": "ada@example.com", "subject": "welcome"}'  # type: ignore[attr-defined]
        form.query_one("#enqueue-delay").value = "30"  # type: ignore[attr-defined]
        form.query_one("#enqueue-data").focus()
        await pilot.pause(0.3)
        save(app, out, "enqueue")
        await pilot.press("escape")
        await wait_app(pilot, lambda: app.screen is app.jobs_screen, "the jobs screen again")

        # R on two marked cancelled jobs: the bulk question, a reason typed
        cancelled = await app.store.find(status=Status.CANCELLED, limit=2)  # type: ignore[union-attr]
        for job in cancelled:
            table.move_cursor(row=table.get_row_index(str(job.id)), animate=False)
            await pilot.press("space")
        await pilot.press("R")
        await wait_app(
            pilot,
            lambda: isinstance(app.screen, BulkConfirmScreen) and app.screen.plan is not None,
            "the bulk question",
        )
        await pilot.press("tab")
        await pilot.press(*"customer asked again")
        await pilot.pause(0.3)
        save(app, out, "bulk")
        await pilot.press("escape")
        await wait_app(pilot, lambda: app.screen is app.jobs_screen, "the jobs screen again")
        await pilot.press("u")

        # c on a waiting job: the single question
        [waiting] = await app.store.find(status=Status.ENQUEUED, name="report", limit=1)  # type: ignore[union-attr]
        table.move_cursor(row=table.get_row_index(str(waiting.id)), animate=False)
        await pilot.press("c")
        await wait_app(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the cancel question")
        await pilot.pause(0.3)
        save(app, out, "confirm")
        await pilot.press("escape")


async def shoot_workers(uri: str, spec: str, out: Path) -> None:
    app = JobTUI(uri, workers=spec, refresh=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await wait_app(
            pilot, lambda: app.queue is not None and app.queue.ready and rows(app) >= 20, "workers"
        )
        await wait_app(
            pilot, lambda: app.queue is not None and any(s.busy for s in app.queue.stats()), "a busy worker"
        )
        await pilot.press("w")
        await pilot.pause(1.0)
        save(app, out, "workers")
        await pilot.press("q")  # graceful stop of the hosted workers: wait for it
        await wait_app(pilot, lambda: app.return_code is not None, "the workers stopping")


async def store_enqueue_slow(store: Store, steps: int) -> None:
    await queuecore.enqueue(store, queuecore.Blueprint("slow", data={"steps": steps, "pause": 0.5}))


async def fail_report(store: Store) -> None:
    """A ``report`` job (a task the demo does not host) failed by another host, retried in 1 h."""
    job = await queuecore.enqueue(store, queuecore.Blueprint("report", label="2024-04", data={"month": 4}))
    assert job is not None
    await queuecore.dequeue(store, job.id, 60, worker="reports-1:4242:report")
    await queuecore.fail(store, job.id, "warehouse query timed out", 3600)


async def render(uri: str, out: Path) -> None:
    """Seed, run the example workers until every status shows, then take the screenshots."""
    spec = example_tasks_spec()
    store = await queuecore.connect(uri)
    queue = build_queue(store, spec, reporter=lambda exc: None)
    try:
        await seed(store)
        await queue.run()
        await wait_store(store, lambda: mixed(store), "a mix of every status")
        # a failed job that stays failed (the demo's retry within seconds), run by another host
        await fail_report(store)
        # fresh slow jobs, so some still run (with progress) while the screenshots are taken
        for steps in (30, 40, 60):
            await store_enqueue_slow(store, steps)
        [detail_job] = await store.find(status=Status.CANCELLED, name="doomed", limit=1)
        await shoot_jobs_detail_enqueue(uri, out, detail_job)
        for steps in (30, 40, 60):
            await store_enqueue_slow(store, steps)
        await shoot_workers(uri, spec, out)
    finally:
        await queue.close(grace=1)
        await store.close()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # a fixed path, so the header in the screenshots does not change from run to run
    tmp = Path(tempfile.gettempdir()) / "jobtui-demo"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        asyncio.run(render(f"sqlite:///{tmp}/demo.db", out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name in ("jobs", "detail", "enqueue", "bulk", "confirm", "workers"):
        print(out / f"{name}.svg")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots", help="output directory")
    args = parser.parse_args()
    try:
        main(args.out)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
