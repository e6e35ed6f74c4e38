"""The jobs screen's keys: its bindings, and which actions read-only mode hides.

Kept apart from the screen's behaviour (:mod:`.jobs`): the key table is data that the app's
read-only gate and the help screen read too (the app's own keys are :mod:`jobtui.tui.keymap`'s).
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

from queuecore.sort import SortField

#: Actions that change jobs or workers (disabled and hidden in read-only mode).
MUTATING = frozenset(
    {"cancel", "requeue", "enqueue", "requeue_failed", "bulk_cancel", "toggle_pause", "scale"}
)
#: Everything hidden in read-only mode: the mutating actions and the marks that feed them.
READ_ONLY_HIDDEN = MUTATING | {"mark", "mark_range", "clear_marks"}
#: Actions that open a filter input. Their keys are priority bindings: the input opens (and
#: takes the focus) before the next key is dispatched, so keys typed in one burst with the
#: ``/`` land in the input, not in the table. While an input has the focus they are typed.
OPENS_INPUT = frozenset({"search", "command_line", "task_filter"})
#: Sort keys: ``shift`` + a letter of the column, as in k9s (again: the other direction).
SORT_KEYS: tuple[tuple[str, SortField, str], ...] = (
    ("O", SortField.CREATED, "Sort by age (newest/oldest first)"),
    ("N", SortField.NAME, "Sort by task name"),
    ("L", SortField.LABEL, "Sort by label"),
    ("S", SortField.STATUS, "Sort by status"),
    ("T", SortField.ATTEMPTS, "Sort by attempts (tries)"),
    ("I", SortField.AVAILABLE, "Sort by available time (avail in)"),
    ("B", SortField.STARTED, "Sort by start time (began)"),
    ("E", SortField.ENDED, "Sort by end time"),
)


#: The jobs screen's bindings (their ids are what the config's ``[keys]`` remaps).
JOBS_BINDINGS: list[BindingType] = [
    Binding("c", "cancel", "Cancel", id="cancel"),
    Binding("r", "requeue", "Requeue", id="requeue"),
    Binding("n", "enqueue", "New", id="enqueue"),
    Binding("space", "mark", "Mark", id="mark"),
    Binding("V,shift+space", "mark_range", "Mark range: last mark to here", show=False, id="mark-range"),
    Binding("u", "clear_marks", "Unmark all", show=False, id="clear-marks"),
    Binding("C", "bulk_cancel", "Cancel marked/filter", key_display="C", show=False, id="bulk-cancel"),
    Binding("R", "requeue_failed", "Requeue marked/failed", key_display="R", show=False, id="bulk-requeue"),
    Binding("slash", "search", "Search", key_display="/", id="search", priority=True),
    Binding("colon", "command_line", "Command", key_display=":", id="command", priority=True),
    Binding("p", "toggle_freeze", "Pause view", id="pause-view"),
    Binding("A", "audit", "Audit log", key_display="A", show=False, id="audit"),
    Binding("t", "task_filter", "Task filter", show=False, id="task-filter", priority=True),
    Binding("1", "toggle_status(0)", "Enqueued", show=False, id="status-enqueued"),
    Binding("2", "toggle_status(1)", "Running", show=False, id="status-running"),
    Binding("3", "toggle_status(2)", "Completed", show=False, id="status-completed"),
    Binding("4", "toggle_status(3)", "Failed", show=False, id="status-failed"),
    Binding("5", "toggle_status(4)", "Cancelled", show=False, id="status-cancelled"),
    Binding("6", "toggle_status(5)", "Stalled", show=False, id="status-stalled"),
    Binding("0", "all_statuses", "All statuses", show=False, id="status-all"),
    Binding("x", "clear_filters", "Clear filters", show=False, id="clear-filters"),
    Binding("w", "focus_workers", "Workers", show=False, id="focus-workers"),
    Binding("f", "toggle_follow", "Follow newest", show=False, id="follow"),
    *(
        Binding(key, f"sort('{f.value}')", what, key_display=key, show=False, id=f"sort-{f.value}")
        for key, f, what in SORT_KEYS
    ),
]
