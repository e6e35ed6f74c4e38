"""Changes made by another process, and when they reached the screen (``python -m bench tui``).

The writer process (:func:`writer_main`) makes ``rate`` change events per second: progress
updates of the running jobs (``store.update`` with the guard ``Context.update`` uses). The
``k``-th update of a job sets its progress to ``k`` % (its table cell shows ``k%``), so each
update changes what its row shows; the writer notes when each update was committed
(``time.monotonic``: CLOCK_MONOTONIC, one clock for every process of the machine).

The dashboard process keeps what it wrote to its terminal in that time (every frame Textual
hands its driver, as escape sequences, with the time it did so). :func:`staleness` replays
those frames on a character grid (:class:`Grid`) afterwards — so the replay costs the
measured process nothing — and, for every update of a job whose row was on screen, finds the
first frame showing that update or a later one: the update was stale on screen until then.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
from bisect import bisect_right
from pathlib import Path
from typing import Any

from .common import percentile
from .tui_seed import RUNNING

#: The escape sequences Textual writes: cursor moves (kept), styles and the rest (skipped).
CSI = re.compile(r"\x1b\[(?:(\d+);(\d+)H|[0-9;?]*[A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
PERCENT = re.compile(r"(\d{1,3})%")


# -- the writer process -----------------------------------------------------------


async def _writer(path: Path, rate: float) -> dict[str, Any]:
    import queuecore
    from queuecore import Status
    from queuecore.store.changes import Changes, Guard

    store = await queuecore.connect(f"sqlite:///{path}")
    running = [j for j in await store.find(status="dequeued", limit=RUNNING) if not j.malformed]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_eof() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(json.dumps({"ready": len(running), "ids": [j.short_id for j in running]}), flush=True)
    done = 0
    written: list[float] = []
    began = time.perf_counter()
    while not stop.is_set():
        due = int((time.perf_counter() - began) * rate)
        while done < due:
            job = running[done % len(running)]
            updated = await store.update(
                job.id,
                Guard.status(Status.DEQUEUED, attempts=job.attempts),
                Changes(progress=(done // len(running) % 100) / 100, note=f"step {done}"),
            )
            written.append(time.monotonic())  # committed: another process can read it now
            if updated is None:
                raise AssertionError(f"job {job.id} is no longer running")
            done += 1
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - began
    await store.close()
    return {"events": done, "seconds": elapsed, "written": written}


def writer_main(path: Path, rate: float) -> None:
    """The writer process: a ``ready`` line (the jobs it updates, in order), then on EOF of
    stdin one line with how many updates it made and when each was committed."""
    result = asyncio.run(_writer(path, rate))
    print(json.dumps(result), flush=True)


# -- what reached the screen --------------------------------------------------------


class Grid:
    """A terminal's characters, as the escape sequences Textual writes leave them."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [[" "] * width for _ in range(height)]

    def apply(self, data: str) -> None:
        from rich.cells import cell_len

        x = y = 0
        pos = 0
        for match in CSI.finditer(data + "\x1b[0m"):
            for char in data[pos : match.start()]:
                if char == "\n":
                    x, y = 0, y + 1
                    continue
                if 0 <= y < self.height and 0 <= x < self.width:
                    self.rows[y][x] = char
                x += max(1, cell_len(char))
            pos = match.end()
            if match.group(1):
                y, x = int(match.group(1)) - 1, int(match.group(2)) - 1

    def shown(self, short_ids: dict[str, int]) -> dict[int, int | None]:
        """For each job (short id → index) whose row is on screen: the percentage it shows."""
        out: dict[int, int | None] = {}
        find = re.compile("|".join(map(re.escape, short_ids)))
        for row in self.rows:
            line = "".join(row)
            for match in find.finditer(line):
                percent = PERCENT.search(line, match.end())
                out[short_ids[match.group()]] = int(percent.group(1)) if percent else None
        return out


def staleness(
    frames: list[tuple[float, str]],
    written: list[float],
    ids: list[str],
    size: tuple[int, int],
    window: tuple[float, float],
    until: float,
) -> dict[str, Any]:
    """How long each update made in ``window`` took to reach the screen.

    ``frames``: (time, escape sequences) in order, the first a full screen; ``written``: the
    commit time of the writer's update number ``n`` (job ``n % len(ids)``, value
    ``n // len(ids)`` %). An update counts when its job's row was on screen when it was made;
    it is shown by the first later frame whose row shows its value or a later one of that job
    (never one from before it). One not shown by ``until`` (when the frames stop) counts until then.
    """
    grid = Grid(*size)
    jobs = len(ids)
    short_ids = {short: index for index, short in enumerate(ids)}
    times = [t for t, _ in frames]
    shown_at: list[dict[int, int | None]] = []
    for _, data in frames:
        grid.apply(data)
        shown_at.append(grid.shown(short_ids))
    begin, end = window
    lags: list[float] = []
    unshown = 0
    for n, at in enumerate(written):
        if not begin <= at <= end:
            continue
        job, value = n % jobs, n // jobs
        if value >= 100:
            break  # the values wrap: the window is over long before (the dashboard checks)
        before = bisect_right(times, at) - 1
        if before < 0 or job not in shown_at[before]:
            continue  # not on screen when it was made
        latest = value  # the newest update of this job by the time of a frame
        lag = None
        for f in range(before + 1, len(frames)):
            while latest + 1 < 100 and (latest + 1) * jobs + job < len(written):
                if written[(latest + 1) * jobs + job] > times[f]:
                    break
                latest += 1
            value_shown = shown_at[f].get(job)
            if value_shown is not None and value <= value_shown <= latest:
                lag = times[f] - at
                break
        if lag is None:
            unshown += 1
            lag = until - at
        lags.append(lag)
    return {
        "updates": len(lags),
        "unshown": unshown,
        "p50": percentile(lags, 50),
        "p99": percentile(lags, 99),
        "max": max(lags) if lags else float("nan"),
        "frames": len(frames),
    }
