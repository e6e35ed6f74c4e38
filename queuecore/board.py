"""The in-memory board: which jobs of each task are available, and when.

A queue loads its board from the store at start and keeps it current from the
store's change feed, so workers never poll the database for work. As in the
original, each job's availability gets a random lag (up to ``max_lag``) so
processes competing for the same job don't all try at once, and a picked job is
held back locally for ``hold`` seconds so a lost race isn't retried at once.
Unlike the original, idle workers sleep until their board changes or the next
job becomes due, instead of polling on a fixed interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bson import ObjectId

from .job import ACTIVE, Job, Status

#: An idle worker re-checks its board at least this often (a safety net only).
MAX_IDLE = 60.0


#: Random probes ``pick`` tries before it scans the whole bucket.
PROBES = 8
#: A bucket this small is scanned at once: probing it costs more than a scan, and its entries
#: are mostly held (jobs being run), so probes would mostly miss (idle workers woken by a new job).
SCAN = 32


class Tracked(NamedTuple):
    """What a board keeps of a job while loading it: a large backlog is loaded page by page
    into these, instead of holding every job's data and history at once."""

    id: ObjectId
    name: str
    status: Status
    available: datetime
    trace: str | None
    malformed: str | None

    @classmethod
    def of(cls, job: Job) -> Tracked:
        return cls(job.id, job.name, job.status, job.available, job.trace, job.malformed)


@dataclass
class _Entry:
    name: str
    available: float  # wall-clock seconds, lag included
    lag: float
    held_until: float = 0.0  # monotonic seconds: a local hold, unmoved by wall-clock steps
    trace: str | None = None
    slot: int = -1  # position in the bucket's id list (for O(1) random picks)


class _Removals:
    """What the board forgot while one enqueue of this process ran (see :meth:`Board.removals`)."""

    __slots__ = ("ids", "reset")

    def __init__(self) -> None:
        self.ids: set[ObjectId] = set()
        self.reset = False


class Board:
    """Available jobs per task name (only the names it was made for)."""

    def __init__(self, names: Iterable[str], max_lag: float = 0.1, hold: float = 2.0) -> None:
        self.max_lag = max(0.0, max_lag)
        self.hold = max(0.0, hold)
        self._entries: dict[str, dict[ObjectId, _Entry]] = {n: {} for n in names}
        self._ids: dict[str, list[ObjectId]] = {n: [] for n in self._entries}
        self._index: dict[ObjectId, _Entry] = {}
        self._versions: dict[str, int] = dict.fromkeys(self._entries, 0)
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._removals: list[_Removals] = []

    def names(self) -> list[str]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._index)

    def size(self, name: str) -> int:
        """How many active jobs of ``name`` the board holds."""
        return len(self._entries.get(name, {}))

    def apply(self, job: Job, *, lag: bool = True) -> None:
        """Take a job's current state: track it while active, forget it otherwise.

        ``lag=False`` (jobs this process enqueued itself) makes it available here
        without lag: the enqueuing process takes its own jobs first. Such a copy is as
        enqueued; when the change feed got here first (inside :meth:`removals`), its state
        is newer — the job may already run, or be finished and forgotten — and is kept.
        """
        bucket = self._entries.get(job.name)
        if bucket is None or job.malformed is not None or job.status not in ACTIVE:
            self.remove(job.id)  # no wake-up: a job leaving the board makes no work available
            return
        entry = self._index.get(job.id)
        if not lag and self._removals and (entry is not None or self._forgot(job.id)):
            if entry is not None and entry.lag:  # only take the lag away
                entry.available -= entry.lag
                entry.lag = 0.0
                self._bump(job.name)
            return
        if entry is None:
            jitter = random.uniform(0, self.max_lag) if lag and self.max_lag else 0.0
            entry = _Entry(job.name, float("inf"), jitter)
            self._add(job.id, entry)
        available = job.available.timestamp() + entry.lag
        sooner = available < entry.available
        entry.available = available
        entry.trace = job.trace
        if sooner:  # wake idle workers only when there may be work for them sooner than before
            self._bump(job.name)

    def remove(self, id: ObjectId | None) -> None:
        """Forget a job (deleted, finished, or not one of ours)."""
        if id is None:
            return
        for removals in self._removals:
            removals.ids.add(id)
        entry = self._index.pop(id, None)
        if entry is not None:
            self._entries[entry.name].pop(id, None)
            ids = self._ids[entry.name]
            last = ids.pop()
            if last != id:  # move the last id into the freed slot
                ids[entry.slot] = last
                self._index[last].slot = entry.slot

    def _add(self, id: ObjectId, entry: _Entry) -> None:
        self.remove(id)  # a duplicate replaces the entry, as a dict assignment would
        ids = self._ids[entry.name]
        entry.slot = len(ids)
        ids.append(id)
        self._entries[entry.name][id] = entry
        self._index[id] = entry

    @contextlib.contextmanager
    def removals(self) -> Iterator[None]:
        """Around an enqueue of this process and the :meth:`apply` of its jobs (``lag=False``):
        jobs the change feed already took (or finished and removed) meanwhile — a long
        ``enqueue_many`` while workers run — keep the feed's state instead of coming back
        as enqueued, where workers would try to claim them again and again."""
        removals = _Removals()
        self._removals.append(removals)
        try:
            yield
        finally:
            self._removals.remove(removals)

    def _forgot(self, id: ObjectId) -> bool:
        """Whether ``id`` may have left the board during a running :meth:`removals`."""
        return any(r.reset or id in r.ids for r in self._removals)

    def load(self, jobs: Iterable[Job | Tracked]) -> None:
        """Replace the board with a snapshot (at start and after every ``reset``)."""
        for removals in self._removals:
            removals.reset = True  # a job missing from the snapshot may have finished already
        old = self._index
        self._index = {}
        for bucket in self._entries.values():
            bucket.clear()
        for ids in self._ids.values():
            ids.clear()
        for job in jobs:
            if job.malformed is None and job.name in self._entries and job.status in ACTIVE:
                previous = old.get(job.id)
                entry = _Entry(
                    job.name,
                    0.0,
                    previous.lag if previous else random.uniform(0, self.max_lag),
                    previous.held_until if previous else 0.0,
                    job.trace,
                )
                entry.available = job.available.timestamp() + entry.lag
                self._add(job.id, entry)
        for name in self._entries:
            self._bump(name)

    def pick(self, name: str) -> tuple[ObjectId | None, float]:
        """A random available job of ``name`` (held back from now on), or None and
        how many seconds until the next one becomes available."""
        now = time.time()  # availability is wall-clock time, as stored; the hold is local
        mono = time.monotonic()
        # Rejection sampling: a uniformly random entry that is ready is a uniformly random
        # ready job, found in O(1) while most of a backlog is ready; else scan everything.
        ids = self._ids.get(name)
        if ids and len(ids) > SCAN:
            for _ in range(PROBES):
                chosen = ids[random.randrange(len(ids))]
                entry = self._index[chosen]
                if entry.available <= now and entry.held_until <= mono:
                    entry.held_until = mono + self.hold
                    return chosen, 0.0
        ready: list[ObjectId] = []
        soonest = MAX_IDLE
        for id, entry in self._entries.get(name, {}).items():
            due = max(entry.available - now, entry.held_until - mono)
            if due <= 0:
                ready.append(id)
            else:
                soonest = min(soonest, due)
        if not ready:
            return None, soonest
        chosen = random.choice(ready)
        self._index[chosen].held_until = mono + self.hold
        return chosen, 0.0

    def describe(self, id: ObjectId) -> tuple[str | None, float | None]:
        """A tracked job's stored trace context and when it became available (no lag)."""
        entry = self._index.get(id)
        if entry is None:
            return None, None
        return entry.trace, entry.available - entry.lag

    def version(self, name: str) -> int:
        """A counter that changes whenever a job of ``name`` may be available sooner than
        before (one was added, or made available earlier): what idle workers wait for."""
        return self._versions.get(name, 0)

    async def wait(self, name: str, version: int, timeout: float) -> None:
        """Sleep until ``name``'s part of the board changed since ``version``, or ``timeout``."""
        if self._versions.get(name, 0) != version:
            return
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(name, [])
        waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, timeout)):
                    await waiter
        finally:
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)

    def wake_all(self) -> None:
        """Wake every waiting worker (used when the queue stops or a task is resumed)."""
        for name in self._entries:
            self._bump(name)

    def _bump(self, name: str) -> None:
        self._versions[name] = self._versions.get(name, 0) + 1
        for waiter in self._waiters.pop(name, ()):
            if not waiter.done():
                waiter.set_result(None)
