"""The jobs screen: summary, filters, the live table and (with ``--workers``) the workers panel.

Besides the live table it owns two bits of operator state: the *marks* (``space``;
a set of job ids that survives updates, reloads and filter changes — bulk actions
act on them) and the *pause* (``p``; the table stops changing for reading while
the model keeps following the store, and the changes are shown on resume).

The order of the rows is the model's sort, server-side (``shift`` + a column's letter, or
``:sort``; again the same key reverses it). Jobs arriving above the viewport are counted
in the filter bar ("▲ N newer", ``g``/``home`` jumps to them); ``f`` follows the newest
row (the cursor stays on the first row until a key moves it away).

The model's changes reach the table at a capped rate: the first change after a quiet
spell is shown at once, later ones are merged and shown together at most every
``APPLY_INTERVAL`` seconds, so 1,000 change events per second cost ten table updates,
and key presses are not queued behind them.
"""

from __future__ import annotations

import time

from bson import ObjectId
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from queuecore import Job
from queuecore.query import QueryError
from queuecore.sort import SortField

from ... import format as fmt
from ...format import utcnow
from ...view import STATUS_ORDER, Delta, Filter
from ..host import BulkAction, CancelJob, Host, LoadMore, OpenAudit, OpenDetail, OpenEnqueue, RequeueJob, host
from ..marks import Marks
from ..widgets import FilterBar, FilterInput, JobsTable, SummaryBar, WorkersPanel
from ..widgets.chrome import AppFooter, AppHeader
from ..widgets.filters import ViewState

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
#: The table shows the model's changes at most this often (seconds).
APPLY_INTERVAL = 0.1
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


def query_problem(exc: QueryError) -> str:
    """A filter-language error for the line under the input (it names the position)."""
    return f"{exc} — the filter did not change"


def empty_hint(current: Filter, read_only: bool) -> str:
    """What to do when the table is empty: widen the filter, or add the first jobs."""
    if current != Filter():
        ways = ["0 shows every status"] if current.statuses else []
        ways += ["t changes the task"] if current.name else []
        ways += ["/ edits the text"] if current.text else []
        return "No job matches this filter — " + " · ".join([*ways, "x clears every filter"]) + "."
    if read_only:
        return "No jobs yet. They appear here as soon as something enqueues them."
    return "No jobs yet — n enqueues one · jobtui demo shows a lively example."


class JobsScreen(Screen[None]):
    """The main screen; it renders what the app's live model holds."""

    BINDINGS = [  # noqa: RUF012
        Binding("c", "cancel", "Cancel", id="cancel"),
        Binding("r", "requeue", "Requeue", id="requeue"),
        Binding("n", "enqueue", "New", id="enqueue"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("V,shift+space", "mark_range", "Mark range: last mark to here", show=False, id="mark-range"),
        Binding("u", "clear_marks", "Unmark all", show=False, id="clear-marks"),
        Binding("C", "bulk_cancel", "Cancel marked/filter", key_display="C", show=False, id="bulk-cancel"),
        Binding(
            "R", "requeue_failed", "Requeue marked/failed", key_display="R", show=False, id="bulk-requeue"
        ),
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

    class Changed(Message):
        """The live model changed (posted by the app's watch worker)."""

        def __init__(self, delta: Delta) -> None:
            super().__init__()
            self.delta = delta

    def __init__(self) -> None:
        super().__init__()
        #: Marked job ids (row keys); shared with the table, which shows them.
        self.marks = Marks()
        #: While paused: the jobs as the table shows them (None when not paused).
        self.frozen: dict[ObjectId, Job] | None = None
        self._pending = 0
        self._ready = False  # composed and mounted: the app's clock may fire before that
        #: Changes of the model not shown yet (merged), and the timer that will show them.
        self._queued: Delta | None = None
        self._apply_timer: Timer | None = None
        self._applied_at = float("-inf")

    @property
    def tui(self) -> Host:
        """The app, as screens see it (:mod:`jobtui.tui.host`)."""
        return host(self)

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield SummaryBar(id="summary")
        yield FilterBar(id="filters")
        yield JobsTable(id="jobs")
        yield Static(id="empty-hint")
        yield WorkersPanel(id="workers")
        yield AppFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#workers", WorkersPanel).display = False
        self.table.marked = self.marks
        self.table.position = self._position
        self.table.focus()
        self._ready = True
        self.render_state()

    # -- rendering ------------------------------------------------------------

    @property
    def table(self) -> JobsTable:
        """The jobs table."""
        return self.query_one("#jobs", JobsTable)

    @property
    def filter_bar(self) -> FilterBar:
        """The filter bar."""
        return self.query_one("#filters", FilterBar)

    @property
    def paused(self) -> bool:
        """Whether the table is frozen (``p``)."""
        return self.frozen is not None

    def on_resize(self) -> None:
        # the bars choose short names when the terminal is narrow: choose again
        self.call_after_refresh(self.render_state)

    def render_state(self) -> None:
        """Refresh summary and filter bar from the model."""
        if not self._ready:
            return
        model = self.tui.model
        self.query_one("#summary", SummaryBar).show(
            model, self.tui.display_uri, self.table.behind(), paused=self.paused
        )
        hint = self.query_one("#empty-hint", Static)
        hint.display = model is not None and model.loaded and not len(model) and self.frozen is None
        self.set_class(hint.display, "-empty")  # the table shrinks to its header, the hint under it
        if model is not None:
            if hint.display:
                fmt.set_content(hint, empty_hint(model.filter, self.tui.read_only))
            shown = len(self.frozen) if self.frozen is not None else len(model)
            self.filter_bar.show(
                model.filter,
                shown,
                model.exhausted,
                marked=len(self.marks),
                paused=self._pending if self.paused else None,
                view=self.view_state(),
            )

    def view_state(self) -> ViewState:
        """The order, follow mode and unseen arrivals, for the filter bar."""
        model, table = self.tui.model, self.table
        keys = self.tui.key_names
        return ViewState(
            sort=model.sort if model is not None else ViewState().sort,
            following=table.following,
            follow_stopped=table.follow_stopped,
            unseen=len(table.unseen),
            jump=keys("top", "g/home"),
            follow=keys("follow", "f"),
            searching=self.tui.search_shown,
        )

    def _position(self, id: ObjectId) -> int | None:
        """The row of job ``id`` in the model's order (the table sorts its rows by it)."""
        model = self.tui.model
        return model.index(id) if model is not None else None

    def on_jobs_table_view_changed(self, _: JobsTable.ViewChanged) -> None:
        self.render_state()

    def on_jobs_screen_changed(self, message: Changed) -> None:
        """Queue the model's changes; show them now or at the end of the current interval.

        A reload (a filter change, a reconnect) is shown at once.
        """
        if self._queued is None:
            self._queued = Delta()
        self._queued.merge(message.delta)
        wait = self._applied_at + APPLY_INTERVAL - time.monotonic()
        if wait <= 0 or message.delta.reloaded:
            self._apply_queued()
        elif self._apply_timer is None:
            self._apply_timer = self.set_timer(wait, self._apply_queued, name="jobtui-apply")

    def _apply_queued(self) -> None:
        """Show the queued changes of the model in one table update."""
        if self._apply_timer is not None:
            self._apply_timer.stop()
            self._apply_timer = None
        delta, self._queued = self._queued, None
        model = self.tui.model
        if delta is None or model is None:
            return
        self._applied_at = time.monotonic()
        try:
            if self.frozen is not None:
                self._count_pending()
            elif delta.reloaded:
                self._show_all(arrivals=not delta.refiltered)
            elif delta.changed:
                self.table.sync({str(i): model.get(i) for i in delta.changed}, utcnow(), delta.added)
            self.render_state()
        except NoMatches:  # the app is closing: its widgets went before this timer
            return

    def _show_all(self, arrivals: bool = True) -> None:
        """Make the table show exactly the model's window (in its order). ``arrivals``: rows
        new to the table arrived (a reset, a resume) rather than being a new selection."""
        model = self.tui.model
        if model is None:
            return
        table = self.table
        jobs = model.ordered()
        wanted = {str(j.id): j for j in jobs}
        shown = table.keys()
        changed: dict[str, Job | None] = {k: None for k in shown if k not in wanted}
        kept = [k for k in shown if k in wanted]
        added = any(k not in table._cells for k in wanted) or kept != [k for k in wanted if k in table._cells]
        changed.update(wanted)
        table.sync(changed, utcnow(), added, arrivals=arrivals)

    def _count_pending(self) -> None:
        """How many rows differ between the frozen table and the model (added, gone, changed)."""
        model = self.tui.model
        if model is None or self.frozen is None:
            return
        frozen, now = self.frozen, model.jobs
        gone = len(frozen.keys() - now.keys())
        self._pending = gone + sum(1 for id, job in now.items() if frozen.get(id) != job)

    def tick(self) -> None:
        """Clock-driven refresh (ages, countdowns, run times, stalls, counts, workers)."""
        if not self._ready:
            return
        try:
            model = self.tui.model
            if model is not None and not self.paused:
                self.table.tick({str(j.id): j for j in model.jobs.values()}, utcnow())
            self.render_state()
            queue = self.tui.queue
            panel = self.query_one("#workers", WorkersPanel)
            if queue is not None:
                panel.display = True
                panel.show(queue.stats())
        except NoMatches:  # the app is closing: its widgets went before the clock stopped
            return

    def on_unmount(self) -> None:
        self._ready = False

    def current_job(self) -> Job | None:
        """The job under the cursor (from the model, or as frozen while paused), or None."""
        key = self.table.current_id
        model = self.tui.model
        if key is None or model is None:
            return None
        job = model.get(ObjectId(key))
        if job is None and self.frozen is not None:
            job = self.frozen.get(ObjectId(key))
        return job

    # -- actions --------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in READ_ONLY_HIDDEN and self.tui.read_only:
            return False
        if action in OPENS_INPUT and isinstance(self.focused, Input):
            return False  # the key is typed into the input instead
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "jobs" and event.row_key.value is not None:
            self.post_message(OpenDetail(ObjectId(event.row_key.value)))

    def on_jobs_table_near_end(self, _: JobsTable.NearEnd) -> None:
        if not self.paused:
            self.post_message(LoadMore())

    def action_cancel(self) -> None:
        job = self.current_job()
        if job is None:
            self.notify("No job selected.", severity="warning")
            return
        self.post_message(CancelJob(job))

    def action_requeue(self) -> None:
        job = self.current_job()
        if job is None:
            self.notify("No job selected.", severity="warning")
            return
        self.post_message(RequeueJob(job))

    def action_enqueue(self) -> None:
        self.post_message(OpenEnqueue())

    def action_requeue_failed(self) -> None:
        self.post_message(BulkAction("requeue"))

    def action_bulk_cancel(self) -> None:
        self.post_message(BulkAction("cancel"))

    def action_mark(self) -> None:
        """Mark or unmark the row under the cursor, then move down (k9s)."""
        key = self.table.current_id
        if key is not None:
            self.marks.toggle(key)
            self.table.show_mark(key)
            self.table.action_cursor_down()
            self.render_state()

    def action_mark_range(self) -> None:
        """Mark every row from the last mark to the cursor (``V``, ``shift+space``)."""
        key = self.table.current_id
        if key is not None:
            for marked in self.marks.span(self.table.keys(), key):
                self.table.show_mark(marked)
            self.render_state()

    def action_clear_marks(self) -> None:
        """Unmark every row."""
        self.unmark(list(self.marks))

    def unmark(self, keys: list[str]) -> None:
        """Remove these marks (after a bulk action on them)."""
        for key in keys:
            self.marks.discard(key)
            self.table.show_mark(key)
        self.render_state()

    def action_toggle_freeze(self) -> None:
        """Pause the table for reading (changes are counted), or resume and apply them."""
        model = self.tui.model
        if self.frozen is None:
            if model is None:
                return
            self._apply_queued()  # the table shows the model's latest changes: freeze exactly that
            self.frozen = dict(model.jobs)
            self._pending = 0
        else:
            self.resume()
        self.render_state()

    def resume(self) -> None:
        """Leave the pause: show everything that changed meanwhile."""
        if self.frozen is None:
            return
        self.frozen = None
        self._pending = 0
        self._show_all()
        model = self.tui.model
        if model is not None:
            self.table.tick({str(j.id): j for j in model.jobs.values()}, utcnow())
        self.render_state()

    def action_audit(self) -> None:
        self.post_message(OpenAudit())

    def action_toggle_follow(self) -> None:
        """Follow the newest row (the cursor stays on the first row as jobs arrive), or stop."""
        self.table.follow(not self.table.following)
        self.render_state()

    def action_sort(self, field: str) -> None:
        """Sort by ``field`` (its default direction), or reverse the order when sorted by it."""
        model = self.tui.model
        if model is not None:
            self.tui.apply_sort(model.sort.toggled(SortField(field)))

    def action_toggle_status(self, index: int) -> None:
        if self.tui.model is not None:  # a key typed while a filter loads changes that one
            self.tui.apply_filter(self.tui.wanted_filter.toggle(STATUS_ORDER[index]))

    def action_all_statuses(self) -> None:
        if self.tui.model is not None:
            self.tui.apply_filter(self.tui.wanted_filter.all_statuses())

    def action_clear_filters(self) -> None:
        self.tui.apply_filter(Filter())

    def action_search(self) -> None:
        self.filter_bar.edit("text", self.tui.wanted_filter.text)

    def action_command_line(self) -> None:
        self.filter_bar.edit("command", "", self.tui.command_line.words())

    def action_task_filter(self) -> None:
        model = self.tui.model
        names = sorted(model.names) if model else []
        self.filter_bar.edit("name", self.tui.wanted_filter.name, names)

    def action_focus_workers(self) -> None:
        panel = self.query_one("#workers", WorkersPanel)
        if not panel.display:
            self.notify("No workers run in this dashboard (start it with --workers MODULE).")
            return
        (self.table if panel.has_focus else panel).focus()

    def focus_workers(self) -> bool:
        """Focus the workers panel; False when there is none."""
        panel = self.query_one("#workers", WorkersPanel)
        if not panel.display:
            return False
        panel.focus()
        return True

    def on_input_submitted(self, event: FilterInput.Submitted) -> None:
        if not isinstance(event.input, FilterInput):
            return
        model = self.tui.model
        bar = self.filter_bar
        value = event.value.strip()
        if event.input.field == "command":
            problem = self.tui.command_line.run(value)
            if problem:
                bar.problem(problem)
                return
            bar.close()
            if self.focused is None or isinstance(self.focused, FilterInput):
                self.table.focus()
            return
        if model is None:
            bar.close()
            self.table.focus()
            return
        current = self.tui.wanted_filter
        if event.input.field == "text":
            try:
                new = current.with_text(value)
            except QueryError as exc:
                bar.problem(query_problem(exc))
                return
        else:
            new = Filter(current.statuses, value, current.text, current.parsed)
        bar.close()
        self.table.focus()
        self.tui.apply_filter(new)

    def on_filter_input_dismissed(self, _: FilterInput.Dismissed) -> None:
        self.filter_bar.close()
        self.table.focus()
