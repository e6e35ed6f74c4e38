"""``python -m bench {throughput,latency,mongo,tui}`` (see bench/__init__.py)."""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()  # before the heavy imports (the tui benchmark's child uses it)

import argparse  # noqa: E402
import sys  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("throughput", help="no-op jobs end to end: queuecore vs Huey (SQLite)")
    p.add_argument("--jobs", type=int, default=3000, help="jobs per run (default 3000)")
    p.add_argument("--workers", type=int, default=4, help="workers per system (default 4)")
    p.add_argument("--mode", choices=["phased", "concurrent", "both"], default="both")
    p.add_argument("--repeat", type=int, default=1, help="runs per system and mode; the median is shown")

    p = commands.add_parser("latency", help="enqueue → handler start on an idle queue, vs 100 ms polling")
    p.add_argument("--samples", type=int, default=100, help="jobs per design (default 100)")
    p.add_argument("--workers", type=int, default=2, help="workers (default 2, the original's default)")

    p = commands.add_parser("mongo", help="database commands per successful job on the MongoDB engine")
    p.add_argument("--jobs", type=int, default=200, help="measured jobs (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="jobs before counting starts (default 20)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--uri", default=None, help="a real MongoDB (default: start nx-27017 like the tests)")

    p = commands.add_parser(
        "tui", help="the dashboard: first paint, RSS, key latency, stale frames, bulk action"
    )
    p.add_argument("--jobs", type=int, default=100_000, help="jobs in the collection (default 100,000)")
    p.add_argument("--presses", type=int, default=60, help="key presses measured under changes (default 60)")
    p.add_argument("--rate", type=float, default=1000.0, help="change events per second (default 1000)")
    p.add_argument(
        "--stale-seconds", type=float, default=8.0, help="seconds of changes with no key (default 8)"
    )
    p.add_argument(
        "--paint-jobs",
        type=int,
        default=1_000_000,
        help="jobs of the first-paint store (default 1,000,000; 0: none)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs of each process; the median is shown")
    p.add_argument("--role", choices=["writer", "dashboard", "paint"], help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)

    args = parser.parse_args(argv)
    if args.command == "throughput":
        from . import throughput

        modes = ("phased", "concurrent") if args.mode == "both" else (args.mode,)
        throughput.run(args.jobs, args.workers, modes, max(1, args.repeat))
    elif args.command == "latency":
        from . import latency

        latency.run(args.samples, args.workers)
    elif args.command == "mongo":
        from . import mongo

        mongo.run(args.jobs, args.warmup, args.workers, args.uri)
    elif args.command == "tui":
        from . import tui

        if args.role:
            args.process_start = PROCESS_START
            tui.role_main(args)
        else:
            tui.run(
                args.jobs, args.presses, args.rate, args.paint_jobs, max(1, args.repeat), args.stale_seconds
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
