"""The jobtui dashboard: a live view of a queuecore store, with operator actions.

``JobTUI(uri).run()`` opens the store itself (showing a connection-problem
screen with a retry key when it cannot), follows ``store.watch()`` through a
:class:`~jobtui.live.LiveModel`, and — with ``workers="MODULE[:ATTR]"`` — hosts
those tasks in a :class:`queuecore.Queue` it closes gracefully on quit.

Database work runs in Textual workers; their results arrive as messages, and
worker errors become notifications in one place (``on_worker_state_changed``).
Every mutating action goes through :meth:`JobTUI.mutate`, which read-only mode
disables, and is recorded in the audit log (``queuecore.audit``, source "tui").
Bulk actions act on ids collected when the confirmation is shown: a job that
arrives while the question is open is never touched.

Settings come from the user config file (:mod:`jobtui.config`): ``[keys]``
remaps any binding by its id (``App.set_keymap``), ``[filters]`` holds the
filters ``:filter NAME`` applies and ``:save NAME`` writes.
"""

from __future__ import annotations

import asyncio
import gc
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple

from bson import ObjectId
from textual import work
from textual.actions import ActionParseResult
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

import queuecore
from queuecore import Blueprint, ConnectError, Job, QueryTimeout, Queue, Status, Store
from queuecore.printable import printable
from queuecore.query import QueryError
from queuecore.sort import NAMES as SORT_NAMES
from queuecore.sort import NEWEST, Sort, SortError
from queuecore.store import QUERY_TIMEOUT
from queuecore.uri import is_mongo, mask, sqlite_path

from . import actions, bulk
from . import format as fmt
from .bulk import BulkKind, bulk_statuses
from .config import ConfigError, UserConfig, config_path, save_filter
from .live import STATUS_ORDER, Delta, Filter, LiveModel, shown_status, status_of
from .read_only import ReadOnlyNotice
from .screens import (
    AuditScreen,
    BulkAnswer,
    BulkConfirmScreen,
    ConfirmScreen,
    ConnectionScreen,
    EnqueueScreen,
    HelpScreen,
    JobDetailScreen,
    JobsScreen,
)
from .screens.jobs import READ_ONLY_HIDDEN
from .workers import WorkersError, build_queue

#: Errors whose message is shown as is (they are written for operators).
CLEAR_ERRORS = (queuecore.QueueError, ValueError, KeyError, WorkersError)
#: The words of the ``:`` command line.
COMMANDS = ("status", "name", "sort", "filter", "save", "clear", "audit", "workers", "help", "q", "quit")

#: Seconds a live feed must stay up before its next failure backs off from the start again.
FEED_HEALTHY_AFTER = 60.0
#: A filter still loading after this many seconds shows "searching…" in the filter bar (a quick
#: load never flashes it).
SEARCHING_AFTER = 0.15


class JobTUI(App[None]):
    """The dashboard app (see the module docstring)."""

    CSS_PATH = "app.tcss"
    TITLE = "jobtui"
    BINDINGS = [  # noqa: RUF012
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, id="palette"),
    ]

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
        self._gc_frozen = False
        self._read_only_notice = ReadOnlyNotice(READ_ONLY_HIDDEN)
        #: Records the dashboard's changes in the audit log (source "tui").
        self.audit = actions.AuditLog("tui", self._audit_warning)
        self.sub_title = self._describe_store()

    def _describe_store(self) -> str:
        """The header's subtitle: the masked MongoDB URI and collection, or the SQLite file,
        and how long finished jobs are kept (when the store has a retention)."""
        if is_mongo(self.uri):
            where = f"{self.display_uri} · {self.collection}"
        else:
            try:
                where = f"sqlite {sqlite_path(self.uri)}"
            except ValueError:
                where = self.display_uri
        retention = self.store.retention if self.store is not None else None
        if retention:
            where += f" · keeps finished {fmt.retention(retention)}"
        return printable(("READ-ONLY · " if self.read_only else "") + where)

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
        # Everything alive now (imports, styles, widgets) lives as long as the app: keep it out
        # of the garbage collector's full passes, which otherwise stall the UI for 50–90 ms
        # every few seconds under a stream of change events. Undone on unmount.
        if not self._gc_frozen:
            gc.freeze()
            self._gc_frozen = True
        self.apply_keymap()
        if self.config.problem:
            self.notify(f"{self.config.problem} — using the defaults.", severity="warning", timeout=20)
        self.connect()
        self.set_interval(self.refresh_interval, self._tick)

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

    def binding_ids(self) -> set[str]:
        """Every binding id of the dashboard (what ``[keys]`` may remap)."""
        from .screens.help import all_bindings

        return {b.id for b in all_bindings() if b.id}

    def apply_keymap(self) -> None:
        """Remap keys from the config's ``[keys]`` (unknown binding ids: one warning, ignored)."""
        known = self.binding_ids()
        unknown = sorted(set(self.config.keys) - known)
        if unknown:
            first = unknown[0]
            line = self.config.key_lines.get(first)
            where = f"{self.config.path}, line {line}" if line else str(self.config.path)
            self.notify(
                f"config file {where}: unknown key binding id {first!r}"
                + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                + " — see ? for the ids; ignored.",
                severity="warning",
                timeout=20,
            )
        self.keymap = {k: v for k, v in self.config.keys.items() if k in known}
        self._key_names = None
        if self.keymap:
            self.set_keymap(self.keymap)
        clashes = key_clashes(self.keymap)
        if clashes:
            remapped, key, other, wins = clashes[0]
            line = self.config.key_lines.get(remapped)
            where = f"{self.config.path}, line {line}" if line else str(self.config.path)
            if wins:
                what = f"[keys] {remapped} takes the key {key!r} of {other}"
                fix = f"give {other} another key in [keys] to keep it"
            else:  # the other binding is nearer the focus: Textual gives it the key
                what = f"[keys] {remapped} = {key!r}: where {other} applies too, {other} keeps {key!r}"
                fix = f"give {remapped} another key"
            more = f" (and {len(clashes) - 1} more clash)" if len(clashes) > 1 else ""
            self.notify(f"config file {where}: {what}{more}; {fix}.", severity="warning", timeout=20)

    def key_names(self, binding_id: str, default: str) -> str:
        """The key(s) of a binding as the operator has them (``g/home``; remapped by ``[keys]``)."""
        if self._key_names is None:
            from .screens.help import all_bindings, key_label

            self._key_names = {
                b.id: key_label(b, self.keymap).replace(", ", "/") for b in all_bindings() if b.id
            }
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

    def _tick(self) -> None:
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
        """Every binding's way in: in read-only mode a hidden action says so (jobtui.read_only)."""
        if self.read_only and isinstance(action, str):
            if self._read_only_notice.refuse(self, action, default_namespace):
                return True
        return await super().run_action(action, default_namespace, namespaces)

    def mutate(
        self,
        what: str,
        action: Callable[[Store], Awaitable[str | None]],
        on_done: Callable[[], Any] | None = None,
    ) -> None:
        """Run a mutating action off the UI path; its message or error becomes a notification.

        The one gate for every change to jobs: refused in read-only mode. The action
        records itself in the audit log (:meth:`audit`) with the ids it changed.
        """
        if self.read_only:
            self.notify(f"Read-only: {what} is disabled.", severity="warning")
            return
        if self.store is None:
            self.notify("Not connected to a store.", severity="error")
            return
        store = self.store

        async def run() -> None:
            message = await action(store)
            if message:
                self.notify(message)
            if on_done is not None:
                on_done()

        self.run_worker(run(), name=f"mutate: {what}", group="mutate", exit_on_error=False)

    def _audit_warning(self, action: str, exc: Exception) -> None:
        """A change done but not recorded: a warning, never a reason to undo it."""
        self.notify(
            mask(f"{action} done, but not recorded in the audit log: {exc}"), severity="warning", timeout=10
        )

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

    def request_cancel(self, job: Job, on_done: Callable[[], Any] | None = None) -> None:
        """Confirm, then cancel ``job`` (a cancellation request when it runs)."""
        problem = actions.cancel_problem(job)
        if problem:
            self.notify(problem, severity="error")
            return
        status = shown_status(job)
        running = status == "running"
        question = (
            f"Request cancellation of running job {job.short_id} ({job.name})?\n"
            "Its worker stops the handler and ends the job cancelled."
            if running
            else f"Cancel job {job.short_id} ({job.name}, {status})?"
        )

        async def cancel(store: Store) -> str:
            done = await actions.cancel(store, self.audit, job.id, detail=f"{job.name} ({status})")
            if done.status is Status.CANCELLED:
                return f"Cancelled job {job.short_id}."
            return f"Cancellation requested for running job {job.short_id}."

        def answered(yes: bool | None) -> None:
            if yes:
                self.mutate("cancel", cancel, on_done)

        self.push_screen(ConfirmScreen(question, "Cancel job"), answered)

    def request_requeue(self, job: Job, on_done: Callable[[], Any] | None = None) -> None:
        """Re-enqueue a failed, cancelled or completed job."""
        problem = actions.requeue_problem(job)
        if problem:
            self.notify(problem, severity="error")
            return
        detail = f"{job.name} ({status_of(job)})"

        async def requeue(store: Store) -> str:
            await actions.requeue(store, self.audit, job.id, detail=detail)
            return f"Re-enqueued job {job.short_id}."

        self.mutate("re-enqueue", requeue, on_done)

    # -- bulk actions ---------------------------------------------------------

    def request_requeue_failed(self) -> None:
        """Re-enqueue the marked jobs, else the failed jobs of the filter (confirmed with the count)."""
        self.request_bulk("requeue")

    def request_bulk(self, kind: BulkKind) -> None:
        """Cancel or re-enqueue the marked jobs, or — with no mark — the jobs the filter matches.

        The question opens at once and counts (:class:`BulkConfirmScreen`); the ids are
        collected then, so "yes" acts on those ids only. Asked from the jobs screen only:
        a destructive question is never put over another dialog.
        """
        if self.read_only:
            self.notify(f"Read-only: bulk {kind} is disabled.", severity="warning")
            return
        screen = self.jobs_screen
        if self.model is None or self.store is None or screen is None:
            return
        if self.screen is not screen:
            self.notify(
                f"Close the open dialog first: bulk {kind} asks from the jobs screen.", severity="warning"
            )
            return
        store = self.store
        plan: Callable[[bulk.Progress], Awaitable[bulk.Plan]]
        if screen.marks:
            keys = sorted(screen.marks)

            def plan(progress: bulk.Progress) -> Awaitable[bulk.Plan]:
                return bulk.plan_marked(store, kind, keys, progress)
        else:
            current = self.model.filter
            statuses = bulk.bulk_statuses(kind, current)
            if not statuses:
                what = "cancelled" if kind == "cancel" else "re-enqueued"
                self.notify(f"The current filter holds no job that can be {what}.", severity="warning")
                return

            def plan(progress: bulk.Progress) -> Awaitable[bulk.Plan]:
                return bulk.plan_filter(store, kind, current, statuses, progress)

        def answered(answer: BulkAnswer | None) -> None:
            if answer is None:
                return

            async def act(store: Store) -> str:
                message, done = await bulk.run(store, answer.plan, answer.reason, self.audit)
                if answer.plan.marked:
                    self.call_later(self._unmark, [str(i) for i in done])
                return message

            self.mutate(f"bulk {kind}", act)

        title, yes = ("Cancel jobs", "Cancel jobs") if kind == "cancel" else ("Re-enqueue jobs", "Re-enqueue")
        self.push_screen(BulkConfirmScreen(title, yes, plan), answered)

    def _unmark(self, keys: list[str]) -> None:
        screen = self.jobs_screen
        if screen is not None:
            screen.unmark(keys)

    def open_enqueue(self, name: str = "") -> None:
        """Open the enqueue form; the new job is inserted when it is submitted."""
        if self.read_only:
            self.notify("Read-only: enqueue is disabled.", severity="warning")
            return
        names = set(self.model.names) if self.model else set()
        if self.queue is not None:
            names |= set(self.queue.tasks)

        def submitted(blueprint: Blueprint | None) -> None:
            if blueprint is None:
                return

            async def enqueue(store: Store) -> str:
                job = await actions.enqueue(store, self.audit, blueprint, detail=blueprint.name)
                if job is None:
                    return f"Not enqueued: a {blueprint.name!r} job with label {blueprint.label!r} is active."
                return f"Enqueued job {job.short_id} ({job.name})."

            self.mutate("enqueue", enqueue)

        hosted = dict(self.queue.tasks) if self.queue is not None else {}
        self.push_screen(EnqueueScreen(sorted(names), name, hosted), submitted)

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

    # -- the command line -----------------------------------------------------

    def command_words(self) -> list[str]:
        """Suggestions for the ``:`` input."""
        words = [w for w in COMMANDS if w != "quit"]
        words += [f"filter {name}" for name in sorted(self.config.filters)]
        words += [f"status {s}" for s in STATUS_ORDER]
        words += [f"sort {name}" for name in SORT_NAMES]
        return words

    def run_command(self, line: str) -> str | None:
        """Run a ``:`` command; returns the problem to show under the input, or None when done."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"cannot read the command: {exc}"
        if not words:
            return None
        command, args = words[0].lower().lstrip(":"), words[1:]
        screen = self.jobs_screen
        model = self.model
        if command in ("q", "quit"):
            self.call_later(self.action_quit)
            return None
        if command == "help":
            self.action_help()
            return None
        if command == "audit":
            self.open_audit()
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
        current = self.wanted_filter
        if command == "clear":
            self.apply_filter(Filter())
            return None
        if command == "status":
            values = [v.strip().lower() for a in args for v in a.split(",") if v.strip()]
            if values in ([], ["all"]):
                self.apply_filter(current.all_statuses())
                return None
            unknown = [v for v in values if v not in STATUS_ORDER and v != Status.DEQUEUED.value]
            if unknown:
                return f"unknown status {unknown[0]!r}; expected {', '.join(STATUS_ORDER)} or all"
            self.apply_filter(Filter(frozenset(values), current.name, current.text, current.parsed))
            return None
        if command == "name":
            self.apply_filter(Filter(current.statuses, " ".join(args), current.text, current.parsed))
            return None
        if command == "filter":
            return self._apply_saved(args)
        if command == "sort":
            return self._sort(args)
        return self._save_filter(args, model.filter)

    def _sort(self, args: list[str]) -> str | None:
        """``:sort COLUMN [asc|desc]`` (``-COLUMN`` descending); ``:sort`` alone: newest first."""
        if not args:
            self.apply_sort(NEWEST)
            return None
        try:
            new = Sort.parse(" ".join(args))
        except SortError as exc:
            return f"{exc} — usage: sort COLUMN [asc|desc], sort alone: newest first"
        self.apply_sort(new)
        return None

    def apply_saved(self, name: str) -> None:
        """Apply the saved filter ``name`` (a problem becomes a notification)."""
        problem = self._apply_saved([name])
        if problem:
            self.notify(problem, severity="error")

    def _apply_saved(self, args: list[str]) -> str | None:
        saved = self.config.filters
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
            return f"saved filter {name!r} in {self.config.path} is invalid: {exc}"
        self.apply_filter(new)
        self.notify(f"Filter {name}: {saved[name]}", timeout=4)
        return None

    def _save_filter(self, args: list[str], current: Filter) -> str | None:
        if len(args) != 1:
            return "usage: save NAME (letters, digits, - and _)"
        name, text = args[0], current.as_text()
        if not text:
            return "nothing to save: no filter is set"
        try:
            save_filter(self.config.path, name, text)
        except (ConfigError, OSError) as exc:
            return str(exc)
        self.config.filters[name] = text
        self.notify(f"Saved filter {name!r} ({text}) in {self.config.path}.")
        return None

    # -- workers panel --------------------------------------------------------

    def _selected_task(self) -> str | None:
        screen = self.jobs_screen
        if self.queue is None or screen is None:
            self.notify("No workers run in this dashboard.", severity="warning")
            return None
        from .widgets import WorkersPanel

        name = screen.query_one("#workers", WorkersPanel).current_task
        if name is None:
            self.notify("Select a task in the workers panel.", severity="warning")
        return name

    def _audit_workers(self, action: str, detail: str) -> None:
        store = self.store
        if store is not None:
            self.run_worker(self.audit(store, action, [], detail), group="audit", exit_on_error=False)

    def action_toggle_pause(self) -> None:
        """Pause or resume the selected task's workers."""
        if self.read_only:
            return
        name = self._selected_task()
        if name is None or self.queue is None:
            return
        paused = any(s.paused for s in self.queue.stats() if s.name == name)
        if paused:
            self.queue.resume(name)
            self.notify(f"Resumed {name}.")
        else:
            self.queue.pause(name)
            self.notify(f"Paused {name}: running jobs finish, no new ones start.")
        self._audit_workers("resume-task" if paused else "pause-task", name)
        self._tick()

    def action_scale(self, step: int) -> None:
        """Scale the selected task's workers up or down by ``step`` (at least 1)."""
        if self.read_only:
            return
        name = self._selected_task()
        if name is None or self.queue is None:
            return
        current = next((s.workers for s in self.queue.stats() if s.name == name), 1)
        now = self.queue.scale(name, current + step)
        self.notify(f"{name}: {now} worker{'s' if now != 1 else ''}.")
        self._audit_workers("scale-task", f"{name}: {current} → {now} workers")
        self._tick()

    # -- help, palette, quit --------------------------------------------------

    def action_help(self) -> None:
        """Show every key."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        jobs = self.jobs_screen
        yield SystemCommand("Help: keys", "List every key", self.action_help)
        yield SystemCommand("Audit log", "Who did what, from the TUI and the CLI", self.open_audit)
        if jobs is not None and self.model is not None:
            if not self.read_only:
                yield SystemCommand("Enqueue a job", "Open the enqueue form", self.open_enqueue)
                yield SystemCommand("Cancel the selected job", "Cancel (confirm)", jobs.action_cancel)
                yield SystemCommand(
                    "Re-enqueue the selected job", "Failed/cancelled/completed", jobs.action_requeue
                )
                yield SystemCommand(
                    "Re-enqueue all failed jobs in this filter",
                    "Or the marked jobs; asks with the count",
                    self.request_requeue_failed,
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
            for name, text in sorted(self.config.filters.items()):
                yield SystemCommand(f"Saved filter: {name}", text, lambda n=name: self.apply_saved(n))
            if self.queue is not None:
                yield SystemCommand("Focus the workers panel", "Then p, +, -", jobs.action_focus_workers)

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
        if self._gc_frozen:
            gc.unfreeze()
            self._gc_frozen = False
        if self.queue is not None:
            await self.queue.close()
        if self.store is not None:
            await self.store.close()


class KeyClash(NamedTuple):
    """A key ``[keys]`` gives ``remapped`` that ``other`` (active at the same time) has too."""

    remapped: str
    key: str
    other: str
    #: Whether ``remapped`` gets the key: it does unless ``other`` is bound nearer the focused
    #: widget (a screen's keys come before the app's), since Textual tries those first.
    wins: bool


def key_clashes(keymap: dict[str, str]) -> list[KeyClash]:
    """Keys ``keymap`` gives a binding that another binding active with it already has."""
    from textual.keys import _normalize_key_list

    from .screens.help import key_groups

    found: list[KeyClash] = []
    seen: set[tuple[str, str, str]] = set()
    for group in key_groups():
        level = {b.id: depth for depth, bindings in enumerate(group) for b in bindings if b.id}
        keys: dict[str, set[str]] = {}
        for binding in (b for bindings in group for b in bindings):
            if not binding.id:
                continue
            raw = keymap.get(binding.id, binding.key)
            for key in _normalize_key_list(raw).split(","):
                keys.setdefault(key.strip(), set()).add(binding.id)
        for remapped, value in keymap.items():
            if remapped not in level:
                continue
            for key in _normalize_key_list(value).split(","):
                for other in sorted(keys.get(key.strip(), set()) - {remapped}):
                    if (remapped, key.strip(), other) in seen or (other, key.strip(), remapped) in seen:
                        continue
                    seen.add((remapped, key.strip(), other))
                    found.append(KeyClash(remapped, key.strip(), other, level[remapped] <= level[other]))
    return found


__all__ = ["JobTUI", "bulk_statuses", "key_clashes"]
