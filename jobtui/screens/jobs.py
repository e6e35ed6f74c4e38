"""The jobs screen: summary, filters, the live table and (with ``--workers``) the workers panel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bson import ObjectId
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from queuecore import Job

from ..live import STATUS_ORDER, Delta, Filter
from ..widgets import FilterBar, FilterInput, JobsTable, SummaryBar, WorkersPanel
from ..widgets.format import utcnow

if TYPE_CHECKING:
    from ..app import JobTUI

#: Actions that change jobs or workers (disabled and hidden in read-only mode).
MUTATING = frozenset({"cancel", "requeue", "enqueue", "requeue_failed", "toggle_pause", "scale"})


class JobsScreen(Screen[None]):
    """The main screen; it renders what the app's live model holds."""

    BINDINGS = [  # noqa: RUF012
        Binding("c", "cancel", "Cancel", id="cancel"),
        Binding("r", "requeue", "Requeue", id="requeue"),
        Binding("n", "enqueue", "New", id="enqueue"),
        Binding("R", "requeue_failed", "Requeue failed", key_display="R", id="requeue-failed"),
        Binding("slash", "search", "Search", key_display="/", id="search"),
        Binding("t", "task_filter", "Task filter", show=False, id="task-filter"),
        Binding("1", "toggle_status(0)", "Enqueued", show=False, id="status-enqueued"),
        Binding("2", "toggle_status(1)", "Running", show=False, id="status-dequeued"),
        Binding("3", "toggle_status(2)", "Completed", show=False, id="status-completed"),
        Binding("4", "toggle_status(3)", "Failed", show=False, id="status-failed"),
        Binding("5", "toggle_status(4)", "Cancelled", show=False, id="status-cancelled"),
        Binding("0", "all_statuses", "All statuses", show=False, id="status-all"),
        Binding("x", "clear_filters", "Clear filters", show=False, id="clear-filters"),
        Binding("w", "focus_workers", "Workers", show=False, id="focus-workers"),
    ]

    class Changed(Message):
        """The live model changed (posted by the app's watch worker)."""

        def __init__(self, delta: Delta) -> None:
            super().__init__()
            self.delta = delta

    @property
    def tui(self) -> JobTUI:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield SummaryBar(id="summary")
        yield FilterBar(id="filters")
        yield JobsTable(id="jobs")
        yield WorkersPanel(id="workers")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#workers", WorkersPanel).display = False
        self.query_one("#jobs", JobsTable).focus()
        self.render_state()

    # -- rendering ------------------------------------------------------------

    @property
    def table(self) -> JobsTable:
        """The jobs table."""
        return self.query_one("#jobs", JobsTable)

    def render_state(self) -> None:
        """Refresh summary and filter bar from the model."""
        model = self.tui.model
        self.query_one("#summary", SummaryBar).show(model, self.tui.display_uri)
        if model is not None:
            self.query_one("#filters", FilterBar).show(model.filter, len(model), model.exhausted)

    def on_jobs_screen_changed(self, message: Changed) -> None:
        model = self.tui.model
        if model is None:
            return
        table = self.table
        now = utcnow()
        if message.delta.reloaded:
            jobs = model.ordered()
            wanted = {str(j.id): j for j in jobs}
            changed: dict[str, Job | None] = {k: None for k in table.keys() if k not in wanted}
            added = any(k not in table._cells for k in wanted)
            changed.update(wanted)
            table.sync(changed, now, added)
        elif message.delta.changed:
            table.sync({str(i): model.get(i) for i in message.delta.changed}, now, message.delta.added)
        self.render_state()

    def tick(self) -> None:
        """Clock-driven refresh (ages, countdowns, run times, counts, workers)."""
        model = self.tui.model
        if model is not None:
            self.table.tick({str(j.id): j for j in model.jobs.values()}, utcnow())
        self.render_state()
        queue = self.tui.queue
        panel = self.query_one("#workers", WorkersPanel)
        if queue is not None:
            panel.display = True
            panel.show(queue.stats())

    def current_job(self) -> Job | None:
        """The job under the cursor (from the model), or None."""
        key = self.table.current_id
        model = self.tui.model
        if key is None or model is None:
            return None
        return model.get(ObjectId(key))

    # -- actions --------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING and self.tui.read_only:
            return False
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "jobs" and event.row_key.value is not None:
            self.tui.open_detail(ObjectId(event.row_key.value))

    def on_jobs_table_near_end(self, _: JobsTable.NearEnd) -> None:
        self.tui.load_more()

    def action_cancel(self) -> None:
        job = self.current_job()
        if job is None:
            self.notify("No job selected.", severity="warning")
            return
        self.tui.request_cancel(job)

    def action_requeue(self) -> None:
        job = self.current_job()
        if job is None:
            self.notify("No job selected.", severity="warning")
            return
        self.tui.request_requeue(job)

    def action_enqueue(self) -> None:
        self.tui.open_enqueue()

    def action_requeue_failed(self) -> None:
        self.tui.request_requeue_failed()

    def action_toggle_status(self, index: int) -> None:
        model = self.tui.model
        if model is not None:
            self.tui.apply_filter(model.filter.toggle(STATUS_ORDER[index]))

    def action_all_statuses(self) -> None:
        model = self.tui.model
        if model is not None:
            self.tui.apply_filter(model.filter.all_statuses())

    def action_clear_filters(self) -> None:
        self.tui.apply_filter(Filter())

    def action_search(self) -> None:
        model = self.tui.model
        self.query_one("#filters", FilterBar).edit("text", model.filter.text if model else "")

    def action_task_filter(self) -> None:
        model = self.tui.model
        names = sorted(model.names) if model else []
        self.query_one("#filters", FilterBar).edit("name", model.filter.name if model else "", names)

    def action_focus_workers(self) -> None:
        panel = self.query_one("#workers", WorkersPanel)
        if not panel.display:
            self.notify("No workers run in this dashboard (start it with --workers MODULE).")
            return
        (self.table if panel.has_focus else panel).focus()

    def on_input_submitted(self, event: FilterInput.Submitted) -> None:
        if not isinstance(event.input, FilterInput):
            return
        model = self.tui.model
        bar = self.query_one("#filters", FilterBar)
        bar.close()
        self.table.focus()
        if model is None:
            return
        value = event.value.strip()
        if event.input.field == "text":
            self.tui.apply_filter(Filter(model.filter.statuses, model.filter.name, value))
        else:
            self.tui.apply_filter(Filter(model.filter.statuses, value, model.filter.text))

    def on_filter_input_dismissed(self, _: FilterInput.Dismissed) -> None:
        self.query_one("#filters", FilterBar).close()
        self.table.focus()
