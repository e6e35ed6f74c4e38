"""The jobtui dashboard: a live view of a queuecore store, with operator actions.

``JobTUI(uri).run()`` opens the store itself (showing a connection-problem
screen with a retry key when it cannot), follows ``store.watch()`` through a
:class:`~jobtui.live.LiveModel`, and — with ``workers="MODULE[:ATTR]"`` — hosts
those tasks in a :class:`queuecore.Queue` it closes gracefully on quit.

Database work runs in Textual workers; their results arrive as messages, and
worker errors become notifications in one place (``on_worker_state_changed``).
The app itself is the connection, the live feed (the filter and the order being loaded, the
clock) and the read-only gate; screens read it and ask it for things through
:mod:`jobtui.tui.host`. The changes to jobs and workers are :class:`~jobtui.tui.operator.Operator`'s
(every one through ``Operator.mutate``, which read-only mode disables, recorded in the audit
log with source "tui"), the ``:`` command line is :mod:`jobtui.tui.commands`, the palette
:mod:`jobtui.tui.palette`, the keymap :mod:`jobtui.tui.keymap`.

Settings come from the user config file (:mod:`jobtui.config`): ``[keys]``
remaps any binding by its id (``App.set_keymap``), ``[filters]`` holds the
filters ``:filter NAME`` applies and ``:save NAME`` writes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from bson import ObjectId
from textual import events, work
from textual.actions import ActionParseResult
from textual.app import App, SystemCommand
from textual.dom import DOMNode
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

import queuecore
from queuecore import ConnectError, QueryTimeout, Queue, Store
from queuecore.printable import printable
from queuecore.query import QueryError
from queuecore.sort import Sort
from queuecore.store import QUERY_TIMEOUT
from queuecore.uri import mask

from ..bulk import BulkKind
from ..config import UserConfig, config_path
from ..gc_idle import IdleCollector
from ..live import LiveModel
from ..view import Delta, Filter
from ..workers import WorkersError, build_queue
from . import keymap as keys
from . import palette
from .commands import CommandLine
from .host import BulkAction, CancelJob, LoadMore, OpenAudit, OpenDetail, OpenEnqueue, RequeueJob
from .operator import Operator
from .read_only import ReadOnlyNotice
from .screens import AuditScreen, ConnectionScreen, HelpScreen, JobDetailScreen, JobsScreen
from .screens.jobs import READ_ONLY_HIDDEN
from .widgets.chrome import store_title

#: Errors whose message is shown as is (they are written for operators).
CLEAR_ERRORS = (queuecore.QueueError, ValueError, KeyError, WorkersError)

#: Seconds a live feed must stay up before its next failure backs off from the start again.
FEED_HEALTHY_AFTER = 60.0
#: A filter still loading after this many seconds shows "searching…" in the filter bar (a quick
#: load never flashes it).
SEARCHING_AFTER = 0.15


class JobTUI(App[None]):
    """The dashboard app (see the module docstring)."""

    CSS_PATH = "app.tcss"
    TITLE = "jobtui"
    BINDINGS = keys.APP_BINDINGS

    class Connected(Message):
        """The store is open (and the workers run, if any)."""

    class ConnectFailed(Message):
        """The store could not be opened (or, with another ``title``, stopped)."""

        def __init__(self, problem: str, title: str = "Cannot open the job store") -> None:
            super().__init__()
            self.problem = problem
            self.title = title

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
        #: The filter being loaded (the window still shows the previous one), or None.
        self.searching: Filter | None = None
        self._searching_since = 0.0
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
        self.store: Store | None = None
        self.model: LiveModel | None = None
        self.queue: Queue | None = None
        self._quitting = False
        #: The store's file went while open: a retry opens it again, never creates it.
        self._store_went = False
        self._loading_more = False
        #: Full garbage-collector passes wait for idle input (see jobtui.gc_idle).
        self.collector = IdleCollector()
        self._read_only_notice = ReadOnlyNotice(READ_ONLY_HIDDEN)
        #: The changes to jobs and workers (confirmed, audited), and the ``:`` command line.
        self.operator = Operator(self)
        self.command_line = CommandLine(self)
        self.sub_title = self._describe_store()

    def _describe_store(self) -> str:
        """The header's subtitle: what the open store says of itself (``store.location``);
        before it opens, the masked URI and the collection."""
        if self.store is None:
            return store_title(f"{self.display_uri} · {self.collection}", None, self.read_only)
        return store_title(self.store.location, self.store.retention, self.read_only)

    # -- screens --------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return JobsScreen()

    @property
    def jobs_screen(self) -> JobsScreen | None:
        """The jobs screen (the bottom of the stack)."""
        for screen in self.screen_stack:
            if isinstance(screen, JobsScreen):
                return screen
        return None

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

    # -- connection -----------------------------------------------------------

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def connect(self) -> None:
        """Open the store and, with ``workers``, start the queue (once: a later retry keeps them)."""
        if self.store is not None:
            return
        try:
            create = not (self.read_only or self._store_went)  # read-only never makes a store
            store = await queuecore.connect(
                self.uri, collection=self.collection, query_timeout=self.query_timeout, create=create
            )
        except ConnectError as exc:
            self.post_message(self.ConnectFailed(str(exc)))
            return
        except Exception as exc:  # anything else from a driver: still one clear line, masked
            self.post_message(self.ConnectFailed(mask(f"{type(exc).__name__}: {exc}")))
            return
        self.store = store
        self.model = LiveModel(store, page=self.page, counts_interval=self.refresh_interval)
        self.model.count_cap = self.count_cap
        if self.workers_spec:
            try:
                queue = build_queue(store, self.workers_spec)
                await queue.run()
                self.queue = queue
                self.add_class("-workers")  # notifications keep clear of the workers panel
            except (WorkersError, Exception) as exc:
                self.notify(f"Workers not started: {exc}", severity="error", timeout=15)
        self.post_message(self.Connected())

    def on_job_tui_connected(self, _: Connected) -> None:
        if isinstance(self.screen, ConnectionScreen):
            self.pop_screen()
        # one under another screen (help, audit, the palette's) goes when that one closes:
        # ConnectionScreen.on_screen_resume
        self.sub_title = self._describe_store()
        self.watch_store()
        screen = self.jobs_screen
        if screen is not None:
            screen.render_state()
            screen.tick()

    def on_job_tui_connect_failed(self, message: ConnectFailed) -> None:
        if isinstance(self.screen, ConnectionScreen):
            self.screen.show_problem(message.problem, message.title)
            self.notify("Still cannot connect.", severity="error")
        else:
            self.push_screen(ConnectionScreen(message.problem, self.display_uri, message.title))

    def action_retry_connect(self) -> None:
        """Try to open the store again (not while an attempt still runs: cancelling it midway,
        after the store opened, would leave a half-started connection behind)."""
        if any(
            w.group == "connect" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.workers
        ):
            self.notify("Still connecting…", timeout=2)
            return
        self.notify("Connecting…", timeout=2)
        self.connect()

    # -- the live feed --------------------------------------------------------

    @work(exclusive=True, group="watch", exit_on_error=False)
    async def watch_store(self) -> None:
        """Follow the store's changes; a failed feed is reported and reopened with backoff."""
        failures = 0
        loop = asyncio.get_running_loop()
        while self.model is not None:
            began = loop.time()
            try:
                await self.model.run(self._deliver)
            except asyncio.CancelledError:
                raise
            except queuecore.StoreGone as exc:
                await self._store_gone(str(exc))
                return
            except Exception as exc:
                # A feed that stayed up for a while starts its backoff afresh; one that fails
                # again right after reopening (its first snapshot loads fine) backs off further.
                if loop.time() - began > FEED_HEALTHY_AFTER:
                    failures = 0
                failures += 1
                self.notify(f"Live updates interrupted: {exc}", severity="warning")
                delay = queuecore.backoff(0.5, 10, 2, failures).total_seconds()
                await asyncio.sleep(delay)

    async def _store_gone(self, problem: str) -> None:
        """The store's file was deleted or replaced: stop the hosted workers (nothing can be
        written) and say so; a retry opens the file once it is back, and never makes a new one."""
        self._store_went = True
        store, queue = self.store, self.queue
        self.store = self.model = self.queue = None
        if queue is not None:
            await queue.close(grace=0)
        if store is not None:
            await store.close()
        hint = " — r opens it again once it is back (an empty store is never made in its place)"
        self.post_message(self.ConnectFailed(problem + hint, "The job store stopped"))

    def _deliver(self, delta: Delta) -> None:
        screen = self.jobs_screen
        if screen is not None:
            screen.post_message(JobsScreen.Changed(delta))

    @work(group="load", exit_on_error=False)
    async def _run_model(self, op: Callable[[LiveModel], Awaitable[Delta]]) -> None:
        if self.model is None:
            return
        self._deliver(await op(self.model))

    def apply_filter(self, new: Filter) -> None:
        """Show the jobs matching ``new`` (a server-side reload; a paused view resumes).

        The store query runs in a worker, never blocking a key: while it runs the filter bar
        says "searching…", and a newer filter cancels it (the store stops the query). Over
        the store's time limit the view keeps the previous filter and says so."""
        if self.model is None:
            return
        screen = self.jobs_screen
        if screen is not None and screen.paused:
            screen.resume()
        self.searching, self._searching_since = new, time.monotonic()
        self.set_timer(SEARCHING_AFTER, self._show_state)
        self._load_filter(new)

    @property
    def wanted_filter(self) -> Filter:
        """The filter a key changes: the one being loaded, else the one shown."""
        if self.searching is not None:
            return self.searching
        return self.model.filter if self.model is not None else Filter()

    @property
    def search_shown(self) -> bool:
        """Whether the filter bar says "searching…" (a filter has been loading a while)."""
        return self.searching is not None and time.monotonic() - self._searching_since >= SEARCHING_AFTER

    @work(exclusive=True, group="filter", exit_on_error=False)
    async def _load_filter(self, new: Filter) -> None:
        try:
            if self.model is None:
                return
            delta = await self.model.set_filter(new)
        except (QueryTimeout, QueryError) as exc:  # over the time limit, or refused by the database
            self.notify(f"{exc} — still showing the previous filter.", severity="error", timeout=10)
            return
        finally:
            if self.searching is new:  # not replaced by a newer filter meanwhile
                self.searching = None
            self._show_state()
        self._deliver(delta)

    def _show_state(self) -> None:
        screen = self.jobs_screen
        if screen is not None:
            screen.render_state()

    def apply_sort(self, new: Sort) -> None:
        """Order the window by ``new`` (a server-side reload; a paused view resumes)."""
        if self.model is None:
            return
        screen = self.jobs_screen
        if screen is not None and screen.paused:
            screen.resume()
        self._run_model(lambda m: m.set_sort(new))

    def load_more(self) -> None:
        """Fetch the next page of the window when there is one (one fetch at a time)."""
        if self.model is None or self.model.exhausted or self._loading_more:
            return
        self._loading_more = True
        self._load_more()

    @work(group="load", exit_on_error=False)
    async def _load_more(self) -> None:
        try:
            if self.model is not None:
                self._deliver(await self.model.load_more())
        finally:
            self._loading_more = False

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

    @work(exclusive=True, group="aggregates", exit_on_error=False)
    async def _refresh_aggregates(self) -> None:
        """The clock's work on the model: timed counts, stalls, time-dependent filters."""
        if self.model is not None and self.model.loaded:
            delta = await self.model.tick()
            if delta:
                self._deliver(delta)

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
        if self.queue is not None:
            await self.queue.close()
        if self.store is not None:
            await self.store.close()


__all__ = ["JobTUI"]
