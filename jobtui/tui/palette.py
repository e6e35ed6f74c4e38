"""The command palette (``ctrl+p``): every action of the dashboard by name.

Textual's own commands come first (``JobTUI.get_system_commands``); then help and the audit
log, and — once connected — the jobs screen's actions (those that change jobs left out in
read-only mode), a toggle per status, the saved filters and, with hosted workers, the
workers panel.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from ..view import STATUS_ORDER

if TYPE_CHECKING:
    from .app import JobTUI


def system_commands(app: JobTUI) -> Iterable[SystemCommand]:
    """The dashboard's own palette commands."""
    jobs = app.jobs_screen
    yield SystemCommand("Help: keys", "List every key", app.action_help)
    yield SystemCommand("Audit log", "Who did what, from the TUI and the CLI", app.open_audit)
    if jobs is not None and app.model is not None:
        if not app.read_only:
            yield SystemCommand("Enqueue a job", "Open the enqueue form", app.operator.enqueue)
            yield SystemCommand("Cancel the selected job", "Cancel (confirm)", jobs.action_cancel)
            yield SystemCommand(
                "Re-enqueue the selected job", "Failed/cancelled/completed", jobs.action_requeue
            )
            yield SystemCommand(
                "Re-enqueue all failed jobs in this filter",
                "Or the marked jobs; asks with the count",
                app.operator.requeue_failed,
            )
            yield SystemCommand(
                "Cancel the marked jobs, or all in this filter",
                "Asks with the count",
                jobs.action_bulk_cancel,
            )
            yield SystemCommand("Mark or unmark the selected job", "For bulk actions", jobs.action_mark)
            yield SystemCommand("Unmark all jobs", "Clear the marks", jobs.action_clear_marks)
        yield SystemCommand("Search jobs", "The filter language (/)", jobs.action_search)
        yield SystemCommand(
            "Command line", "status, name, filter, save, audit… (:)", jobs.action_command_line
        )
        yield SystemCommand("Filter by task name", "Exact task name", jobs.action_task_filter)
        yield SystemCommand(
            "Pause or resume the view", "Freeze the table for reading", jobs.action_toggle_freeze
        )
        yield SystemCommand("Show all statuses", "Clear the status filter", jobs.action_all_statuses)
        yield SystemCommand("Clear all filters", "Statuses, task and text", jobs.action_clear_filters)
        for index, status in enumerate(STATUS_ORDER):
            yield SystemCommand(
                f"Toggle status: {status}",
                f"Key {index + 1}",
                lambda i=index: jobs.action_toggle_status(i),
            )
        for name, text in sorted(app.config.filters.items()):
            yield SystemCommand(f"Saved filter: {name}", text, lambda n=name: app.command_line.apply_saved(n))
        if app.queue is not None:
            yield SystemCommand("Focus the workers panel", "Then p, +, -", jobs.action_focus_workers)


__all__ = ["system_commands"]
