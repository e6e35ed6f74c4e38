"""Bulk cancel / re-enqueue: what ``C`` and ``R`` act on, the question they ask, the action.

A bulk action is planned first (:func:`plan_marked`, :func:`plan_filter`): the ids are
collected then, so "yes" acts on exactly the jobs the question counted — a job that
arrives while it is open is never touched. Planning reads the store page by page (the
dialog shows "counting…" and how far it got meanwhile); :func:`run` does the action.
More than :data:`TYPE_TO_CONFIRM` jobs must be confirmed by typing their count, as
GitHub has a repository's name typed before deleting it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bson import ObjectId

import queuecore
from queuecore import Job, Status, Store

from .actions import CANCELLABLE, REQUEUEABLE
from .view import Filter, shown_status

BulkKind = Literal["cancel", "requeue"]
#: Above this many jobs the operator types the count to confirm ("y" is not enough).
TYPE_TO_CONFIRM = 1000
#: The reasons written when the operator gives none.
DEFAULT_REASON = {"cancel": "cancelled by operator (bulk)", "requeue": "re-enqueued by operator (bulk)"}
#: Jobs read per page while counting: each page is parsed on the event loop (~15 ms for 1,000).
PAGE = 1000

#: Jobs a bulk action writes at the same time.
IN_FLIGHT = 16

#: Told how many jobs were looked at so far (the dialog's "counting… 12,000").
Progress = Callable[[int], None]
#: Records an action in the audit log: ``(store, action, ids, detail)``.
Audit = Callable[[Store, str, Sequence[ObjectId], str], Awaitable[None]]


@dataclass
class Plan:
    """A bulk action as confirmed: its jobs (ids taken when it was planned) and its question."""

    kind: BulkKind
    ids: list[ObjectId] = field(default_factory=list)
    question: str = ""
    #: The audit log's detail (what was selected: the marks or the filter).
    detail: str = ""
    #: The marked row keys this plan came from (unmarked once acted on).
    marked: list[str] = field(default_factory=list)
    #: The one status of every job (re-enqueue names it: "all 3 failed jobs"), else "".
    only: str = ""
    #: Why there is nothing to do (no question is asked then).
    problem: str = ""

    @property
    def typed(self) -> bool:
        """Whether the operator must type the count to confirm."""
        return len(self.ids) > TYPE_TO_CONFIRM


def bulk_statuses(kind: BulkKind, current: Filter) -> tuple[str, ...]:
    """The statuses a filter-wide bulk action touches.

    Cancel: the active jobs of the filter. Re-enqueue: its failed jobs — or, when the
    filter itself selects statuses (keys 1–6, ``:status``, ``status:`` in the text),
    every failed, cancelled or completed one it matches.
    """
    if kind == "cancel":
        chosen = [s for s in CANCELLABLE if s in current.statuses]
        if Status.DEQUEUED.value in current.statuses:
            chosen += [s for s in ("running", "stalled") if s not in chosen]
        return tuple(chosen) if current.statuses else CANCELLABLE
    if current.statuses:
        return tuple(s for s in REQUEUEABLE if s in current.statuses)
    if current.parsed is not None and any(t.field == "status" for t in current.parsed.terms):
        return REQUEUEABLE
    return ("failed",)


def done_word(kind: BulkKind) -> str:
    """ "cancelled" or "re-enqueued"."""
    return "cancelled" if kind == "cancel" else "re-enqueued"


def _notes(notes: list[str], sep: str = "; ") -> str:
    return (sep + "; ".join(notes) + ".") if notes else ""


async def collect(store: Store, scope: Filter, progress: Progress | None = None) -> list[Job]:
    """Every job matching ``scope`` now (the cut-off of a bulk action), malformed ones left out.

    Paged by keyset (``find(after=<the last job of the previous page>)``, newest first): each
    page costs the same however deep it is (``skip`` walked every row before it: O(n²)), and
    a job inserted meanwhile is newer than the first page, so it is never reached — nor can it
    shift a page to read a job twice or pass one over."""
    found: list[Job] = []
    seen = 0
    last: Job | None = None
    while True:
        jobs = await store.find(**scope.query(), limit=PAGE, after=last)
        seen += len(jobs)
        last = jobs[-1] if jobs else last
        found.extend(j for j in jobs if not j.malformed)
        if progress is not None:
            progress(seen)
        if len(jobs) < PAGE:
            return found


async def plan_marked(
    store: Store, kind: BulkKind, keys: list[str], progress: Progress | None = None
) -> Plan:
    """The marked jobs that ``kind`` can act on now (the others are named in the question)."""
    eligible = CANCELLABLE if kind == "cancel" else REQUEUEABLE
    jobs: list[Job] = []
    gone = 0
    skipped: dict[str, int] = {}  # by status ("malformed" for a document that is not a job)
    for n, key in enumerate(keys, 1):
        job = await store.get(key)
        if job is None:
            gone += 1
        elif job.malformed or shown_status(job) not in eligible:
            status = "malformed" if job.malformed else shown_status(job)
            skipped[status] = skipped.get(status, 0) + 1
        else:
            jobs.append(job)
        if progress is not None and n % 100 == 0:
            progress(n)
            await asyncio.sleep(0)
    # what the question (or, with nothing to do, the notification) says of the others
    which = ", ".join(f"{c} {s}" for s, c in sorted(skipped.items(), key=lambda kv: -kv[1]))
    why = f"only {', '.join(eligible[:-1])} or {eligible[-1]} jobs can be"
    exist = f"{gone} no longer exist{'s' if gone == 1 else ''}" if gone else ""
    if not jobs:
        n = len(keys)
        parts = [f"{which} ({why})" if skipped else "", exist]
        none = f"None of the {n} marked job{'s' if n != 1 else ''} can be {done_word(kind)}"
        return Plan(kind, problem=f"{none}: {'; '.join(p for p in parts if p)}.")
    notes = []
    if skipped:
        count = sum(skipped.values())
        s = "s" if count != 1 else ""
        notes.append(f"{count} marked job{s} cannot be {done_word(kind)} ({which}; {why})")
    if exist:
        notes.append(exist)
    return _plan(kind, jobs, "marked", notes, keys)


async def plan_filter(
    store: Store, kind: BulkKind, current: Filter, statuses: tuple[str, ...], progress: Progress | None = None
) -> Plan:
    """The jobs of the filter, in ``statuses`` (:func:`bulk_statuses`), that ``kind`` acts on."""
    scope = Filter(frozenset(statuses), current.name, current.text, current.parsed)
    jobs = await collect(store, scope, progress)
    if not jobs:
        if kind == "requeue" and statuses == ("failed",):
            return Plan(kind, problem="No failed job matches the filter.")
        return Plan(kind, problem=f"No job in the filter can be {done_word(kind)}.")
    return _plan(kind, jobs, f"matching {current.describe()}", [], [])


def _plan(kind: BulkKind, jobs: list[Job], scope: str, notes: list[str], marked: list[str]) -> Plan:
    """The question with the exact count and the breakdown by status."""
    by_status: dict[str, int] = {}
    for job in jobs:
        status = shown_status(job)
        by_status[status] = by_status.get(status, 0) + 1
    breakdown = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items(), key=lambda kv: -kv[1]))
    n = len(jobs)
    only = ""
    if kind == "requeue":
        only = next(iter(by_status)) if len(by_status) == 1 else ""
        noun = f"{only} job{'s' if n != 1 else ''}".strip()
        question = f"Re-enqueue all {n} {noun} {scope}?"
        if not only:
            question += f"\n({breakdown})"
    else:
        question = f"Cancel all {n} job{'s' if n != 1 else ''} {scope}?\n({breakdown})"
        running = by_status.get("running", 0)
        if running:
            question += f"\nThe {running} running get a cancellation request; their workers stop them."
    question += _notes(notes, "\n")
    question += "\nJobs that arrive after this question are not touched."
    detail = f"bulk: {len(marked)} marked" if marked else f"bulk: {scope}"
    return Plan(kind, [j.id for j in jobs], question, detail, marked, only)


async def run(store: Store, plan: Plan, reason: str, audit: Audit) -> tuple[str, list[ObjectId]]:
    """Act on the plan's jobs with ``reason`` (the operator's, else :data:`DEFAULT_REASON`):
    the jobs' reason and the audit log's detail carry it. Returns the message for the
    operator and the ids acted on."""
    kind, n = plan.kind, len(plan.ids)
    given = reason.strip()
    why = given or DEFAULT_REASON[kind]
    done: list[ObjectId] = []
    errors: list[str] = []
    requested = 0

    async def act(id: ObjectId) -> None:
        nonlocal requested
        try:
            if kind == "cancel":
                job = await queuecore.cancel_job(store, id, why)
                requested += job.status is not Status.CANCELLED
            else:
                await queuecore.requeue(store, id, reason=why)
            done.append(id)
        except queuecore.QueueError as exc:
            errors.append(str(exc))

    # IN_FLIGHT at a time: their writes share a transaction (SQLite) or a round trip (MongoDB)
    # instead of one each, and each turn of the event loop stays short for keys and frames
    for start in range(0, n, IN_FLIGHT):
        await asyncio.gather(*(act(id) for id in plan.ids[start : start + IN_FLIGHT]))
    if done:
        detail = plan.detail + (f"; reason: {given}" if given else "")
        await audit(store, "cancel" if kind == "cancel" else "requeue", done, detail)
    if kind == "cancel":
        message = f"Cancelled {len(done) - requested} of {n} jobs"
        if requested:
            message += f"; cancellation requested for {requested} running"
        message += "."
    else:
        noun = f"{plan.only} jobs".strip() if plan.only else "jobs"
        message = f"Re-enqueued {len(done)} of {n} {noun}."
    if errors:
        message += f" {len(errors)} refused, e.g.: {errors[0]}"
    return message, done


__all__ = [
    "CANCELLABLE",
    "DEFAULT_REASON",
    "REQUEUEABLE",
    "TYPE_TO_CONFIRM",
    "BulkKind",
    "Plan",
    "bulk_statuses",
    "collect",
    "plan_filter",
    "plan_marked",
    "run",
]
