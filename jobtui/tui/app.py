"""The jobtui dashboard: a live view of a queuecore store, with operator actions.

``JobTUI(uri).run()`` opens the store itself (showing a connection-problem
screen with a retry key when it cannot), follows ``store.watch()`` through a
:class:`~jobtui.live.LiveModel`, and — with ``workers="MODULE[:ATTR]"`` — hosts
those tasks in a :class:`queuecore.Queue` it closes gracefully on quit.

Database work runs in Textual workers; their results arrive as messages, and
worker errors become notifications in one place (``on_worker_state_changed``).
The app is built in layers: :mod:`jobtui.tui.connection` opens and closes the store (and the
hosted workers), :mod:`jobtui.tui.live_feed` follows it and loads filters, orders and pages;
this module adds the screens, keys, the clock and the read-only gate. Screens read the app and
ask it for things through :mod:`jobtui.tui.host`. The changes to jobs and workers are
:class:`~jobtui.tui.operator.Operator`'s (every one through ``Operator.mutate``, which read-only
mode disables, recorded in the audit log with source "tui"), the ``:`` command line is
:mod:`jobtui.tui.commands`, the palette :mod:`jobtui.tui.palette`, the keymap
:mod:`jobtui.tui.keymap`.

Settings come from the user config file (:mod:`jobtui.config`): ``[keys]``
remaps any binding by its id (``App.set_keymap``), ``[filters]`` holds the
filters ``:filter NAME`` applies and ``:save NAME`` writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from textual import events, work
from textual.actions import ActionParseResult
from textual.app import SystemCommand
from textual.dom import DOMNode
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

import queuecore
from queuecore.printable import printable
from queuecore.store import QUERY_TIMEOUT
from queuecore.uri import mask

from ..bulk import BulkKind
from ..config import UserConfig, config_path
from ..gc_idle import IdleCollector
from ..workers import WorkersError
from . import keymap as keys
from . import palette
from .commands import CommandLine
from .host import BulkAction, CancelJob, LoadMore, OpenAudit, OpenDetail, OpenEnqueue, RequeueJob
from .live_feed import LiveFeed
from .operator import Operator
from .read_only import ReadOnlyNotice
from .screens import AuditScreen, HelpScreen, JobDetailScreen, JobsScreen
from .screens.jobs_keys import READ_ONLY_HIDDEN

#: Errors whose message is shown as is (they are written for operators).
CLEAR_ERRORS = (queuecore.QueueError, ValueError, KeyError, WorkersError)


class JobTUI(LiveFeed):
    """The dashboard app (see the module docstring)."""

    CSS_PATH = "app.tcss"
    TITLE = "jobtui"
    BINDINGS = keys.APP_BINDINGS

    def __init__(
        self,
        uri: str,
        *,
        collection: str = "jobs",
        workers: str | None = None,
        refresh: float = 1.0,
        read_only: bool = False,
        config: UserConfig | None = None,
        query_timeout: float | None = QUERY_TIMEOUT,
    ) -> None:
        super().__init__()
        self.uri = uri
        #: Seconds a filter's store query may take before it is stopped (``store.query_timeout``).
        self.query_timeout = query_timeout
        self.collection = collection
        self.workers_spec = workers
        self.refresh_interval = max(0.1, float(refresh))
        self.read_only = read_only
        #: The user config (keys, saved filters); without one, nothing is remapped and
        #: ``:save`` writes to the default config file.
        self.config = config if config is not None else UserConfig(config_path())
        #: The keymap applied (binding id → keys), after dropping unknown ids.
        self.keymap: dict[str, str] = {}
        self._key_names: dict[str, str] | None = None
        #: Rows per page of the jobs window (more are fetched when scrolling near the end).
        self.page = 200
        #: Counts above this are shown as "N+" (None: exact counts).
        self.count_cap: int | None = 10_000
        #: The URI as shown (password masked).
        self.display_uri = mask(uri)
        self._quitting = False
        #: Full garbage-collector passes wait for idle input (see jobtui.gc_idle).
        self.collector = IdleCollector()
        self._read_only_notice = ReadOnlyNotice(READ_ONLY_HIDDEN)
        #: The changes to jobs and workers (confirmed, audited), and the ``:`` command line.
        self.operator = Operator(self)
        self.command_line = CommandLine(self)
        self.sub_title = self._describe_store()

    # -- screens --------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return JobsScreen()

    def on_mount(self) -> None:
        self.collector.start()
        self.apply_keymap()
        if self.config.problem:
            self.notify(f"{self.config.problem} — using the defaults.", severity="warning", timeout=20)
        self.connect()
        self.set_interval(self.refresh_interval, self.tick)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A notification, shown as written unless ``markup=True`` is asked for: the dashboard's
        messages carry job names, filters and errors, whose brackets are text — "[keys]"
        vanished, and a name like "[/x]" raised MarkupError and crashed the dashboard. For the
        same reason every message (and title) is made printable: terminal controls in a job
        name or a reason are shown visibly, never sent to the terminal (screens' ``notify``
        comes here too)."""
        message, title = printable(message, layout=True), printable(title)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def action_help_quit(self) -> None:
        """ctrl+c: say which key quits (Textual's hint is markup, and notifications here are not)."""
        for key, active in self.active_bindings.items():
            if active.binding.action in ("quit", "app.quit"):
                self.notify(f"Press {key} to quit the app", title="Do you want to quit?")
                return

    # -- keys -----------------------------------------------------------------

    def apply_keymap(self) -> None:
        """Remap keys from the config's ``[keys]`` (unknown binding ids, clashes: a warning each)."""
        known = keys.binding_ids()
        problem = keys.unknown_ids(self.config, known)
        if problem:
            self.notify(problem, severity="warning", timeout=20)
        self.keymap = {k: v for k, v in self.config.keys.items() if k in known}
        self._key_names = None
        if self.keymap:
            self.set_keymap(self.keymap)
        problem = keys.clash_warning(self.config, self.keymap)
        if problem:
            self.notify(problem, severity="warning", timeout=20)

    def key_names(self, binding_id: str, default: str) -> str:
        """The key(s) of a binding as the operator has them (``g/home``; remapped by ``[keys]``)."""
        if self._key_names is None:
            self._key_names = keys.key_names(self.keymap)
        return self._key_names.get(binding_id, default)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.collector.touch()  # a due full GC pass waits for a quiet moment
        await super().on_event(event)

    def tick(self) -> None:
        """The clock: a due full GC pass (when input is idle), the model's timed parts and the
        jobs screen."""
        self.collector.tick()
        self._refresh_aggregates()
        screen = self.jobs_screen
        if screen is not None:
            screen.tick()

    # -- operator actions -----------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in READ_ONLY_HIDDEN and self.read_only:
            return False
        return True

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Every binding's way in: in read-only mode a hidden action says so (jobtui.tui.read_only)."""
        if self.read_only and isinstance(action, str):
            if self._read_only_notice.refuse(self, action, default_namespace):
                return True
        return await super().run_action(action, default_namespace, namespaces)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place that turns a failed worker into a notification."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, CLEAR_ERRORS):
            text = str(error).strip("'\"")
        else:
            text = f"{type(error).__name__}: {error}"
        what = event.worker.name.removeprefix("mutate: ")
        self.notify(mask(text), title=f"{what} failed" if what else "error", severity="error", timeout=10)

    # -- what the screens ask for (jobtui.tui.host) ---------------------------

    def on_open_detail(self, message: OpenDetail) -> None:
        self.open_detail(message.job_id)

    def on_open_audit(self, _: OpenAudit) -> None:
        self.open_audit()

    def on_open_enqueue(self, _: OpenEnqueue) -> None:
        self.operator.enqueue()

    def on_cancel_job(self, message: CancelJob) -> None:
        self.operator.cancel(message.job, message.on_done)

    def on_requeue_job(self, message: RequeueJob) -> None:
        self.operator.requeue(message.job, message.on_done)

    def on_bulk_action(self, message: BulkAction) -> None:
        self.operator.bulk(message.kind)

    def on_load_more(self, _: LoadMore) -> None:
        self.load_more()

    def request_bulk(self, kind: BulkKind) -> None:
        """Cancel or re-enqueue the marked jobs, or those the filter matches (:meth:`Operator.bulk`)."""
        self.operator.bulk(kind)

    def open_detail(self, job_id: ObjectId) -> None:
        """Show one job in full."""
        self.push_screen(JobDetailScreen(job_id))

    def open_audit(self) -> None:
        """Show the audit log."""
        if not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen())

    def action_audit(self) -> None:
        """Show the audit log (``A``)."""
        self.open_audit()

    # -- workers panel (its keys are the app's) ------------------------------

    def action_toggle_pause(self) -> None:
        """Pause or resume the selected task's workers."""
        self.operator.toggle_pause()

    def action_scale(self, step: int) -> None:
        """Scale the selected task's workers up or down by ``step`` (at least 1)."""
        self.operator.scale(step)

    # -- help, palette, quit --------------------------------------------------

    def action_help(self) -> None:
        """Show every key."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from palette.system_commands(self)

    async def action_quit(self) -> None:
        """Quit; hosted workers stop gracefully first (running jobs finish or are failed for retry)."""
        if self.queue is None or self._quitting:
            self.exit()
            return
        self._quitting = True
        self.notify("Stopping workers: waiting for running jobs to finish… (q again to force)", timeout=30)
        self._stop_and_exit()

    @work(group="quit", exit_on_error=False)
    async def _stop_and_exit(self) -> None:
        if self.queue is not None:
            await self.queue.close()
        self.exit()

    async def on_unmount(self) -> None:
        self.collector.stop()
        await self.close_store()


__all__ = ["JobTUI"]
