"""The ``:`` command line of the jobs screen: ``status``, ``name``, ``sort``, ``filter``, ``save``,
``clear``, ``audit``, ``workers``, ``help``, ``q``.

:meth:`CommandLine.run` returns the problem to show under the input (the input stays open
then) or None when the command was done. ``:filter NAME`` applies a filter saved in the
config file's ``[filters]``; ``:save NAME`` writes the current one there.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from queuecore import Status
from queuecore.query import QueryError
from queuecore.sort import NAMES as SORT_NAMES
from queuecore.sort import NEWEST, Sort, SortError

from ..config import ConfigError, save_filter
from ..view import STATUS_ORDER, Filter

if TYPE_CHECKING:
    from .app import JobTUI

#: The words of the ``:`` command line.
COMMANDS = ("status", "name", "sort", "filter", "save", "clear", "audit", "workers", "help", "q", "quit")


class CommandLine:
    """Runs the ``:`` commands on the app's filter, sort and screens."""

    def __init__(self, app: JobTUI) -> None:
        self.app = app

    def words(self) -> list[str]:
        """Suggestions for the ``:`` input."""
        words = [w for w in COMMANDS if w != "quit"]
        words += [f"filter {name}" for name in sorted(self.app.config.filters)]
        words += [f"status {s}" for s in STATUS_ORDER]
        words += [f"sort {name}" for name in SORT_NAMES]
        return words

    def run(self, line: str) -> str | None:
        """Run a ``:`` command; returns the problem to show under the input, or None when done."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"cannot read the command: {exc}"
        if not words:
            return None
        command, args = words[0].lower().lstrip(":"), words[1:]
        screen = self.app.jobs_screen
        model = self.app.model
        if command in ("q", "quit"):
            self.app.call_later(self.app.action_quit)
            return None
        if command == "help":
            self.app.action_help()
            return None
        if command == "audit":
            self.app.open_audit()
            return None
        if command == "workers":
            if screen is None or not screen.focus_workers():
                return "no workers run in this dashboard (start it with --workers MODULE)"
            return None
        if command not in COMMANDS:
            known = "status, name, sort, filter, save, clear, audit, workers, help, q"
            return f"unknown command {command!r}; try: {known}"
        if model is None:
            return "not connected to a store yet"
        current = self.app.wanted_filter
        if command == "clear":
            self.app.apply_filter(Filter())
            return None
        if command == "status":
            values = [v.strip().lower() for a in args for v in a.split(",") if v.strip()]
            if values in ([], ["all"]):
                self.app.apply_filter(current.all_statuses())
                return None
            unknown = [v for v in values if v not in STATUS_ORDER and v != Status.DEQUEUED.value]
            if unknown:
                return f"unknown status {unknown[0]!r}; expected {', '.join(STATUS_ORDER)} or all"
            self.app.apply_filter(Filter(frozenset(values), current.name, current.text, current.parsed))
            return None
        if command == "name":
            self.app.apply_filter(Filter(current.statuses, " ".join(args), current.text, current.parsed))
            return None
        if command == "filter":
            return self._apply_saved(args)
        if command == "sort":
            return self._sort(args)
        return self._save_filter(args, model.filter)

    def _sort(self, args: list[str]) -> str | None:
        """``:sort COLUMN [asc|desc]`` (``-COLUMN`` descending); ``:sort`` alone: newest first."""
        if not args:
            self.app.apply_sort(NEWEST)
            return None
        try:
            new = Sort.parse(" ".join(args))
        except SortError as exc:
            return f"{exc} — usage: sort COLUMN [asc|desc], sort alone: newest first"
        self.app.apply_sort(new)
        return None

    def apply_saved(self, name: str) -> None:
        """Apply the saved filter ``name`` (a problem becomes a notification)."""
        problem = self._apply_saved([name])
        if problem:
            self.app.notify(problem, severity="error")

    def _apply_saved(self, args: list[str]) -> str | None:
        saved = self.app.config.filters
        if len(args) != 1:
            names = ", ".join(sorted(saved)) or "none yet (:save NAME saves the current filter)"
            return f"usage: filter NAME — saved filters: {names}"
        name = args[0]
        if name not in saved:
            names = ", ".join(sorted(saved)) or "none yet"
            return f"no saved filter {name!r} (saved: {names})"
        try:
            new = Filter(text=saved[name])
        except QueryError as exc:
            return f"saved filter {name!r} in {self.app.config.path} is invalid: {exc}"
        self.app.apply_filter(new)
        self.app.notify(f"Filter {name}: {saved[name]}", timeout=4)
        return None

    def _save_filter(self, args: list[str], current: Filter) -> str | None:
        if len(args) != 1:
            return "usage: save NAME (letters, digits, - and _)"
        name, text = args[0], current.as_text()
        if not text:
            return "nothing to save: no filter is set"
        try:
            save_filter(self.app.config.path, name, text)
        except (ConfigError, OSError) as exc:
            return str(exc)
        self.app.config.filters[name] = text
        self.app.notify(f"Saved filter {name!r} ({text}) in {self.app.config.path}.")
        return None


__all__ = ["COMMANDS", "CommandLine"]
