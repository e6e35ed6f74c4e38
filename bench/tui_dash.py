"""The dashboard processes of ``python -m bench tui`` (``--role dashboard`` / ``--role paint``).

``jobtui.app.JobTUI`` runs headless under Textual's ``App.run_test`` (160×50). Every frame the
compositor produces is also rendered to terminal escape sequences, as a real terminal driver
would (nothing is written), and timed. Keys are handed to the app as the terminal driver
hands them (``driver.send_message``), one at a time, and a key's clock stops at the first
frame in which the cursor is on another job.

``dashboard`` (the 100,000-job store), in this order:

1. first paint: from ``run_test`` entry (app start: store opened, first page loaded, table
   filled) to the first frame whose jobs table shows rows; also from process start;
2. stale frames: a writer process (bench/tui_changes.py) makes ``rate`` change events per
   second; for ``stale_seconds`` no key is pressed and every frame is kept, to replay later;
3. key → render under the same stream of changes (``presses`` keys, 50–150 ms apart);
4. the writer stops; ``C`` (bulk cancel, no filter: every enqueued, failed and running job),
   typed confirmation of the count, ``enter`` — the dashboard's own bulk path — and, from the
   first frame after the dialog closed, while that action cancels the jobs, key → render again
   (until it is done).

``paint`` (the 1,000,000-job store): first paint only, then RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .tui_changes import staleness

SIZE = (160, 50)
#: The repository root: child processes run ``python -m bench`` from here.
ROOT = Path(__file__).resolve().parents[1]


def _memory() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024  # MiB
    return out


def _key(key: str, app: Any, character: str | None = None) -> Any:
    """A key event as the terminal driver makes it."""
    from textual import events

    event = events.Key(key, character)
    event.set_sender(app)
    return event


def _app(path: Path) -> Any:
    """A JobTUI on ``path`` that renders each frame to escape sequences and times it."""
    from textual._compositor import CompositorUpdate

    from jobtui.app import JobTUI

    class Bench(JobTUI):
        CSS_PATH = str(Path(sys.modules[JobTUI.__module__].__file__ or "").parent / str(JobTUI.CSS_PATH))

        frames = 0
        watcher: Any = None
        #: (time.monotonic(), escape sequences) of each frame while recording, else None.
        recording: list[tuple[float, str]] | None = None

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is None or self._batch_count:
                return
            if isinstance(renderable, CompositorUpdate):
                data = renderable.render_segments(self.console)
                if self.recording is not None:
                    self.recording.append((time.monotonic(), data))
            else:
                list(self.console.render(renderable))
            self.frames += 1
            if self.watcher is not None:
                self.watcher(time.perf_counter())

        def start_recording(self) -> None:
            """Keep every frame from now on, starting with the whole screen as it is."""
            full = self.screen._compositor.render_full_update()
            self.recording = [(time.monotonic(), full.render_segments(self.console))]

    return Bench(f"sqlite:///{path}")


def _table(app: Any) -> Any:
    from jobtui.widgets import JobsTable

    screen = app.jobs_screen
    if screen is None:
        return None
    with contextlib.suppress(Exception):
        return screen.query_one("#jobs", JobsTable)
    return None


async def _first_paint(app: Any, started: float, process_start: float) -> dict[str, Any]:
    """Wait for the first frame with rows in the jobs table."""
    painted = asyncio.get_running_loop().create_future()

    def on_frame(at: float) -> None:
        t = _table(app)
        if t is not None and t.row_count > 0 and not painted.done():
            painted.set_result((at, t.row_count))

    app.watcher = on_frame
    at, rows = await asyncio.wait_for(painted, 120)
    app.watcher = None
    return {"first_paint_s": at - started, "first_paint_from_process_s": at - process_start, "rows": rows}


async def _presses(app: Any, count: int, until: Any = None) -> tuple[list[float], int]:
    """Press down/up ``count`` times (50–150 ms apart; stopping early once ``until()`` holds):
    each key's time to the first frame with the cursor on another job; and how many missed."""
    t, driver = _table(app), app._driver
    assert t is not None and driver is not None
    latencies: list[float] = []
    missed = 0
    for index in range(count):
        if until is not None and until():
            break
        before = t.current_id
        rendered = asyncio.get_running_loop().create_future()

        def watch(at: float, before: str | None = before, rendered: Any = rendered) -> None:
            if not rendered.done() and t.current_id != before:
                rendered.set_result(at)

        app.watcher = watch
        pressed = time.perf_counter()
        driver.send_message(_key("down" if index % 2 == 0 else "up", app))
        try:
            latencies.append(await asyncio.wait_for(rendered, 5) - pressed)
        except TimeoutError:
            missed += 1
        app.watcher = None
        await asyncio.sleep(random.uniform(0.05, 0.15))
    return latencies, missed


async def _poll(condition: Callable[[], bool], timeout: float) -> None:
    """Let the app run until ``condition()`` holds (checked every 5 ms; TimeoutError after ``timeout``)."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


async def _bulk(app: Any, pilot: Any, presses: int) -> dict[str, Any]:
    """``C``, the count typed, ``enter``; key presses while the action runs."""
    from jobtui.screens import BulkConfirmScreen

    driver = app._driver
    store = app.store
    before = await store.counts()
    asked = time.perf_counter()
    driver.send_message(_key("C", app, "C"))
    await _poll(lambda: isinstance(app.screen, BulkConfirmScreen) and app.screen.plan is not None, 300)
    counted = time.perf_counter() - asked
    plan = app.screen.plan
    await pilot.pause(0.2)  # the typed-count field takes the focus after a refresh
    for digit in str(len(plan.ids)):
        driver.send_message(_key(digit, app, digit))
    driver.send_message(_key("enter", app, "\r"))

    def acting() -> list[Any]:
        return [w for w in app.workers if w.group == "mutate" and not w.is_finished]

    await _poll(lambda: bool(acting()), 30)
    began = time.perf_counter()
    # keys are pressed once the jobs screen is back on screen (a frame drawn after the dialog
    # went): before that the operator has nothing to press keys at — that first frame repaints
    # the whole screen, which is closing a dialog, not the bulk action
    shown = app.frames
    await _poll(lambda: not isinstance(app.screen, BulkConfirmScreen) and app.frames > shown, 30)
    latencies, missed = await _presses(app, presses, until=lambda: not acting())
    await _poll(lambda: not acting(), 600)
    took = time.perf_counter() - began
    after = await store.counts()
    left = after["enqueued"] + after["failed"]
    if left or after["cancelled"] < before["cancelled"] + before["enqueued"] + before["failed"]:
        raise AssertionError(f"the bulk cancel did not cancel every job: before {before}, after {after}")
    return {
        "jobs": len(plan.ids),
        "count_s": counted,
        "run_s": took,
        "latencies": latencies,
        "missed": missed,
        "pressed_during_run": len(latencies) + missed,
    }


async def _dashboard(
    path: Path, presses: int, rate: float, stale_seconds: float, process_start: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    app = _app(path)
    started = time.perf_counter()
    async with app.run_test(headless=True, size=SIZE) as pilot:
        out |= await _first_paint(app, started, process_start)
        await pilot.pause(0.5)
        out["memory_after_paint"] = _memory()

        model = app.model
        assert model is not None
        received = [0]
        original_apply = model.apply

        async def counting_apply(changes: Any) -> Any:
            changes = list(changes)
            received[0] += sum(1 for c in changes if c.kind == "update")
            return await original_apply(changes)

        model.apply = counting_apply

        writer = await asyncio.create_subprocess_exec(
            *[
                sys.executable,
                "-m",
                "bench",
                "tui",
                "--role",
                "writer",
                "--db",
                str(path),
                "--rate",
                str(rate),
            ],
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert writer.stdout is not None and writer.stdin is not None
        try:
            ready = json.loads(await writer.stdout.readline())
            out["writer_jobs"] = ready["ready"]
            await asyncio.sleep(1.5)  # let the event stream reach steady state
            # (c) no key pressed: every frame kept, replayed against the writer's log afterwards
            app.start_recording()
            window = (time.monotonic(), time.monotonic() + stale_seconds)
            await asyncio.sleep(stale_seconds)
            frames, app.recording = app.recording, None
            # updates of the last second may still be on their way: not counted, but their frames are
            until = time.monotonic()
            window = (window[0], until - 1.0)
            # key press → render under the same stream
            received[0] = 0
            load_began = time.perf_counter()
            for _ in range(5):
                app._driver.send_message(_key("down", app))
                await asyncio.sleep(0.05)
            out["latencies"], out["missed"] = await _presses(app, presses)
            out["events_received_per_s"] = received[0] / (time.perf_counter() - load_began)
            out["memory_end"] = _memory()
        finally:
            writer.stdin.close()
            tail = (await writer.stdout.read()).decode()
            await asyncio.wait_for(writer.wait(), 30)
        lines = [line for line in tail.splitlines() if line.strip()]
        done = json.loads(lines[-1]) if lines else {}
        out["writer_events_per_s"] = done.get("events", 0) / max(done.get("seconds", 1), 1e-9)
        # (a) the bulk action, no writer
        out["bulk"] = await _bulk(app, pilot, presses=10_000)
        out["frames"] = app.frames
        out["memory_bulk"] = _memory()
    out["stale"] = staleness(frames, done.get("written", []), ready["ids"], SIZE, window, until)
    return out


async def _paint(path: Path, process_start: float) -> dict[str, Any]:
    app = _app(path)
    started = time.perf_counter()
    async with app.run_test(headless=True, size=SIZE) as pilot:
        out = await _first_paint(app, started, process_start)
        out["memory_after_paint"] = _memory()
        await pilot.pause(2.0)  # counts, sparklines and latency settle
        out["memory_end"] = _memory()
    return out


def dashboard_main(path: Path, presses: int, rate: float, stale_seconds: float, process_start: float) -> None:
    """The ``dashboard`` role: one ``RESULT {json}`` line."""
    result = asyncio.run(_dashboard(path, presses, rate, stale_seconds, process_start))
    print("RESULT " + json.dumps(result), flush=True)


def paint_main(path: Path, process_start: float) -> None:
    """The ``paint`` role: one ``RESULT {json}`` line."""
    result = asyncio.run(_paint(path, process_start))
    print("RESULT " + json.dumps(result), flush=True)
