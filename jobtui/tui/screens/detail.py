"""``enter``: one job in full — data and result as JSON, timeline, attempts, history."""

from __future__ import annotations

from bson import ObjectId
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from queuecore import Job

from ... import format as fmt
from ... import present
from ..host import CancelJob, Host, RequeueJob, host
from ..widgets.chrome import AppFooter, AppHeader


def _json(value: object) -> Syntax:
    return Syntax(fmt.to_json(value), "json", theme="ansi_dark", word_wrap=True, background_color="default")


class Timeline:
    """The job's five times: side by side when they fit the width, else one per line (on an
    80-column terminal side by side cuts every time to its date)."""

    def __init__(self, job: Job) -> None:
        self.times = {
            "created": fmt.when(job.created),
            "available": fmt.when(job.available),
            "started": fmt.when(job.started),
            "ended": fmt.when(job.ended),
            "finished": fmt.when(job.finished),
        }

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = Table(title="timeline", title_justify="left", box=None, padding=(0, 2))
        for column in self.times:
            wide.add_column(column, no_wrap=True)
        wide.add_row(*self.times.values())
        needed = Measurement.get(console, options.update_width(1000), wide).maximum  # (measures clamp)
        if needed <= options.max_width:
            yield wide
            return
        tall = Table(title="timeline", title_justify="left", box=None, padding=(0, 2), show_header=False)
        tall.add_column(style="dim", no_wrap=True)
        tall.add_column(no_wrap=True)
        for name, at in self.times.items():
            tall.add_row(name, at)
        yield tall


def render_job(job: Job) -> RenderableType:
    """The detail view of ``job`` as one rich renderable."""
    parts: list[RenderableType] = []
    if job.malformed:
        parts.append(
            Panel(
                fmt.safe_text(job.malformed, layout=True),
                title="⚠ malformed document",
                border_style="red",
                style="red",
            )
        )
    head = Table.grid(padding=(0, 2))
    head.add_column(style="dim", no_wrap=True)
    head.add_column()
    for name, cell in present.detail_rows(job):
        head.add_row(name, cell)
    parts.append(head)
    if job.reason:
        reason = fmt.safe_text(job.reason, layout=True)
        parts.append(Panel(reason, title="reason", border_style="red", title_align="left"))
    parts.append(Timeline(job))
    parts.append(Panel(_json(job.data), title="data", title_align="left", border_style="blue"))
    if job.result is not None:
        parts.append(Panel(_json(job.result), title="result", title_align="left", border_style="green"))
    events = Table(title="history", title_justify="left", box=None, padding=(0, 2))
    events.add_column("at", no_wrap=True)
    events.add_column("status")
    events.add_column("reason")
    for event in job.events:
        style = present.STATUS_STYLES.get(event.status, "yellow")
        events.add_row(
            fmt.when(event.at), fmt.safe_text(event.status, style), fmt.safe_text(event.reason, layout=True)
        )
    if not job.events:
        events.add_row("—", "", "")
    parts.append(events)
    return Group(*parts)


class JobDetailScreen(Screen[None]):
    """One job, re-read from the store every refresh interval so it stays live."""

    BINDINGS = [  # noqa: RUF012
        Binding("escape,backspace", "app.pop_screen", "Back", id="back"),
        Binding("c", "cancel", "Cancel", id="detail-cancel"),
        Binding("r", "requeue", "Requeue", id="detail-requeue"),
    ]

    def __init__(self, job_id: ObjectId) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: Job | None = None

    @property
    def tui(self) -> Host:
        """The app, as screens see it (:mod:`jobtui.tui.host`)."""
        return host(self)

    def compose(self) -> ComposeResult:
        yield AppHeader()
        with VerticalScroll(id="detail-scroll"):
            yield Static(Text("loading…", style="dim"), id="detail-body")
        yield AppFooter()

    def on_mount(self) -> None:
        self.sub_title = f"job {self.job_id}"
        self.reload()
        self.set_interval(self.tui.refresh_interval, self.reload)

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def reload(self) -> None:
        """Re-read the job (off the UI path) and show it."""
        store = self.tui.store
        if store is None:
            return
        job = await store.get(self.job_id)
        body = self.query_one("#detail-body", Static)
        if job is None:
            self.job = None
            body.update(Text(f"Job {self.job_id} no longer exists (deleted or purged).", style="yellow"))
            return
        if job != self.job:
            self.job = job
            body.update(render_job(job))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cancel", "requeue") and self.tui.read_only:
            return False
        return True

    def action_cancel(self) -> None:
        if self.job is not None:
            self.post_message(CancelJob(self.job, on_done=self.reload))

    def action_requeue(self) -> None:
        if self.job is not None:
            self.post_message(RequeueJob(self.job, on_done=self.reload))


__all__ = ["JobDetailScreen", "Timeline", "render_job"]
