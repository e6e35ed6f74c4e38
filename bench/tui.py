"""``python -m bench tui``: the dashboard on a 100,000-job SQLite collection.

Three processes, so each number belongs to the process it describes:

1. this one seeds a fresh SQLite file in a temp dir with N real jobs (``executemany`` of the
   rows ``SQLiteStore.insert``/``claim``/``complete`` write: same columns, same encodings,
   events included) and checks that the store reads them back as valid jobs;
2. the dashboard process runs ``jobtui.app.JobTUI`` headless under Textual's
   ``App.run_test`` (160×50). Every frame the compositor produces is also rendered to
   terminal escape sequences (as a real terminal driver would; nothing is written), and
   the time of each frame is recorded. It reports:

   - time to first paint: from ``run_test`` entry (app start: store opened, first page
     loaded, table filled) to the first frame whose jobs table shows rows; also from
     process start, imports included;
   - process RSS (``VmRSS``) after the first paint and at the end, and its peak (``VmHWM``);
   - key-press → render latency: a ``down``/``up`` key event is handed to the app as the
     terminal driver would, and the clock stops at the first frame in which the cursor is
     on another job; while
3. a writer process makes 1,000 change events per second: progress/note updates of the
   running jobs at the top of the table (``store.update`` with the same guard as
   ``Context.update``), the rows the dashboard shows, each update one change event that
   changes the row's progress cell.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .common import console, header, percentile, table, targets

#: Statuses of the seeded jobs (the newest RUNNING jobs are running, the rest by weight).
MIX = (("completed", 86), ("failed", 5), ("cancelled", 3), ("enqueued", 6))
RUNNING = 200
NAMES = (
    "send-mail",
    "resize-image",
    "sync-crm",
    "charge-card",
    "build-report",
    "notify",
    "import-csv",
    "webhook",
)
SIZE = (160, 50)
#: The repository root: child processes run ``python -m bench`` from here.
ROOT = Path(__file__).resolve().parents[1]


# -- seeding (this process) -----------------------------------------------------


def _event(at: datetime, status: str, reason: str = "") -> dict[str, Any]:
    return {"at": at.isoformat(), "status": status, "reason": reason}


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


async def seed(path: Path, jobs: int) -> dict[str, Any]:
    """Write ``jobs`` real jobs (newest ``RUNNING`` of them running); return what the store reads back."""
    from bson import ObjectId

    import queuecore

    store = await queuecore.connect(f"sqlite:///{path}")
    rng = random.Random(6)
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(seconds=jobs // 10)
    statuses = [s for s, _ in MIX]
    weights = [w for _, w in MIX]
    rows = []
    for index in range(jobs):
        created = first + timedelta(milliseconds=100 * index)
        oid = ObjectId.from_datetime(created)
        oid = ObjectId(oid.binary[:4] + index.to_bytes(8, "big"))  # time-ordered, unique
        name = NAMES[index % len(NAMES)]
        status = "dequeued" if index >= jobs - RUNNING else rng.choices(statuses, weights)[0]
        events = [_event(created, "enqueued")]
        started = ended = finished = None
        attempts, result, reason, worker, progress, note = 0, None, "", "", None, ""
        available = created
        if status != "enqueued":
            started = created + timedelta(milliseconds=rng.randint(5, 500))
            attempts = 1
            worker = f"bench-host:{4000 + index % 4}:{name}"
            events.append(_event(started, "dequeued"))
            available = started + timedelta(minutes=10)
        if status == "dequeued":
            progress, note = round(rng.random(), 2), "working"
        elif status in ("completed", "failed", "cancelled"):
            ended = started + timedelta(milliseconds=rng.randint(5, 3000))  # type: ignore[operator]
            if status == "completed":
                result = json.dumps({"ok": True})
                finished = ended
            elif status == "failed":
                reason = "upstream returned 503"
                available = ended + timedelta(seconds=3600)
            else:
                reason = "invalid address"
                finished = ended
            events.append(_event(ended, status, reason))
        rows.append(
            (
                str(oid),
                name,
                f"customer-{index % 977}" if status in ("completed", "cancelled") else "",
                json.dumps({"customer": index % 977, "attempt": index}),
                status,
                _ms(created),
                _ms(available),
                _ms(started) if started else None,
                _ms(ended) if ended else None,
                _ms(finished) if finished else None,
                attempts,
                result,
                reason,
                json.dumps(events),
                worker,
                progress,
                note,
            )
        )
    sql = (
        f"INSERT INTO {store.collection} (id, name, label, data, status, created_at, available_at,"
        " started_at, ended_at, finished_at, attempts, result, reason, events, worker, progress, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    began = time.perf_counter()

    def write(conn: Any) -> None:
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")

    await store._run(write)  # type: ignore[attr-defined]
    took = time.perf_counter() - began
    stored = await store.counts()
    counts = {s.value: stored[s.value] for s in queuecore.Status}
    newest = await store.find(limit=RUNNING + 50)
    sample = [await store.get(r[0]) for r in rng.sample(rows, 200)]
    await store.close()
    bad = [j for j in [*newest, *sample] if j is None or j.malformed]
    if bad or sum(counts.values()) != jobs:
        raise AssertionError(f"seeded jobs do not read back: counts {counts}, {len(bad)} malformed")
    return {
        "seconds": took,
        "counts": counts,
        "running": [str(j.id) for j in newest if j.status == "dequeued"],
    }


# -- the writer process -----------------------------------------------------------


async def _writer(path: Path, rate: float) -> dict[str, Any]:
    import queuecore
    from queuecore import Status

    store = await queuecore.connect(f"sqlite:///{path}")
    running = [j for j in await store.find(status="dequeued", limit=RUNNING) if not j.malformed]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_eof() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(json.dumps({"ready": len(running)}), flush=True)
    done = 0
    began = time.perf_counter()
    while not stop.is_set():
        due = int((time.perf_counter() - began) * rate)
        while done < due:
            job = running[done % len(running)]
            updated = await store.update(
                job.id,
                statuses=[Status.DEQUEUED],
                attempts=job.attempts,
                # each update moves the job's progress on by a point: every event changes what
                # the row shows (``done % 100`` alone gave each job the same value every time)
                set={"progress": (done // len(running) % 100) / 100, "note": f"step {done}"},
            )
            if updated is None:
                raise AssertionError(f"job {job.id} is no longer running")
            done += 1
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - began
    await store.close()
    return {"events": done, "seconds": elapsed}


def writer_main(path: Path, rate: float) -> None:
    result = asyncio.run(_writer(path, rate))
    print(json.dumps(result), flush=True)


# -- the dashboard process -------------------------------------------------------


def _memory() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024  # MiB
    return out


async def _dashboard(path: Path, presses: int, rate: float, process_start: float) -> dict[str, Any]:
    from jobtui.app import JobTUI
    from jobtui.widgets import JobsTable

    out: dict[str, Any] = {}

    class Bench(JobTUI):
        """JobTUI that renders each frame to terminal output (not written) and times it."""

        CSS_PATH = str(Path(sys.modules[JobTUI.__module__].__file__ or "").parent / str(JobTUI.CSS_PATH))

        frames = 0
        watcher: Any = None

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is None or self._batch_count:
                return
            if hasattr(renderable, "render_segments"):
                renderable.render_segments(self.console)
            else:
                list(self.console.render(renderable))
            self.frames += 1
            if self.watcher is not None:
                self.watcher(time.perf_counter())

    app = Bench(f"sqlite:///{path}")

    def jobs_table() -> JobsTable | None:
        screen = app.jobs_screen
        if screen is None:
            return None
        with contextlib.suppress(Exception):
            return screen.query_one("#jobs", JobsTable)
        return None

    first_paint = asyncio.get_running_loop().create_future()

    def on_frame(at: float) -> None:
        t = jobs_table()
        if t is not None and t.row_count > 0 and not first_paint.done():
            first_paint.set_result((at, t.row_count))

    app.watcher = on_frame
    started = time.perf_counter()
    async with app.run_test(headless=True, size=SIZE) as pilot:
        painted, rows = await asyncio.wait_for(first_paint, 60)
        out["first_paint_s"] = painted - started
        out["first_paint_from_process_s"] = painted - process_start
        out["first_paint_rows"] = rows
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

        model.apply = counting_apply  # type: ignore[method-assign]

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
            received[0] = 0
            load_began = time.perf_counter()
            t = jobs_table()
            assert t is not None
            driver = app._driver
            assert driver is not None
            for key in ("down",) * 5:
                driver.send_message(_key(key, app))
                await asyncio.sleep(0.05)
            latencies = []
            missed = 0
            for index in range(presses):
                key = "down" if index % 2 == 0 else "up"
                before = t.current_id
                rendered = asyncio.get_running_loop().create_future()

                def watch(at: float, before: str | None = before, rendered: Any = rendered) -> None:
                    if not rendered.done() and t.current_id != before:
                        rendered.set_result(at)

                app.watcher = watch
                pressed = time.perf_counter()
                driver.send_message(_key(key, app))
                try:
                    latencies.append(await asyncio.wait_for(rendered, 5) - pressed)
                except TimeoutError:
                    missed += 1
                app.watcher = None
                await asyncio.sleep(random.uniform(0.05, 0.15))
            load_seconds = time.perf_counter() - load_began
            out["events_received_per_s"] = received[0] / load_seconds
            out["latencies"] = latencies
            out["missed"] = missed
            out["memory_end"] = _memory()
        finally:
            writer.stdin.close()
            tail = (await writer.stdout.read()).decode()
            await asyncio.wait_for(writer.wait(), 10)
        lines = [line for line in tail.splitlines() if line.strip()]
        done = json.loads(lines[-1]) if lines else {}
        out["writer_events_per_s"] = done.get("events", 0) / max(done.get("seconds", 1), 1e-9)
        out["frames"] = app.frames
    return out


def _key(key: str, app: Any) -> Any:
    """A key event as the terminal driver makes it."""
    from textual import events

    event = events.Key(key, None)
    event.set_sender(app)
    return event


def dashboard_main(path: Path, presses: int, rate: float, process_start: float) -> None:
    result = asyncio.run(_dashboard(path, presses, rate, process_start))
    print("RESULT " + json.dumps(result), flush=True)


# -- the command -----------------------------------------------------------------


def run(jobs: int = 100_000, presses: int = 60, rate: float = 1000.0) -> dict[str, Any]:
    """Seed, run the dashboard process, print the table and the targets."""
    header(
        "tui",
        f"{jobs:,} jobs (SQLite, temp dir); JobTUI headless under App.run_test {SIZE[0]}×{SIZE[1]}, frames "
        f"rendered to escape codes; {presses} key presses while a writer process makes {rate:.0f} change "
        "events/s (see bench/tui.py)",
    )
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        path = Path(tmp) / "jobs.db"
        seeded = asyncio.run(seed(path, jobs))
        counts = ", ".join(f"{k} {v:,}" for k, v in seeded["counts"].items() if v)
        console.print(f"[dim]seeded {jobs:,} jobs in {seeded['seconds']:.2f}s ({counts})[/]")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench",
                "tui",
                "--role",
                "dashboard",
                "--db",
                str(path),
                "--presses",
                str(presses),
                "--rate",
                str(rate),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            console.print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit(f"the dashboard process failed (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    lat = result["latencies"]
    p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
    peak = max(result["memory_after_paint"]["VmHWM"], result["memory_end"]["VmHWM"])
    rows = [
        ["time to first paint (app start → jobs table shown)", f"{result['first_paint_s'] * 1000:.0f} ms"],
        ["  … from process start, imports included", f"{result['first_paint_from_process_s'] * 1000:.0f} ms"],
        ["rows in the first frame", result["first_paint_rows"]],
        ["RSS after first paint", f"{result['memory_after_paint']['VmRSS']:.0f} MiB"],
        ["RSS after the event load", f"{result['memory_end']['VmRSS']:.0f} MiB"],
        ["peak RSS (VmHWM)", f"{peak:.0f} MiB = {peak * 1.048576:.0f} MB"],
        ["change events written / s (writer process)", f"{result['writer_events_per_s']:.0f}"],
        ["change events applied / s (dashboard)", f"{result['events_received_per_s']:.0f}"],
        [
            "key press → render, p50 / p99 / max",
            f"{p50:.1f} / {p99:.1f} / {max(lat) * 1000:.1f} ms" if lat else "–",
        ],
        ["key presses measured (missed)", f"{len(lat)} ({result['missed']})"],
    ]
    console.print(table(f"Dashboard on {jobs:,} jobs", ["measure", "value"], rows))
    console.print(
        targets(
            "Targets",
            [
                (
                    "time to first paint",
                    f"{result['first_paint_s'] * 1000:.0f} ms",
                    "≤ 1000 ms",
                    result["first_paint_s"] <= 1.0,
                ),
                ("peak RSS", f"{peak * 1.048576:.0f} MB", "≤ 150 MB", peak * 1.048576 <= 150),
                ("key press → render p50", f"{p50:.1f} ms", "≤ 50 ms", p50 <= 50),
                ("key press → render p99", f"{p99:.1f} ms", "≤ 50 ms", p99 <= 50 and not result["missed"]),
            ],
        )
    )
    return result


def role_main(args: argparse.Namespace) -> None:
    """The hidden ``--role`` entry points of the child processes."""
    if args.role == "writer":
        writer_main(Path(args.db), args.rate)
    else:
        dashboard_main(Path(args.db), args.presses, args.rate, args.process_start)
