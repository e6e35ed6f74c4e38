"""The dashboard's changes to jobs and workers: each asks when it must, acts off the UI path,
and says what it did.

A single cancel is confirmed (a running job gets a cancellation request), a re-enqueue is not;
a bulk action opens its question at once and counts (:class:`~.screens.BulkConfirmScreen`), and
acts on exactly the ids it counted; the enqueue form checks what it can before it submits.
The changes themselves and their audit entries (source "tui") are :mod:`jobtui.actions`' and
:mod:`jobtui.bulk`'s, as the CLI's are. Every change passes :meth:`Operator.mutate`, the one
gate read-only mode closes; it runs in a worker, whose failure the app notifies
(``JobTUI.on_worker_state_changed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from queuecore import Blueprint, Job, Status, Store
from queuecore.uri import mask

from .. import actions, bulk
from ..bulk import BulkKind
from ..view import shown_status, status_of
from .screens import BulkAnswer, BulkConfirmScreen, ConfirmScreen, EnqueueScreen
from .widgets import WorkersPanel

if TYPE_CHECKING:
    from .app import JobTUI


class Operator:
    """The operator's changes, made on the app's store and shown by the app's screens."""

    def __init__(self, app: JobTUI) -> None:
        self.app = app
        #: Records the dashboard's changes in the audit log (source "tui").
        self.audit = actions.AuditLog("tui", self._audit_warning)

    def mutate(
        self,
        what: str,
        action: Callable[[Store], Awaitable[str | None]],
        on_done: Callable[[], Any] | None = None,
    ) -> None:
        """Run a mutating action off the UI path; its message or error becomes a notification.

        The one gate for every change to jobs: refused in read-only mode. The action
        records itself in the audit log (:attr:`audit`) with the ids it changed.
        """
        if self.app.read_only:
            self.app.notify(f"Read-only: {what} is disabled.", severity="warning")
            return
        if self.app.store is None:
            self.app.notify("Not connected to a store.", severity="error")
            return
        store = self.app.store

        async def run() -> None:
            message = await action(store)
            if message:
                self.app.notify(message)
            if on_done is not None:
                on_done()

        self.app.run_worker(run(), name=f"mutate: {what}", group="mutate", exit_on_error=False)

    def _audit_warning(self, action: str, exc: Exception) -> None:
        """A change done but not recorded: a warning, never a reason to undo it."""
        self.app.notify(
            mask(f"{action} done, but not recorded in the audit log: {exc}"), severity="warning", timeout=10
        )

    def cancel(self, job: Job, on_done: Callable[[], Any] | None = None) -> None:
        """Confirm, then cancel ``job`` (a cancellation request when it runs)."""
        problem = actions.cancel_problem(job)
        if problem:
            self.app.notify(problem, severity="error")
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

        self.app.push_screen(ConfirmScreen(question, "Cancel job"), answered)

    def requeue(self, job: Job, on_done: Callable[[], Any] | None = None) -> None:
        """Re-enqueue a failed, cancelled or completed job."""
        problem = actions.requeue_problem(job)
        if problem:
            self.app.notify(problem, severity="error")
            return
        detail = f"{job.name} ({status_of(job)})"

        async def requeue(store: Store) -> str:
            await actions.requeue(store, self.audit, job.id, detail=detail)
            return f"Re-enqueued job {job.short_id}."

        self.mutate("re-enqueue", requeue, on_done)

    def requeue_failed(self) -> None:
        """Re-enqueue the marked jobs, else the failed jobs of the filter (confirmed with the count)."""
        self.bulk("requeue")

    def bulk(self, kind: BulkKind) -> None:
        """Cancel or re-enqueue the marked jobs, or — with no mark — the jobs the filter matches.

        The question opens at once and counts (:class:`BulkConfirmScreen`); the ids are
        collected then, so "yes" acts on those ids only. Asked from the jobs screen only:
        a destructive question is never put over another dialog.
        """
        if self.app.read_only:
            self.app.notify(f"Read-only: bulk {kind} is disabled.", severity="warning")
            return
        screen = self.app.jobs_screen
        if self.app.model is None or self.app.store is None or screen is None:
            return
        if self.app.screen is not screen:
            self.app.notify(
                f"Close the open dialog first: bulk {kind} asks from the jobs screen.", severity="warning"
            )
            return
        store = self.app.store
        plan: Callable[[bulk.Progress], Awaitable[bulk.Plan]]
        if screen.marks:
            keys = sorted(screen.marks)

            def plan(progress: bulk.Progress) -> Awaitable[bulk.Plan]:
                return bulk.plan_marked(store, kind, keys, progress)
        else:
            current = self.app.model.filter
            statuses = bulk.bulk_statuses(kind, current)
            if not statuses:
                what = "cancelled" if kind == "cancel" else "re-enqueued"
                self.app.notify(f"The current filter holds no job that can be {what}.", severity="warning")
                return

            def plan(progress: bulk.Progress) -> Awaitable[bulk.Plan]:
                return bulk.plan_filter(store, kind, current, statuses, progress)

        def answered(answer: BulkAnswer | None) -> None:
            if answer is None:
                return

            async def act(store: Store) -> str:
                message, done = await bulk.run(store, answer.plan, answer.reason, self.audit)
                if answer.plan.marked:
                    self.app.call_later(self._unmark, [str(i) for i in done])
                return message

            self.mutate(f"bulk {kind}", act)

        title, yes = ("Cancel jobs", "Cancel jobs") if kind == "cancel" else ("Re-enqueue jobs", "Re-enqueue")
        self.app.push_screen(BulkConfirmScreen(title, yes, plan), answered)

    def _unmark(self, keys: list[str]) -> None:
        screen = self.app.jobs_screen
        if screen is not None:
            screen.unmark(keys)

    def enqueue(self, name: str = "") -> None:
        """Open the enqueue form; the new job is inserted when it is submitted."""
        if self.app.read_only:
            self.app.notify("Read-only: enqueue is disabled.", severity="warning")
            return
        names = set(self.app.model.names) if self.app.model else set()
        if self.app.queue is not None:
            names |= set(self.app.queue.tasks)

        def submitted(blueprint: Blueprint | None) -> None:
            if blueprint is None:
                return

            async def enqueue(store: Store) -> str:
                job = await actions.enqueue(store, self.audit, blueprint, detail=blueprint.name)
                if job is None:
                    return f"Not enqueued: a {blueprint.name!r} job with label {blueprint.label!r} is active."
                return f"Enqueued job {job.short_id} ({job.name})."

            self.mutate("enqueue", enqueue)

        hosted = dict(self.app.queue.tasks) if self.app.queue is not None else {}
        self.app.push_screen(EnqueueScreen(sorted(names), name, hosted), submitted)

    def _selected_task(self) -> str | None:
        screen = self.app.jobs_screen
        if self.app.queue is None or screen is None:
            self.app.notify("No workers run in this dashboard.", severity="warning")
            return None
        name = screen.query_one("#workers", WorkersPanel).current_task
        if name is None:
            self.app.notify("Select a task in the workers panel.", severity="warning")
        return name

    def _audit_workers(self, action: str, detail: str) -> None:
        store = self.app.store
        if store is not None:
            self.app.run_worker(self.audit(store, action, [], detail), group="audit", exit_on_error=False)

    def toggle_pause(self) -> None:
        """Pause or resume the selected task's workers."""
        if self.app.read_only:
            return
        name = self._selected_task()
        if name is None or self.app.queue is None:
            return
        paused = any(s.paused for s in self.app.queue.stats() if s.name == name)
        if paused:
            self.app.queue.resume(name)
            self.app.notify(f"Resumed {name}.")
        else:
            self.app.queue.pause(name)
            self.app.notify(f"Paused {name}: running jobs finish, no new ones start.")
        self._audit_workers("resume-task" if paused else "pause-task", name)
        self.app.tick()

    def scale(self, step: int) -> None:
        """Scale the selected task's workers up or down by ``step`` (at least 1)."""
        if self.app.read_only:
            return
        name = self._selected_task()
        if name is None or self.app.queue is None:
            return
        current = next((s.workers for s in self.app.queue.stats() if s.name == name), 1)
        now = self.app.queue.scale(name, current + step)
        self.app.notify(f"{name}: {now} worker{'s' if now != 1 else ''}.")
        self._audit_workers("scale-task", f"{name}: {current} → {now} workers")
        self.app.tick()


__all__ = ["Operator"]
