"""The live model behind the jobs screen, independent of any UI toolkit.

It consumes ``store.watch()`` and keeps a *window* of the jobs that match the
current :class:`Filter`, in the current :class:`~queuecore.sort.Sort` (default newest
first: creation time, then id), keyed by id, loaded server-side with ``store.find`` so a
collection of 100,000+ jobs never has to be read whole.

Rules (what the jobs table shows follows from them):

- ``reset`` (the first event, reconnects, polling ticks) and a filter change
  reload the window from the store.
- ``insert``/``update`` of a job that matches the filter puts it in the window at
  its place in the sort order (``Sort.key``, the order the engines sort by: a new job
  goes on top of the newest-first order); a job that sorts after the window's last
  row is left for "load more" unless everything was already loaded. An update of a
  sorted field (a status, an end time) may move a row — or out of the window, when
  it now sorts after the last row and more jobs are not loaded.
- An ``update`` after which a job no longer matches the filter removes it from
  the window (the window always equals "the first jobs matching the filter, in the
  sort order").
- ``delete`` removes the job.

- A running job whose timeout passed is *stalled* without any event: ``recheck``
  (called on the clock tick) drops rows the passing time took out of the filter,
  and a time-dependent filter (running, stalled, a query) is reloaded now and then.

Counts come from ``store.counts(cap=…)`` at most once per ``counts_interval`` and
only when something changed — never once per event. A change the throttle held back is
counted when the interval ends, even if no other event follows (a trailing edge): the
counts never lag the rows by more than ``counts_interval``. When a count hits the cap
(a large collection) they are re-read only on the clock tick, every
``LARGE_COUNTS_INTERVAL`` seconds at most. Per-minute completed and
failed rates (for sparklines) are counted from change events, de-duplicated by
(id, attempt, status). Queue latency (oldest waiting job per task) is one aggregation in
the store (``store.oldest_waiting()``), read on the clock tick only (``tick``), on a
slower throttle, and skipped on huge backlogs — never on the change-event path.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from queuecore import Change, Job, Status, Store
from queuecore.sort import NEWEST, Sort
from queuecore.store import MODE_POLLING, MODE_RECONNECTING

from .view import STATUS_ORDER, Delta, Filter, status_of

#: Counts above this are shown as "10k+" (``store.counts(cap=…)``).
COUNT_CAP = 10_000
#: With capped counts, they are re-read at most this often (seconds), on the clock tick only.
LARGE_COUNTS_INTERVAL = 5.0
#: A time-dependent filter (running, stalled, a query with ages) is reloaded this often (seconds).
TIME_RELOAD_INTERVAL = 10.0


def mode_label(mode: str) -> str:
    """The connection indicator's words for ``store.mode``: ``polling``, ``reconnecting…``, and
    any other mode, the live feed an engine names (``change-stream``, ``change-feed``, another
    engine's own), as ``live (change stream)`` — so a new engine's feed needs no edit here."""
    if mode == MODE_POLLING:
        return "polling"
    if mode == MODE_RECONNECTING:
        return "reconnecting…"
    return f"live ({mode.replace('-', ' ')})"


#: Above this many waiting (enqueued + failed) jobs the latency aggregation is skipped.
LATENCY_SCAN_LIMIT = 20_000
#: Change events taken from the feed before the event loop gets a turn (keys, frames).
FEED_SLICE = 50
#: Minutes of completed/failed history kept for the sparklines.
RATE_MINUTES = 30


class LiveModel:
    """The window of jobs for the current filter, kept current from ``store.watch()``."""

    def __init__(
        self,
        store: Store,
        *,
        page: int = 200,
        counts_interval: float = 1.0,
        latency_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.page = page
        self.counts_interval = counts_interval
        self.latency_interval = latency_interval
        self.clock = clock
        self.filter = Filter()
        #: The order of the window (server-side: ``store.find(sort=…)``).
        self.sort: Sort = NEWEST
        #: The window: job by id, and the ids newest first.
        self.jobs: dict[ObjectId, Job] = {}
        #: ``(sort key, id)`` of every row, in display order (for bisect), and each id's key.
        self._order: list[tuple[Any, ObjectId]] = []
        self._keys: dict[ObjectId, Any] = {}
        #: How many rows the window may hold (grows by ``page`` with load_more).
        self.limit = page
        #: Whether every job matching the filter is in the window.
        self.exhausted = False
        #: Jobs per status (from ``store.counts()``; ``running`` and ``stalled`` included).
        self.counts: dict[str, int] = {s: 0 for s in (*(s.value for s in Status), *STATUS_ORDER)}
        #: Counts at most this high are exact; statuses in ``capped`` have at least this many.
        self.count_cap: int | None = COUNT_CAP
        #: Statuses whose count hit ``count_cap`` (shown as "10k+").
        self.capped: set[str] = set()
        #: Seconds between time-dependent reloads (see ``refresh``).
        self.time_reload_interval = TIME_RELOAD_INTERVAL
        self._time_reload_at = float("-inf")
        #: Task names seen (suggestions for filters and the enqueue form).
        self.names: set[str] = set()
        #: Oldest waiting job's ``available`` time per task; None when not measured.
        self.latency: dict[str, datetime] | None = {}
        self._rates: dict[str, dict[int, int]] = {"completed": {}, "failed": {}}
        self._outcomes: set[tuple[ObjectId, int, str]] = set()
        self._counts_dirty = True
        self._counts_at = float("-inf")
        self._latency_dirty = True
        self._latency_at = float("-inf")
        self._lock = asyncio.Lock()
        #: Whether the first snapshot was loaded.
        self.loaded = False

    # -- reading --------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The store's watch mode (change-stream, change-feed, polling, reconnecting)."""
        return self.store.mode

    @property
    def mode_label(self) -> str:
        """The connection indicator's text."""
        return mode_label(self.mode)

    def ordered(self) -> list[Job]:
        """The window's jobs in the sort order (newest first by default)."""
        return [self.jobs[i] for _, i in self._order]

    def get(self, id: ObjectId) -> Job | None:
        """The job with this id if it is in the window."""
        return self.jobs.get(id)

    def index(self, id: ObjectId) -> int | None:
        """The row (0 = the first, the newest by default) of ``id`` in the window, or None."""
        key = self._keys.get(id)
        if key is None:
            return None
        return bisect.bisect_left(self._order, (key, id))

    def __len__(self) -> int:
        return len(self._order)

    def rates(self, status: str, minutes: int = RATE_MINUTES, now: float | None = None) -> list[int]:
        """Per-minute counts of jobs that reached ``status`` (completed/failed), oldest first."""
        current = int((time.time() if now is None else now) // 60)
        buckets = self._rates[status]
        return [buckets.get(m, 0) for m in range(current - minutes + 1, current + 1)]

    def latencies(self, now: datetime | None = None) -> dict[str, float]:
        """Seconds the oldest waiting job of each task has been waiting."""
        if not self.latency:
            return {}
        now = now or datetime.now(UTC)
        return {name: max(0.0, (now - at).total_seconds()) for name, at in sorted(self.latency.items())}

    # -- loading --------------------------------------------------------------

    async def set_filter(self, new: Filter) -> Delta:
        """Change the filter and reload the window from the store. When the load fails (a
        ``QueryTimeout``) or is cancelled (a newer filter replaced it), the model keeps the
        previous filter and its window, untouched."""
        return await self._reselect(filter=new)

    async def set_sort(self, new: Sort) -> Delta:
        """Change the order and reload the window from the store (sorted by the database);
        a failed or cancelled load keeps the previous order and window."""
        return await self._reselect(sort=new)

    async def _reselect(self, *, filter: Filter | None = None, sort: Sort | None = None) -> Delta:
        """Reload a first page with a new ``filter`` or ``sort`` (None: the current one, as it
        is once the lock is held); on failure or cancellation the previous selection (filter,
        order, window size) stays as it was."""
        async with self._lock:
            before = self.filter, self.sort, self.limit
            if filter is not None:
                self.filter = filter
            if sort is not None:
                self.sort = sort
            self.limit = self.page
            try:
                delta = await self._reload()
            except BaseException:
                self.filter, self.sort, self.limit = before
                raise
            delta.refiltered = True
            return delta

    async def reload(self) -> Delta:
        """Reload the window (what ``reset`` does)."""
        async with self._lock:
            return await self._reload()

    async def _reload(self) -> Delta:
        jobs = await self.store.find(**self.filter.query(), limit=self.limit, sort=self.sort)
        self.jobs = {j.id: j for j in jobs}
        self._keys = {j.id: self.sort.key(j) for j in self.jobs.values()}
        self._order = sorted((key, id) for id, key in self._keys.items())
        self.exhausted = len(jobs) < self.limit
        self.loaded = True
        self._time_reload_at = self.clock()
        for job in jobs:
            self._see(job)
        self._counts_dirty = self._latency_dirty = True
        return Delta(reloaded=True)

    async def load_more(self) -> Delta:
        """Fetch the next page of older matching jobs (no-op when exhausted).

        The page starts after the last job shown (keyset paging, ``find(after=…)``): its cost
        does not grow with the depth, and jobs that left the filter before their change event
        was applied cannot shift it past jobs never shown (an offset would)."""
        async with self._lock:
            if self.exhausted:
                return Delta()
            last = self.jobs[self._order[-1][1]] if self._order else None
            jobs = await self.store.find(**self.filter.query(), limit=self.page, after=last, sort=self.sort)
            self.limit = max(self.limit, len(self._order)) + self.page
            self.exhausted = len(jobs) < self.page
            delta = Delta()
            for job in jobs:
                if job.id not in self.jobs:
                    self._put(job, self.sort.key(job))
                    delta.changed.add(job.id)
                    delta.added = True
            return delta

    # -- applying changes -----------------------------------------------------

    async def apply(self, changes: Iterable[Change]) -> Delta:
        """Apply a batch of change events; a ``reset`` in it reloads the window."""
        async with self._lock:
            delta = Delta()
            for change in changes:
                if change.kind == "reset":
                    delta = await self._reload()
                    continue
                delta.merge(self._apply_one(change))
            return delta

    def _apply_one(self, change: Change) -> Delta:
        delta = Delta()
        self._counts_dirty = self._latency_dirty = True
        if change.kind == "delete":
            if change.id is not None and change.id in self.jobs:
                self._drop(change.id)
                delta.changed.add(change.id)
            return delta
        job = change.job
        if job is None:
            return delta
        self._see(job)
        self._count_outcome(job)
        if self.filter.matches(job, datetime.now(UTC)):
            key = self.sort.key(job)
            if job.id in self.jobs and self._keys[job.id] == key:
                self.jobs[job.id] = job
                delta.changed.add(job.id)
                return delta
            known = job.id in self.jobs
            if known:  # a sorted field changed: the row moves (or leaves the window)
                self._drop(job.id)
                delta.changed.add(job.id)
            if self.exhausted or not self._order or (key, job.id) < self._order[-1]:
                self._put(job, key)
                delta.changed.add(job.id)
                delta.added = True
                self._trim(delta)
            elif known:  # it now sorts after the last row: the next page holds its place
                self.exhausted = False
        elif job.id in self.jobs:
            self._drop(job.id)
            delta.changed.add(job.id)
        return delta

    async def recheck(self, now: datetime | None = None) -> Delta:
        """Drop the rows that passing time took out of the filter (a running job that stalled)."""
        async with self._lock:
            delta = Delta()
            if not self.filter.time_sensitive:
                return delta
            now = now or datetime.now(UTC)
            for id in [i for i, job in self.jobs.items() if not self.filter.matches(job, now)]:
                self._drop(id)
                delta.changed.add(id)
            return delta

    def _put(self, job: Job, key: Any) -> None:
        self.jobs[job.id] = job
        self._keys[job.id] = key
        bisect.insort(self._order, (key, job.id))

    def _drop(self, id: ObjectId) -> None:
        del self.jobs[id]
        key = self._keys.pop(id)
        pos = bisect.bisect_left(self._order, (key, id))
        if pos < len(self._order) and self._order[pos][1] == id:
            del self._order[pos]

    def _trim(self, delta: Delta) -> None:
        """Keep the window within ``limit`` rows by dropping the last (the oldest by default)."""
        while len(self._order) > self.limit:
            _, last = self._order.pop()
            self.jobs.pop(last, None)
            self._keys.pop(last, None)
            delta.changed.add(last)
            self.exhausted = False

    def _see(self, job: Job) -> None:
        if job.name and job.name != "?" and len(self.names) < 10_000:
            self.names.add(job.name)

    def _count_outcome(self, job: Job) -> None:
        status = status_of(job)
        if status not in self._rates or job.ended is None:
            return
        key = (job.id, job.attempts, status)
        if key in self._outcomes:
            return
        self._outcomes.add(key)
        minute = int(job.ended.timestamp() // 60)
        buckets = self._rates[status]
        buckets[minute] = buckets.get(minute, 0) + 1
        oldest = int(time.time() // 60) - RATE_MINUTES
        for m in [m for m in buckets if m < oldest]:
            del buckets[m]
        if len(self._outcomes) > 50_000:
            self._outcomes.clear()

    # -- throttled aggregates -------------------------------------------------

    @property
    def large(self) -> bool:
        """Whether some count hit the cap: counts are then refreshed on the clock tick only."""
        return bool(self.capped)

    async def refresh_counts(self, *, force: bool = False, timer: bool = False) -> bool:
        """Re-read the counts if something changed and the throttle allows; True if read.

        ``timer``: called from the clock tick. A large collection's counts are re-read
        only then (never per change event), at most every ``LARGE_COUNTS_INTERVAL``.
        """
        now = self.clock()
        interval = self.counts_interval
        if self.large and not force:
            if not timer:
                return False
            interval = max(interval, LARGE_COUNTS_INTERVAL)
        if not force and (not self._counts_dirty or now - self._counts_at < interval):
            return False
        self._counts_dirty = False
        self._counts_at = now
        counts = await self.store.counts(cap=self.count_cap) if self.count_cap else await self.store.counts()
        self.capped = set(getattr(counts, "capped", ()) or ())
        self.counts = dict(counts)
        return True

    def _counts_due(self) -> float | None:
        """Seconds until counts held back by the throttle may be read (None: none held back).

        A large collection's counts wait for the clock tick instead."""
        if not self._counts_dirty or self.large or not self.loaded:
            return None
        return max(0.0, self._counts_at + self.counts_interval - self.clock())

    async def refresh_latency(self, *, force: bool = False) -> bool:
        """Re-measure the oldest waiting job per task (throttled); True if measured."""
        now = self.clock()
        if not force and (not self._latency_dirty or now - self._latency_at < self.latency_interval):
            return False
        self._latency_dirty = False
        self._latency_at = now
        waiting = sum(self.counts.get(s.value, 0) for s in (Status.ENQUEUED, Status.FAILED))
        if waiting > LATENCY_SCAN_LIMIT:
            self.latency = None
            return True
        self.latency = await self.store.oldest_waiting()
        return True

    async def refresh(self, *, force: bool = False, timer: bool = False) -> bool:
        """Refresh the throttled aggregates; True when any was re-read.

        The queue latency is re-measured only with ``force`` or ``timer`` (the clock tick),
        so a stream of change events never waits for it.
        """
        counted = await self.refresh_counts(force=force, timer=timer)
        measured = await self.refresh_latency(force=force) if force or timer else False
        return counted or measured

    async def tick(self) -> Delta:
        """The clock tick: aggregates on their timers, rows the time took out of the filter,
        and — for a time-dependent filter — a reload every ``time_reload_interval``."""
        if not self.loaded:
            return Delta()
        if self.counts.get("running", 0):
            # a running job stalls when its timeout passes, with no change event (its worker
            # died): while any runs, the clock re-reads the counts (throttled as ever)
            self._counts_dirty = True
        if self.filter.time_sensitive and self.clock() - self._time_reload_at >= self.time_reload_interval:
            delta = await self.reload()
        else:
            delta = await self.recheck()
        delta.counts_changed = await self.refresh(timer=True)
        return delta

    # -- running --------------------------------------------------------------

    async def run(self, on_delta: Callable[[Delta], Any]) -> None:
        """Consume ``store.watch()`` until cancelled, calling ``on_delta`` per batch.

        Events that arrive while a batch is applied are applied together in the
        next batch, so a burst of changes costs one view update, not one each.
        """
        queue: asyncio.Queue[Change | BaseException] = asyncio.Queue()

        async def produce() -> None:
            try:
                taken = 0
                async for change in self.store.watch():
                    queue.put_nowait(change)
                    taken += 1
                    if taken % FEED_SLICE == 0:
                        # an engine may hand over a whole batch without suspending (SQLite
                        # reads up to 1,000 changes at once, a change stream buffers its
                        # batch): decoding it all in one step held keys and frames ~70 ms
                        await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                queue.put_nowait(exc)

        producer = asyncio.create_task(produce(), name="jobtui-watch")
        try:
            while True:
                due = self._counts_due()
                try:
                    item = await (queue.get() if due is None else asyncio.wait_for(queue.get(), due))
                except TimeoutError:  # the throttle held counts back and no event came since
                    delta = Delta(counts_changed=await self.refresh())
                    if delta:
                        result = on_delta(delta)
                        if asyncio.iscoroutine(result):
                            await result
                    continue
                batch = [item]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                errors = [b for b in batch if isinstance(b, BaseException)]
                changes = [b for b in batch if isinstance(b, Change)]
                delta = await self.apply(changes)
                delta.counts_changed = await self.refresh()
                if delta:
                    result = on_delta(delta)
                    if asyncio.iscoroutine(result):
                        await result
                if errors:
                    raise errors[0]
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer
