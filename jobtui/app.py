"""The jobtui dashboard: a live view of a queuecore store, with operator actions.

``JobTUI(uri).run()`` opens the store itself (showing a connection-problem
screen with a retry key when it cannot), follows ``store.watch()`` through a
:class:`~jobtui.live.LiveModel`, and — with ``workers="MODULE[:ATTR]"`` — hosts
those tasks in a :class:`queuecore.Queue` it closes gracefully on quit.

Database work runs in Textual workers; their results arrive as messages, and
worker errors become notifications in one place (``on_worker_state_changed``).
Every mutating action goes through :meth:`JobTUI.mutate`, which read-only mode
disables.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bson import ObjectId
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

import queuecore
from queuecore import Blueprint, ConnectError, Job, Queue, Status, Store
from queuecore.uri import is_mongo, mask, sqlite_path

from .live import Delta, Filter, LiveModel, status_of
from .screens import (
    ConfirmScreen,
    ConnectionScreen,
    EnqueueScreen,
    HelpScreen,
    JobDetailScreen,
    JobsScreen,
)
from .screens.jobs import MUTATING
from .workers import WorkersError, build_queue

#: Errors whose message is shown as is (they are written for operators).
CLEAR_ERRORS = (queuecore.QueueError, ValueError, KeyError, WorkersError)


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
        """The store could not be opened."""

        def __init__(self, problem: str) -> None:
            super().__init__()
            self.problem = problem

    def __init__(
        self,
        uri: str,
        *,
        collection: str = "jobs",
        workers: str | None = None,
        refresh: float = 1.0,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self.uri = uri
        self.collection = collection
        self.workers_spec = workers
        self.refresh_interval = max(0.1, float(refresh))
        self.read_only = read_only
        #: Rows per page of the jobs window (more are fetched when scrolling near the end).
        self.page = 200
        #: The URI as shown (password masked).
        self.display_uri = mask(uri)
        self.store: Store | None = None
        self.model: LiveModel | None = None
        self.queue: Queue | None = None
        self._quitting = False
        self._loading_more = False
        self.sub_title = self._describe_store()

    def _describe_store(self) -> str:
        """The header's subtitle: the masked MongoDB URI and collection, or the SQLite file."""
        if is_mongo(self.uri):
            where = f"{self.display_uri} · {self.collection}"
        else:
            try:
                where = f"sqlite {sqlite_path(self.uri)}"
            except ValueError:
                where = self.display_uri
        return ("READ-ONLY · " if self.read_only else "") + where

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
        self.connect()
        self.set_interval(self.refresh_interval, self._tick)

    # -- connection -----------------------------------------------------------

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def connect(self) -> None:
        """Open the store and, with ``workers``, start the queue."""
        try:
            store = await queuecore.connect(self.uri, collection=self.collection)
        except ConnectError as exc:
            self.post_message(self.ConnectFailed(str(exc)))
            return
        except Exception as exc:  # anything else from a driver: still one clear line, masked
            self.post_message(self.ConnectFailed(mask(f"{type(exc).__name__}: {exc}")))
            return
        self.store = store
        self.model = LiveModel(store, page=self.page, counts_interval=self.refresh_interval)
        if self.workers_spec:
            try:
                queue = build_queue(store, self.workers_spec)
                await queue.run()
                self.queue = queue
            except (WorkersError, Exception) as exc:
                self.notify(f"Workers not started: {exc}", severity="error", timeout=15)
        self.post_message(self.Connected())

    def on_job_tui_connected(self, _: Connected) -> None:
        if isinstance(self.screen, ConnectionScreen):
            self.pop_screen()
        self.watch_store()
        screen = self.jobs_screen
        if screen is not None:
            screen.render_state()
            screen.tick()

    def on_job_tui_connect_failed(self, message: ConnectFailed) -> None:
        if isinstance(self.screen, ConnectionScreen):
            self.screen.show_problem(message.problem)
            self.notify("Still cannot connect.", severity="error")
        else:
            self.push_screen(ConnectionScreen(message.problem, self.display_uri))

    def action_retry_connect(self) -> None:
        """Try to open the store again."""
        self.notify("Connecting…", timeout=2)
        self.connect()

    # -- the live feed --------------------------------------------------------

    @work(exclusive=True, group="watch", exit_on_error=False)
    async def watch_store(self) -> None:
        """Follow the store's changes; a failed feed is reported and reopened with backoff."""
        failures = 0
        while self.model is not None:
            try:
                await self.model.run(self._deliver)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.notify(f"Live updates interrupted: {exc}", severity="warning")
                delay = queuecore.backoff(0.5, 10, 2, failures).total_seconds()
                await asyncio.sleep(delay)

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
        """Show the jobs matching ``new`` (a server-side reload)."""
        if self.model is None:
            return
        self._run_model(lambda m: m.set_filter(new))

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
        if self.model is not None and self.model.loaded and await self.model.refresh():
            self._deliver(Delta(counts_changed=True))

    # -- operator actions -----------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING and self.read_only:
            return False
        return True

    def mutate(
        self,
        what: str,
        action: Callable[[Store], Awaitable[str | None]],
        on_done: Callable[[], Any] | None = None,
    ) -> None:
        """Run a mutating action off the UI path; its message or error becomes a notification.

        The one gate for every change to jobs: refused in read-only mode.
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
        status = status_of(job)
        if job.malformed:
            self.notify(f"Job {job.short_id} is malformed: {job.malformed}", severity="error")
            return
        if status in (Status.COMPLETED.value, Status.CANCELLED.value):
            self.notify(f"Cannot cancel job {job.short_id}: it is {status}.", severity="error")
            return
        running = status == Status.DEQUEUED.value
        question = (
            f"Request cancellation of running job {job.short_id} ({job.name})?\n"
            "Its worker stops the handler and ends the job cancelled."
            if running
            else f"Cancel job {job.short_id} ({job.name}, {status})?"
        )

        async def cancel(store: Store) -> str:
            done = await queuecore.cancel_job(store, job.id, "cancelled by operator")
            if done.status is Status.CANCELLED:
                return f"Cancelled job {job.short_id}."
            return f"Cancellation requested for running job {job.short_id}."

        def answered(yes: bool | None) -> None:
            if yes:
                self.mutate("cancel", cancel, on_done)

        self.push_screen(ConfirmScreen(question, "Cancel job"), answered)

    def request_requeue(self, job: Job, on_done: Callable[[], Any] | None = None) -> None:
        """Re-enqueue a failed, cancelled or completed job."""
        status = status_of(job)
        if job.malformed:
            self.notify(f"Job {job.short_id} is malformed: {job.malformed}", severity="error")
            return
        if status not in (Status.FAILED.value, Status.CANCELLED.value, Status.COMPLETED.value):
            self.notify(
                f"Cannot re-enqueue job {job.short_id}: it is {status} "
                "(only failed, cancelled or completed jobs can be).",
                severity="error",
            )
            return

        async def requeue(store: Store) -> str:
            await queuecore.requeue(store, job.id)
            return f"Re-enqueued job {job.short_id}."

        self.mutate("re-enqueue", requeue, on_done)

    def request_requeue_failed(self) -> None:
        """Re-enqueue every failed job matching the current filter (confirmed with the count)."""
        if self.model is None or self.store is None:
            return
        base = self.model.filter
        if base.statuses and Status.FAILED.value not in base.statuses:
            self.notify("The current filter excludes failed jobs: nothing to re-enqueue.", severity="warning")
            return
        failed = Filter(frozenset({Status.FAILED.value}), base.name, base.text)
        self._count_then_confirm(failed)

    @work(group="bulk", exit_on_error=False)
    async def _count_then_confirm(self, failed: Filter) -> None:
        assert self.store is not None
        ids = await _all_ids(self.store, failed)
        if not ids:
            self.notify("No failed job matches the filter.", severity="warning")
            return
        scope = failed.describe()

        async def requeue_all(store: Store) -> str:
            done, errors = 0, []
            for id in ids:
                try:
                    await queuecore.requeue(store, id)
                    done += 1
                except queuecore.QueueError as exc:
                    errors.append(str(exc))
            message = f"Re-enqueued {done} of {len(ids)} failed jobs."
            if errors:
                message += f" {len(errors)} refused, e.g.: {errors[0]}"
            return message

        def answered(yes: bool | None) -> None:
            if yes:
                self.mutate("re-enqueue failed", requeue_all)

        self.push_screen(
            ConfirmScreen(f"Re-enqueue all {len(ids)} failed jobs matching {scope}?", "Re-enqueue"),
            answered,
        )

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
                job = await queuecore.enqueue(store, blueprint)
                if job is None:
                    return f"Not enqueued: a {blueprint.name!r} job with label {blueprint.label!r} is active."
                return f"Enqueued job {job.short_id} ({job.name})."

            self.mutate("enqueue", enqueue)

        self.push_screen(EnqueueScreen(sorted(names), name), submitted)

    def open_detail(self, job_id: ObjectId) -> None:
        """Show one job in full."""
        self.push_screen(JobDetailScreen(job_id))

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
        if jobs is not None and self.model is not None:
            if not self.read_only:
                yield SystemCommand("Enqueue a job", "Open the enqueue form", self.open_enqueue)
                yield SystemCommand("Cancel the selected job", "Cancel (confirm)", jobs.action_cancel)
                yield SystemCommand(
                    "Re-enqueue the selected job", "Failed/cancelled/completed", jobs.action_requeue
                )
                yield SystemCommand(
                    "Re-enqueue all failed jobs in this filter",
                    "Asks with the count",
                    self.request_requeue_failed,
                )
            yield SystemCommand("Search jobs", "Text over id, task, label, reason", jobs.action_search)
            yield SystemCommand("Filter by task name", "Exact task name", jobs.action_task_filter)
            yield SystemCommand("Show all statuses", "Clear the status filter", jobs.action_all_statuses)
            yield SystemCommand("Clear all filters", "Statuses, task and text", jobs.action_clear_filters)
            for index, status in enumerate(("enqueued", "running", "completed", "failed", "cancelled")):
                yield SystemCommand(
                    f"Toggle status: {status}",
                    f"Key {index + 1}",
                    lambda i=index: jobs.action_toggle_status(i),
                )
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
        if self.queue is not None:
            await self.queue.close()
        if self.store is not None:
            await self.store.close()


async def _all_ids(store: Store, filter: Filter, page: int = 1000) -> list[ObjectId]:
    """The ids of every job matching ``filter`` now (the cut-off of a bulk action)."""
    ids: list[ObjectId] = []
    seen = 0
    while True:
        jobs = await store.find(**filter.query(), limit=page, skip=seen)
        seen += len(jobs)
        ids.extend(j.id for j in jobs if not j.malformed)
        if len(jobs) < page:
            return ids


__all__ = ["JobTUI"]
