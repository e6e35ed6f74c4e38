"""The storage protocol every engine implements.

Like saq's ``Queue`` base class, the engines only provide job-level primitives
(insert, claim, guarded update, reads and a change feed); the queue semantics
(what may move from which status to which) live once in :mod:`queuecore.ops`.
Every guard is evaluated inside the store, atomically, so two processes can
never both win the same transition.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Self

from bson import ObjectId

from ..job import Change, Job, Status
from ..query import Query, check_status
from ..sort import Sort
from .changes import Changes, Guard
from .common import COUNTS_CAP, DERIVED_COUNTS, Counts, LockConflict, lock_key

if TYPE_CHECKING:
    from ..audit import AuditEntry

#: What ``watch()`` is doing right now (shown by dashboards).
MODE_CHANGE_STREAM = "change-stream"
MODE_CHANGE_FEED = "change-feed"
MODE_POLLING = "polling"
MODE_RECONNECTING = "reconnecting"


#: Seconds a filtered read (``find``/``count`` with filter terms) may take by default before
#: the database stops it with ``QueryTimeout`` (``connect(query_timeout=…)``, ``store.query_timeout``).
QUERY_TIMEOUT = 5.0


class Store(abc.ABC):
    """A job store. Use :func:`queuecore.connect` to open one; close it with ``await store.close()``."""

    #: The engine's name (``"mongodb"``, ``"sqlite"``, another package's), as shown to people.
    engine: ClassVar[str]
    #: The exceptions the engine's driver raises for a problem on the database's side (a lost
    #: connection, a locked or full file, a refused statement): a program shows them as one
    #: line, not a traceback, as jobtui's commands do. Empty: the engine raises only its own.
    driver_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, display_uri: str, collection: str) -> None:
        #: The URI with any password masked: safe to print.
        self.display_uri = display_uri
        #: The collection (MongoDB) or table (SQLite) that holds the jobs.
        self.collection = collection
        #: How long finished jobs are kept (``ensure_indexes(remove_after=…)``), if set.
        self.retention: timedelta | None = None
        #: Seconds a filtered ``find``/``count`` may run before the database stops it with
        #: :class:`~queuecore.errors.QueryTimeout` (None: no limit). Unfiltered reads, ``get``
        #: and writes are never limited. Set by ``connect(query_timeout=…)``; may be changed.
        self.query_timeout: float | None = QUERY_TIMEOUT
        #: True: no call of this store runs on the event loop's thread (a dashboard's store:
        #: its loop draws frames and takes keys). False (default): an engine may run a short
        #: call there when that costs no waiting (SQLite's group-committed writes and the
        #: feed's read after them: faster for a worker awaiting each write). Set it before
        #: the store's first write; an engine without such calls ignores it.
        self.keep_loop_free = False
        self._mode = MODE_CHANGE_FEED

    @property
    def mode(self) -> str:
        """How ``watch()`` receives changes: change-stream, change-feed, polling or reconnecting
        (an engine may name its own live feed: a dashboard shows any other mode as live)."""
        return self._mode

    @property
    def location(self) -> str:
        """Where the jobs are, for a title: the URI (password masked) and the collection; an
        engine may say it shorter (SQLite names its file)."""
        return f"{self.display_uri} · {self.collection}"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.display_uri} {self.collection}>"

    def read_limit(self, query: Query) -> float | None:
        """The time limit of a read of ``query``: ``query_timeout`` when it filters, else None."""
        return self.query_timeout if query else None

    @abc.abstractmethod
    async def open(self, create: bool = True) -> None:
        """Reach the database and prepare the store (tables, the lock index); ``create=False``
        (readers): the collection must exist already, and nothing is created. Called by
        :func:`queuecore.connect`."""

    # -- writes ---------------------------------------------------------------

    @abc.abstractmethod
    async def insert(self, job: Job, *, lock: bool, unless_finished_after: datetime | None = None) -> bool:
        """Insert a new job; with ``lock`` it also takes the name+label lock.

        Returns False (and inserts nothing) when another active job holds the lock, or, with
        ``unless_finished_after`` (a blueprint's period), when a job with this name and label
        finished after that time. A job of that name and label that finishes in another
        process while this runs must not let a second one in: SQLite checks inside the
        insert; MongoDB (one insert cannot check another document) checks before and after
        it and takes its job back — unless a worker claimed it within that moment.
        """

    async def insert_many(
        self, items: Sequence[tuple[Job, bool]], *, since: Sequence[datetime | None] | None = None
    ) -> list[bool]:
        """Insert new jobs, each ``(job, lock)`` as in :meth:`insert`, in order — those with a
        time in ``since`` (a blueprint's period, per item) after the others;
        for each, whether it was inserted (False: the lock was held, perhaps by a job earlier
        in the list, or the period skipped it). Engines override this to insert many at once
        (SQLite: in one transaction, all or nothing); this default inserts one by one."""
        since = since or [None] * len(items)
        out = [False] * len(items)
        for i in sorted(range(len(items)), key=lambda i: since[i] is not None):
            job, lock = items[i]
            out[i] = await self.insert(job, lock=lock, unless_finished_after=since[i])
        return out

    @abc.abstractmethod
    async def claim(self, id: ObjectId, now: datetime, timeout: timedelta, worker: str) -> Job | None:
        """Atomically dequeue one job (the original's find-and-modify).

        Matches an enqueued, failed or dequeued job whose ``available`` <= ``now``;
        sets status dequeued, started = now, available = now + timeout,
        attempts + 1, ``worker``, clears progress/note, and appends an event.
        Returns None when the job is not available (another worker won).
        """

    @abc.abstractmethod
    async def update(self, id: ObjectId, guard: Guard, changes: Changes) -> Job | None:
        """Apply ``changes`` to the job if it passes ``guard``, atomically.

        :class:`~queuecore.store.changes.Guard`: its status (or stalled at a time) and its
        attempt; :class:`~queuecore.store.changes.Changes`: the fields set, the event appended
        to the bounded history, the name+label lock taken (raises :class:`LockConflict`) or
        released. Returns the updated job, or None when the guard failed (or there is no job).
        """

    async def update_only(self, id: ObjectId, guard: Guard, changes: Changes) -> bool:
        """:meth:`update`, without reading the job back: whether the guard matched.

        For writers that already know the job (a worker finishing its attempt): engines
        override it to skip returning and parsing the document, a good part of the cost of
        a write. This default calls :meth:`update`."""
        return await self.update(id, guard, changes) is not None

    # -- reads ----------------------------------------------------------------

    @abc.abstractmethod
    async def get(self, id: ObjectId | str) -> Job | None:
        """The job with this id (an ObjectId or its hex string), or None."""

    @abc.abstractmethod
    async def find(
        self,
        status: Status | str | Collection[Status | str] | None = None,
        name: str | None = None,
        text: str | None = None,
        limit: int = 100,
        skip: int = 0,
        *,
        query: Query | None = None,
        sort: Sort | None = None,
        after: Job | None = None,
    ) -> list[Job]:
        """Jobs filtered by status (one or several, also ``running`` and ``stalled``), exact
        task name, free text and a parsed filter — all combined (AND) — in the order ``sort``
        (:class:`queuecore.sort.Sort`, default newest first: ``created_at`` then ``_id``,
        descending), sorted by the database before ``skip`` and ``limit`` apply.

        ``after``: only the jobs after this one in that order — keyset paging: pass the last
        job of the previous page (as ``find`` returned it) to read the next one. Unlike
        ``skip`` each page costs the same however deep it is, and a job inserted, removed or
        moved before the cursor meanwhile never makes a page repeat or miss one; with the
        default order, jobs created after the first page are never reached. (A malformed job
        as the cursor is placed by the values it shows; on MongoDB a document whose sort field
        holds another type than queuecore writes may be passed over.)

        ``text`` is a free-text term of :mod:`queuecore.query`: a case-insensitive part
        of the name, label or reason, or hex digits of the id (a short id, a prefix).
        The result is exactly the jobs for which ``query.matches(job)`` holds.
        """

    @abc.abstractmethod
    async def count(self, query: Query | None = None, *, cap: int | None = None) -> int:
        """How many jobs match ``query`` (all when None); with ``cap``, counting stops there."""

    @abc.abstractmethod
    async def counts(self, cap: int | None = None) -> Counts:
        """How many jobs there are per status, as a :class:`Counts` dict.

        Every stored status is present (zero included), plus ``running`` and ``stalled``
        (which split ``dequeued``; ``dequeued`` stays the count of all dequeued jobs).
        Without ``cap`` the counts are exact. With ``cap``, they are exact while the
        collection holds at most ``cap`` jobs (a cheap estimate decides); above that each
        count stops at ``cap`` and such keys are listed in ``Counts.capped`` — so a
        dashboard refreshing every second never scans millions of jobs.
        """

    @abc.abstractmethod
    async def active(self, names: Collection[str]) -> list[Job]:
        """Every enqueued, dequeued or failed job of these task names (a board's snapshot)."""

    async def active_pages(self, names: Collection[str], size: int = 5000) -> AsyncGenerator[list[Job], None]:
        """:meth:`active`, in pages of about ``size`` jobs, so a queue loading a large backlog
        holds one page of full jobs at a time. SQLite reads one snapshot; MongoDB streams a
        cursor (a job changed meanwhile may come in its old or new state: the change stream
        brings its latest). Engines that can stream override this; the default is one page."""
        yield await self.active(names)

    @abc.abstractmethod
    async def oldest_waiting(self, now: datetime | None = None) -> dict[str, datetime]:
        """Per task name, the ``available`` time of its oldest *waiting* job: enqueued or
        failed, with ``available`` at or before ``now`` (default: the current time).

        Queue latency for dashboards, computed by one aggregation in the database (GROUP BY
        name / ``$group``), so reading it every few seconds costs no job parsing, unlike
        :meth:`active`. Tasks with no waiting job are absent; documents whose name is not a
        string or whose ``available`` time is not a date are left out.
        """

    # -- audit log ------------------------------------------------------------

    @abc.abstractmethod
    async def insert_audit(self, entry: AuditEntry) -> None:
        """Append an operator action to the audit log (``<collection>_audit``); see :mod:`queuecore.audit`."""

    @abc.abstractmethod
    async def find_audit(self, limit: int = 100) -> list[AuditEntry]:
        """The latest audit entries, newest first."""

    # -- changes --------------------------------------------------------------

    @abc.abstractmethod
    def watch(self) -> AsyncIterator[Change]:
        """Change events of the collection.

        The first event is always ``reset`` once the feed is open: the consumer
        loads its snapshot then, so nothing between snapshot and feed is missed.
        Later ``reset`` events (reconnect, lost history, each polling tick) mean
        the same: reload.
        """

    # -- maintenance ----------------------------------------------------------

    @abc.abstractmethod
    async def ensure_indexes(self, remove_after: timedelta | None = None) -> None:
        """Create the indexes on name, status, creation time (the newest-first order) and
        finished; with ``remove_after``, completed and cancelled jobs are deleted once finished
        longer ago than that."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and background tasks. Idempotent."""


def normalise_statuses(
    status: Status | str | Collection[Status | str] | None,
) -> list[str] | None:
    """Turn the ``status`` argument of ``find`` into a list of valid values (or None).

    Stored statuses, ``running`` and ``stalled``; anything else raises ValueError.
    """
    if status is None:
        return None
    values = [status] if isinstance(status, str) else list(status)
    return [check_status(value) for value in values]


def find_query(
    status: Status | str | Collection[Status | str] | None,
    name: str | None,
    text: str | None,
    query: Query | None,
) -> Query:
    """The single :class:`Query` of ``find``'s keyword filters and its ``query``."""
    return Query.of(normalise_statuses(status), name, text) & query


def row_count(n: int) -> int:
    """``n`` as a limit, skip or cap both engines accept: 0 to 2**63 - 1 (a larger one means "all",
    which a 64-bit integer already does; SQLite and BSON refuse anything wider)."""
    return max(0, min(int(n), 2**63 - 1))


def parse_id(id: ObjectId | str) -> ObjectId | None:
    """An ObjectId from an ObjectId or a 24-digit hex string; None for anything else."""
    if isinstance(id, ObjectId):
        return id
    if isinstance(id, str) and ObjectId.is_valid(id.strip()):
        return ObjectId(id.strip())
    return None


__all__ = [
    "COUNTS_CAP",
    "DERIVED_COUNTS",
    "MODE_CHANGE_FEED",
    "MODE_CHANGE_STREAM",
    "MODE_POLLING",
    "MODE_RECONNECTING",
    "QUERY_TIMEOUT",
    "Changes",
    "Counts",
    "Guard",
    "LockConflict",
    "Store",
    "find_query",
    "lock_key",
    "normalise_statuses",
    "parse_id",
    "row_count",
]
