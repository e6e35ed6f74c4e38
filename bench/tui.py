"""``python -m bench tui``: the dashboard on a 100,000-job and a 1,000,000-job SQLite store.

Separate processes, so each number belongs to the process it describes:

1. this one seeds fresh SQLite files in a temp dir (bench/tui_seed.py): 100,000 jobs as full
   rows for each run (the bulk action changes them), and 1,000,000 through the store's own
   ``insert_many`` once; it checks that the store reads them back as valid jobs;
2. the dashboard process (bench/tui_dash.py, ``--role dashboard``) on the 100,000 jobs:
   first paint, RSS, the longest stale frame and key press → render while a writer process
   (3.) makes ``rate`` change events per second, then key press → render while the
   dashboard's own bulk cancel (``C``, the count typed, ``enter``) cancels some 11,000 jobs;
3. the writer process (bench/tui_changes.py, ``--role writer``): progress updates of the
   running jobs at the top of the table, each one changing what its row shows;
4. the paint process (``--role paint``) on the 1,000,000 jobs: first paint and RSS.

With ``--repeat N`` each process runs N times (a fresh 100,000-job store each time) and the
median of the runs is shown, with the range.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import console, header, percentile, table, targets
from .tui_dash import ROOT, SIZE
from .tui_seed import seed, seed_many


def _child(role: str, path: Path, *args: str) -> dict[str, Any]:
    """Run ``python -m bench tui --role ROLE`` and return its ``RESULT``."""
    command = [sys.executable, "-m", "bench", "tui", "--role", role, "--db", str(path), *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        console.print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"the {role} process failed (exit {proc.returncode})")
    return json.loads(lines[-1].removeprefix("RESULT "))


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def _median(runs: list[dict[str, Any]], get: Callable[[dict[str, Any]], float]) -> tuple[float, float, float]:
    values = [get(r) for r in runs]
    return statistics.median(values), min(values), max(values)


def _show(value: tuple[float, float, float], unit: str, scale: float = 1.0, digits: int = 0) -> str:
    mid, low, high = (v * scale for v in value)
    shown = f"{mid:,.{digits}f} {unit}".rstrip()
    return shown if low == high else f"{shown} ({low:,.{digits}f}–{high:,.{digits}f})"


def _peak(result: dict[str, Any]) -> float:
    """Peak RSS in MB (VmHWM is MiB here)."""
    return max(m["VmHWM"] for k, m in result.items() if k.startswith("memory")) * 1.048576


def run(
    jobs: int = 100_000,
    presses: int = 60,
    rate: float = 1000.0,
    paint_jobs: int = 1_000_000,
    repeat: int = 1,
    stale_seconds: float = 8.0,
) -> list[dict[str, Any]]:
    """Seed, run the processes, print the tables and the targets."""
    header(
        "tui",
        f"JobTUI headless under App.run_test {SIZE[0]}×{SIZE[1]}, frames rendered to escape codes; "
        f"{jobs:,} jobs: {stale_seconds:.0f} s of no key and {presses} key presses while a writer process "
        f"makes {rate:.0f} change events/s, then key presses during a bulk cancel; {paint_jobs:,} jobs: "
        f"first paint; {repeat} run(s), median (range) (see bench/tui.py)",
    )
    console.print(f"[dim]load average before: {_load()}[/]")
    runs: list[dict[str, Any]] = []
    paints: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        for index in range(repeat):
            path = Path(tmp) / f"jobs-{index}.db"
            seeded = asyncio.run(seed(path, jobs))
            counts = ", ".join(f"{k} {v:,}" for k, v in seeded["counts"].items() if v)
            console.print(
                f"[dim]run {index + 1}: seeded {jobs:,} jobs in {seeded['seconds']:.2f}s ({counts})[/]"
            )
            args = ["--presses", str(presses), "--rate", str(rate), "--stale-seconds", str(stale_seconds)]
            runs.append(_child("dashboard", path, *args))
            path.unlink()
        if paint_jobs:
            path = Path(tmp) / "paint.db"
            seeded = asyncio.run(seed_many(path, paint_jobs))
            rate_seeded = paint_jobs / seeded["seconds"]
            console.print(
                f"[dim]seeded {paint_jobs:,} jobs with insert_many in {seeded['seconds']:.1f}s "
                f"({rate_seeded:,.0f}/s, {path.stat().st_size / 1e6:,.0f} MB)[/]"
            )
            paints = [_child("paint", path) for _ in range(repeat)]
    console.print(f"[dim]load average after: {_load()}[/]")
    _report(runs, paints, jobs, paint_jobs, rate)
    return runs


def _report(
    runs: list[dict[str, Any]], paints: list[dict[str, Any]], jobs: int, paint_jobs: int, rate: float
) -> None:
    def ms(get: Callable[[dict[str, Any]], float]) -> str:
        return _show(_median(runs, get), "ms", 1000, 1)

    def p(values: str, q: float) -> Callable[[dict[str, Any]], float]:
        def get(r: dict[str, Any]) -> float:
            source = r["bulk"] if values == "bulk" else r
            return percentile(source["latencies"], q)

        return get

    paint = _median(runs, lambda r: r["first_paint_s"])
    peak = _median(runs, _peak)
    key_p99 = _median(runs, p("load", 99))
    bulk_p99 = _median(runs, p("bulk", 99))
    stale = _median(runs, lambda r: r["stale"]["max"])
    missed = sum(r["missed"] + r["bulk"]["missed"] for r in runs)
    rows = [
        ["time to first paint (app start → jobs table shown)", _show(paint, "ms", 1000)],
        ["  … from process start, imports included", ms(lambda r: r["first_paint_from_process_s"])],
        [
            "peak RSS before the bulk action (VmHWM)",
            _show(_median(runs, lambda r: r["memory_end"]["VmHWM"] * 1.048576), "MB"),
        ],
        ["peak RSS, the bulk action's 11,000 jobs included", _show(peak, "MB")],
        [
            "change events written / applied per s",
            _show(_median(runs, lambda r: r["writer_events_per_s"]), "")
            + " / "
            + _show(_median(runs, lambda r: r["events_received_per_s"]), ""),
        ],
        [
            "change → on screen (no key pressed): updates of rows on screen",
            _show(_median(runs, lambda r: r["stale"]["updates"]), ""),
        ],
        ["  … p50 / p99", ms(lambda r: r["stale"]["p50"]) + " / " + ms(lambda r: r["stale"]["p99"])],
        [
            "  … longest stale (never shown by the end)",
            _show(stale, "ms", 1000) + f" ({sum(r['stale']['unshown'] for r in runs)})",
        ],
        [
            "key press → render under the changes, p50 / p99",
            ms(p("load", 50)) + " / " + _show(key_p99, "ms", 1000, 1),
        ],
        [
            "bulk cancel: jobs; C → question with the count",
            _show(_median(runs, lambda r: r["bulk"]["jobs"]), "")
            + "; "
            + _show(_median(runs, lambda r: r["bulk"]["count_s"]), "s", digits=2),
        ],
        [
            "  … the action (enter → every job cancelled)",
            _show(_median(runs, lambda r: r["bulk"]["run_s"]), "s", digits=1),
        ],
        [
            "  … key press → render during it, p50 / p99",
            ms(p("bulk", 50)) + " / " + _show(bulk_p99, "ms", 1000, 1),
        ],
        [
            "  … key presses measured during it",
            _show(_median(runs, lambda r: r["bulk"]["pressed_during_run"]), ""),
        ],
        ["key presses missed (no frame within 5 s)", str(missed)],
    ]
    console.print(table(f"Dashboard on {jobs:,} jobs", ["measure", "value"], rows))
    checks = [
        (f"first paint, {jobs:,} jobs", _show(paint, "ms", 1000), "≤ 1000 ms", paint[0] <= 1.0),
        (f"peak RSS, {jobs:,} jobs", _show(peak, "MB"), "≤ 150 MB", peak[0] <= 150),
        (
            f"key → render p99, {rate:,.0f} events/s",
            _show(key_p99, "ms", 1000, 1),
            "≤ 50 ms",
            key_p99[0] <= 0.05,
        ),
        (
            "key → render p99, during a bulk cancel",
            _show(bulk_p99, "ms", 1000, 1),
            "≤ 50 ms",
            bulk_p99[0] <= 0.05,
        ),
        (
            f"longest stale frame, {rate:,.0f} events/s",
            _show(stale, "ms", 1000),
            "≤ 1000 ms",
            stale[0] <= 1.0,
        ),
        ("no key press missed", str(missed), "0", missed == 0),
    ]
    if paints:
        big = _median(paints, lambda r: r["first_paint_s"])
        big_peak = _median(paints, _peak)
        console.print(
            table(
                f"Dashboard on {paint_jobs:,} jobs",
                ["measure", "value"],
                [
                    ["time to first paint (app start → jobs table shown)", _show(big, "ms", 1000)],
                    [
                        "  … from process start",
                        _show(_median(paints, lambda r: r["first_paint_from_process_s"]), "ms", 1000),
                    ],
                    ["peak RSS (VmHWM)", _show(big_peak, "MB")],
                ],
            )
        )
        checks.insert(
            2, (f"first paint, {paint_jobs:,} jobs", _show(big, "ms", 1000), "≤ 1000 ms", big[0] <= 1.0)
        )
        checks.insert(
            3, (f"peak RSS, {paint_jobs:,} jobs", _show(big_peak, "MB"), "≤ 150 MB", big_peak[0] <= 150)
        )
    console.print(targets("Targets (median of the runs)", checks))


def role_main(args: argparse.Namespace) -> None:
    """The hidden ``--role`` entry points of the child processes."""
    from . import tui_changes, tui_dash

    if args.role == "writer":
        tui_changes.writer_main(Path(args.db), args.rate)
    elif args.role == "paint":
        tui_dash.paint_main(Path(args.db), args.process_start)
    else:
        tui_dash.dashboard_main(
            Path(args.db), args.presses, args.rate, args.stale_seconds, args.process_start
        )
