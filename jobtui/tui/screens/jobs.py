"""The jobs screen: summary, filters, the live table and (with ``--workers``) the workers panel.

Besides the live table it owns two bits of operator state: the *marks* (``space``;
a set of job ids that survives updates, reloads and filter changes — bulk actions
act on them) and the *pause* (``p``; the table stops changing for reading while
the model keeps following the store, and the changes are shown on resume).

The order of the rows is the model's sort, server-side (``shift`` + a column's letter, or
``:sort``; again the same key reverses it). Jobs arriving above the viewport are counted
in the filter bar ("▲ N newer", ``g``/``home`` jumps to them); ``f`` follows the newest
row (the cursor stays on the first row until a key moves it away).

The model's changes reach the table at a capped rate, and not while paused
(:mod:`.table_updates`); the screen's keys are :mod:`.jobs_keys`'.
"""

from __future__ import annotations

from bson import ObjectId
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
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
from .jobs_keys import JOBS_BINDINGS, OPENS_INPUT, READ_ONLY_HIDDEN
from .table_updates import TableUpdates


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

    BINDINGS = JOBS_BINDINGS

    class Changed(Message):
        """The live model changed (posted by the app's watch worker)."""

        def __init__(self, delta: Delta) -> None:
            super().__init__()
            self.delta = delta

    def __init__(self) -> None:
        super().__init__()
        #: Marked job ids (row keys); shared with the table, which shows them.
        self.marks = Marks()
        #: The model's changes on their way to the table (rate-capped; held while paused).
        self.updates = TableUpdates(self)
        self._ready = False  # composed and mounted: the app's clock may fire before that

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
    def frozen(self) -> dict[ObjectId, Job] | None:
        """While paused: the jobs as the table shows them (None when not paused)."""
        return self.updates.frozen

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
                paused=self.updates.pending if self.paused else None,
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
        self.updates.add(message.delta)

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
        if self.frozen is None:
            self.updates.freeze()
        else:
            self.updates.resume()
        self.render_state()

    def resume(self) -> None:
        """Leave the pause: show everything that changed meanwhile."""
        if self.frozen is not None:
            self.updates.resume()
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
