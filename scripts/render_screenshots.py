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
* ``workers.svg`` — the dashboard hosting the example workers (workers panel focused).

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
from jobtui.app import JobTUI
from jobtui.demo import example_tasks_spec, seed
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
        app.save_screenshot(filename="jobs.svg", path=str(out))

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
        app.save_screenshot(filename="detail.svg", path=str(out))
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
        app.save_screenshot(filename="enqueue.svg", path=str(out))
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
        app.save_screenshot(filename="workers.svg", path=str(out))
        await pilot.press("q")  # graceful stop of the hosted workers: wait for it
        await wait_app(pilot, lambda: app.return_code is not None, "the workers stopping")


async def store_enqueue_slow(store: Store, steps: int) -> None:
    await queuecore.enqueue(store, queuecore.Blueprint("slow", data={"steps": steps, "pause": 0.5}))


async def render(uri: str, out: Path) -> None:
    """Seed, run the example workers until every status shows, then take the screenshots."""
    spec = example_tasks_spec()
    store = await queuecore.connect(uri)
    queue = build_queue(store, spec, reporter=lambda exc: None)
    try:
        await seed(store)
        await queue.run()
        await wait_store(store, lambda: mixed(store), "a mix of every status")
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
    for name in ("jobs", "detail", "enqueue", "workers"):
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
