"""Shared helpers of the benchmarks: the machine line, percentiles, rich tables, verdicts."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
if not console.is_terminal:  # piped or captured: wide enough for the tables
    console = Console(width=140)


def machine() -> str:
    """One line naming the machine: cores, Python, OS, SQLite."""
    debian = Path("/etc/debian_version")
    system = f"Debian {debian.read_text().strip()}" if debian.exists() else platform.platform()
    return (
        f"{os.cpu_count()} cores · Python {platform.python_version()} · {system} · "
        f"SQLite {sqlite3.sqlite_version} · {platform.machine()}"
    )


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) by the nearest-rank method (no interpolation)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def verdict(ok: bool | None) -> Text:
    """``met`` / ``not met`` (``n/a`` when there is no target)."""
    if ok is None:
        return Text("n/a", style="dim")
    return Text("met", style="bold green") if ok else Text("not met", style="bold red")


def table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str = "", left: int = 1
) -> Table:
    """A rich table; the first ``left`` columns are left-aligned, the others right-aligned."""
    out = Table(title=title, caption=caption or None, title_justify="left", caption_justify="left")
    for index, column in enumerate(columns):
        out.add_column(column, justify="left" if index < left else "right", no_wrap=index == 0)
    for row in rows:
        out.add_row(*(cell if isinstance(cell, Text) else str(cell) for cell in row))
    return out


def targets(title: str, rows: Sequence[tuple[str, str, str, bool | None]]) -> Table:
    """The targets table: what, measured, target, verdict."""
    out = Table(title=title, title_justify="left")
    out.add_column("target")
    out.add_column("measured", justify="right")
    out.add_column("wanted", justify="right")
    out.add_column("", justify="left")
    for what, measured, wanted, ok in rows:
        out.add_row(what, measured, wanted, verdict(ok))
    return out


def header(name: str, method: str) -> None:
    """Print the benchmark's name, the machine and a one-line method."""
    console.rule(f"[bold]bench {name}")
    console.print(f"[dim]machine:[/] {machine()}")
    console.print(f"[dim]command:[/] python -m bench {' '.join(sys.argv[1:])}")
    console.print(f"[dim]method:[/] {method}")
