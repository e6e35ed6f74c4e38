"""The MongoDB engine's store: jobs in a collection, the audit log beside it.

Writes are single-document atomic operations guarded in their filter (status, attempt, the
stall time), so two processes never both win a transition; reads get raw documents and decode
them one by one (:mod:`.decode`). The change feed is :mod:`.feed`, the indexes :mod:`.indexes`,
the query translation :mod:`.filter`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import BSONError
from pymongo import DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from ..._time import as_utc, utcnow
from ...audit import AuditEntry
from ...job import ACTIVE, MAX_EVENTS, Change, Event, Job, Status
from ...query import Query
from ...sort import NEWEST, Sort
from ...status import RUNNING, STALLED
from ..base import MODE_CHANGE_STREAM, Store, find_query, parse_id, row_count
from ..changes import Changes, Guard
from ..common import (
    CLAIMABLE,
    UNKNOWN_STATUSES,
    Counts,
    audit_record,
    capped_counts,
    claim_changes,
    count_limit,
    exact_counts,
    lock_key,
)
from . import decode, feed, indexes, order
from .errors import DUPLICATE_KEY, is_lock_conflict, lock_conflicts, reachable, reaching
from .filter import derived_filter, query_filter
from .limits import count_options, mongo_options, mongo_read


class MongoStore(Store):
    """Jobs in a MongoDB collection. Open with ``queuecore.connect("mongodb://…")``."""

    engine = "mongodb"
    driver_errors = (PyMongoError, BSONError)

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        database: str,
        collection: str,
        display_uri: str,
        *,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(display_uri, collection)
        self.client = client
        self.database = database
        self.coll: AsyncCollection[dict[str, Any]] = client[database][collection]
        #: The audit log of operator actions (``<collection>_audit``).
        self.audit_coll: AsyncCollection[dict[str, Any]] = client[database][f"{collection}_audit"]
        # Reads get raw documents and decode them one by one (see .decode): one
        # document that cannot be decoded is a malformed job, not a failed read.
        self._options = self.coll.codec_options
        self._raw_views: dict[str, tuple[Any, AsyncCollection[Any]]] = {}
        #: Seconds between snapshots when the server has no change streams.
        self.poll_interval = poll_interval
        self._mode = MODE_CHANGE_STREAM
        self._polling = False

    async def open(self, create: bool = True) -> None:
        """Check the server answers and create the lock index the label guarantee needs.
        ``create=False`` (readers): the collection must exist, and nothing is created."""
        await indexes.prepare(self, create)

    # -- writes ---------------------------------------------------------------

    @reaching
    async def insert(self, job: Job, *, lock: bool, unless_finished_after: datetime | None = None) -> bool:
        since = unless_finished_after
        if since is not None and await self._finished_since(job.name, job.label, since):
            return False
        doc = _new_doc(job, lock)
        try:
            await self.coll.insert_one(doc)
        except DuplicateKeyError as exc:
            if is_lock_conflict(exc.details, str(exc)):
                return False
            raise
        # One insert cannot also check the period, so check again after it: when a job of
        # this name and label finished between the check and the insert, take ours back
        # (unless a worker claimed it already, or it is ours that finished).
        if since is not None and await self._finished_since(job.name, job.label, since):
            taken = await self.coll.delete_one({"_id": job.id, "status": Status.ENQUEUED.value})
            return taken.deleted_count == 0
        return True

    async def insert_many(
        self, items: Sequence[tuple[Job, bool]], *, since: Sequence[datetime | None] | None = None
    ) -> list[bool]:
        """One unordered ``insert_many`` for the jobs without a period, then those with one
        (see :meth:`insert`). Not a transaction: a failure midway (a lost connection, a killed
        producer) may leave some of them inserted — retry with labels (see ``enqueue_many``)."""
        since = since or [None] * len(items)
        plain = [i for i, at in enumerate(since) if at is None]
        out = [False] * len(items)
        for i, ok in zip(plain, await self._insert_plain([items[i] for i in plain]), strict=True):
            out[i] = ok
        for i, at in enumerate(since):
            if at is not None:
                job, lock = items[i]
                out[i] = await self.insert(job, lock=lock, unless_finished_after=at)
        return out

    @reaching
    async def _insert_plain(self, items: Sequence[tuple[Job, bool]]) -> list[bool]:
        out = [True] * len(items)
        docs: list[dict[str, Any]] = []
        positions: list[int] = []  # where each doc sent is in ``items``
        taken: set[str] = set()
        for i, (job, lock) in enumerate(items):
            doc = _new_doc(job, lock)
            if lock:
                if doc["lock"] in taken:  # an earlier one in the list holds it: skipped without asking
                    out[i] = False
                    continue
                taken.add(doc["lock"])
            docs.append(doc)
            positions.append(i)
        if not docs:
            return out
        try:
            # one call; unordered is safe, as no two documents sent share a lock
            await self.coll.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            other = [
                e
                for e in errors
                if e.get("code") not in DUPLICATE_KEY or not is_lock_conflict(e, str(e.get("errmsg", "")))
            ]
            if other or not errors:
                raise
            for error in errors:  # a lock held by an active job: skipped
                out[positions[int(error["index"])]] = False
        return out

    @reaching
    async def _finished_since(self, name: str, label: str, since: datetime) -> bool:
        found = await self.coll.find_one(
            {"name": name, "label": label, "finished_at": {"$gt": since}}, {"_id": 1}
        )
        return found is not None

    @reaching
    async def claim(self, id: ObjectId, now: datetime, timeout: timedelta, worker: str) -> Job | None:
        changes = claim_changes(now, timeout, worker)
        assert changes.event is not None
        doc = await self._raw.find_one_and_update(
            {"_id": id, "status": {"$in": [s.value for s in CLAIMABLE]}, "available_at": {"$lte": now}},
            {
                "$set": {k: _plain(v) for k, v in changes.stored()},
                "$inc": {"attempts": 1},
                "$push": {"events": {"$each": [_event_doc(changes.event)], "$slice": -MAX_EVENTS}},
            },
            return_document=ReturnDocument.AFTER,
        )
        return self._job(doc) if doc is not None else None

    @reaching
    async def update(self, id: ObjectId, guard: Guard, changes: Changes) -> Job | None:
        write = await self._guarded(id, guard, changes)
        if write is None:
            return None
        with lock_conflicts():
            doc = await self._raw.find_one_and_update(*write, return_document=ReturnDocument.AFTER)
        return self._job(doc) if doc is not None else None

    @reaching
    async def update_only(self, id: ObjectId, guard: Guard, changes: Changes) -> bool:
        write = await self._guarded(id, guard, changes)
        if write is None:
            return False
        with lock_conflicts():
            result = await self.coll.update_one(*write)
        return result.matched_count == 1

    async def _guarded(
        self, id: ObjectId, guard: Guard, changes: Changes
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The filter and change of a guarded update (see :meth:`Store.update`); None when
        there is no such job (found while reading its name and label for ``lock=True``)."""
        query: dict[str, Any] = {"_id": id}
        guards: list[dict[str, Any]] = []
        if guard.statuses is not None:
            guards.append({"status": {"$in": [s.value for s in guard.statuses]}})
        if guard.stalled_at is not None:  # status:stalled at that time (queuecore.status)
            guards.append(derived_filter(STALLED, guard.stalled_at))
        if len(guards) == 1:
            query.update(guards[0])
        elif guards:
            query["$or"] = guards
        if guard.attempts is not None:
            query["attempts"] = guard.attempts
        change: dict[str, Any] = {"$set": {k: _plain(v) for k, v in changes.stored()}}
        if changes.event is not None:
            change["$push"] = {"events": {"$each": [_event_doc(changes.event)], "$slice": -MAX_EVENTS}}
        if changes.lock is True:
            # name and label never change, so reading them first is safe; the
            # status guard above still makes the update itself atomic.
            found = await self._raw.find_one({"_id": id}, {"name": 1, "label": 1})
            if found is None:
                return None
            current = decode.document(found, self._options) or {}
            name, label = current.get("name"), current.get("label")
            if label and isinstance(name, str) and isinstance(label, str):  # else malformed: no lock
                change["$set"]["lock"] = lock_key(name, label)
        elif changes.lock is False:
            change["$unset"] = {"lock": ""}
        return query, change

    @reaching
    async def delete(self, ids: Sequence[ObjectId]) -> int:
        if not ids:
            return 0
        result = await self.coll.delete_many({"_id": {"$in": list(ids)}})
        return result.deleted_count

    # -- reads ----------------------------------------------------------------

    @reaching
    async def get(self, id: ObjectId | str) -> Job | None:
        oid = parse_id(id)
        if oid is None:
            return None
        doc = await self._raw.find_one({"_id": oid})
        return self._job(doc) if doc is not None else None

    @reaching
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
        filter = query_filter(q := find_query(status, name, text, query), utcnow())
        if limit <= 0:
            return []
        if after is not None:
            filter = {"$and": [filter, order.after(sort or NEWEST, after)]}
        seconds = self.read_limit(q)
        cursor = self._raw.find(filter, **mongo_options(seconds)).sort(order.sort_spec(sort or NEWEST))
        docs = await mongo_read(cursor.skip(row_count(skip)).limit(row_count(limit)).to_list(None), seconds)
        return [self._job(d) for d in docs]

    @reaching
    async def count(self, query: Query | None = None, *, cap: int | None = None) -> int:
        filter = query_filter(q := query or Query(), utcnow())
        if cap is not None and cap <= 0:
            return 0
        seconds = self.read_limit(q)
        options = count_options(seconds) | ({} if cap is None else {"limit": row_count(cap)})
        return await mongo_read(self.coll.count_documents(filter, **options), seconds)

    @reaching
    async def counts(self, cap: int | None = None) -> Counts:
        now = utcnow()
        # running/stalled: queuecore.status.derived_status, translated (as status:running/stalled)
        running, stalled = derived_filter(RUNNING, now), derived_filter(STALLED, now)
        # the collection's metadata count: no scan, decides between exact and capped counts
        if cap is not None and await self.coll.estimated_document_count() > cap:
            limit = count_limit(cap)
            known = [s.value for s in Status]
            unknown = await self.coll.distinct("status", {"status": {"$nin": known}})
            filters = {s: {"status": s} for s in known}
            filters.update({RUNNING: running, STALLED: stalled})
            filters.update({str(u): {"status": u} for u in unknown[:UNKNOWN_STATUSES]})
            numbers = await asyncio.gather(
                *(self.coll.count_documents(f, limit=limit) for f in filters.values())
            )
            return capped_counts(dict(zip(filters, numbers, strict=True)), limit)
        per_status = []
        pipeline = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        async for raw in await self._raw.aggregate(pipeline):
            # a status value that cannot be decoded is shown with U+FFFD for its bad bytes
            row = decode.document(raw, self._options) or decode.best_effort(raw, self._options)
            status, n = row.get("_id"), row.get("n")
            key = status if isinstance(status, str) else decode.shown(status)
            per_status.append((key, n if isinstance(n, int) else 0))
        return exact_counts(per_status, await self.coll.count_documents(stalled))

    @reaching
    async def active(self, names: Collection[str]) -> list[Job]:
        names = list(names)
        if not names:
            return []
        query = {"status": {"$in": [s.value for s in ACTIVE]}, "name": {"$in": names}}
        return [self._job(d) async for d in self._raw.find(query)]

    async def active_pages(self, names: Collection[str], size: int = 5000) -> AsyncGenerator[list[Job], None]:
        names = list(names)
        if not names:
            return
        query = {"status": {"$in": [s.value for s in ACTIVE]}, "name": {"$in": names}}
        page: list[Job] = []
        cursor = self._raw.find(query, batch_size=max(1, size))
        try:
            with reachable(self.display_uri):
                async for doc in cursor:
                    page.append(self._job(doc))
                    if len(page) >= size:
                        yield page
                        page = []
        finally:
            with contextlib.suppress(PyMongoError):  # stopped early: free the server's cursor now
                await cursor.close()
        if page:
            yield page

    @reaching
    async def oldest_waiting(self, now: datetime | None = None) -> dict[str, datetime]:
        waiting = [Status.ENQUEUED.value, Status.FAILED.value]
        pipeline: list[dict[str, Any]] = [
            # type bracketing: $lte with a date matches dates only
            {"$match": {"status": {"$in": waiting}, "available_at": {"$lte": now or utcnow()}}},
            {"$group": {"_id": "$name", "oldest": {"$min": "$available_at"}}},
        ]
        out: dict[str, datetime] = {}
        async for raw in await self._raw.aggregate(pipeline):
            row = decode.document(raw, self._options) or {}  # a name not UTF-8: left out
            name, oldest = row.get("_id"), row.get("oldest")
            if isinstance(name, str) and isinstance(oldest, datetime):
                out[name] = as_utc(oldest)
        return out

    # -- audit log ------------------------------------------------------------

    @reaching
    async def insert_audit(self, entry: AuditEntry) -> None:
        doc = audit_record(entry)
        await self.audit_coll.insert_one(doc)

    @reaching
    async def find_audit(self, limit: int = 100) -> list[AuditEntry]:
        if limit <= 0:
            return []
        cursor = self._raw_audit.find({}).sort([("at", DESCENDING), ("_id", DESCENDING)])
        cursor = cursor.limit(row_count(limit))
        decoded = (
            decode.document(raw, self._options) or decode.best_effort(raw, self._options)
            async for raw in cursor
        )
        return [decode.audit_entry(doc) async for doc in decoded]

    # -- changes --------------------------------------------------------------

    def watch(self) -> AsyncIterator[Change]:
        """Change events (see :mod:`.feed`); the first is ``reset``."""
        return feed.watch(self)

    @property
    def _raw(self) -> AsyncCollection[Any]:
        """``coll`` reading raw documents (made again when ``coll`` is replaced)."""
        return self._raw_view("coll")

    @property
    def _raw_audit(self) -> AsyncCollection[Any]:
        """``audit_coll`` reading raw documents."""
        return self._raw_view("audit_coll")

    def _raw_view(self, attr: str) -> AsyncCollection[Any]:
        coll = getattr(self, attr)
        known = self._raw_views.get(attr)
        if known is None or known[0] is not coll:
            view = coll.with_options(codec_options=decode.raw_options(self._options))
            known = self._raw_views[attr] = (coll, view)
        return known[1]

    def _job(self, raw: Any) -> Job:
        """The job in a raw document (never raises: see :mod:`.decode`)."""
        return decode.job(raw, self._options)

    # -- maintenance ----------------------------------------------------------

    @reaching
    async def ensure_indexes(self, remove_after: timedelta | None = None) -> None:
        await indexes.ensure(self, remove_after)

    async def close(self) -> None:
        await self.client.close()


def _new_doc(job: Job, lock: bool) -> dict[str, Any]:
    """A new job's document; with ``lock``, holding its name and label's lock."""
    doc = job.to_doc()
    doc["events"] = [_event_doc(e) for e in job.events]
    if lock:
        doc["lock"] = lock_key(job.name, job.label)
    return doc


def _event_doc(event: Event) -> dict[str, Any]:
    """An event as stored in a job's ``events`` list."""
    return {"at": event.at, "status": str(event.status), "reason": event.reason}


def _plain(value: Any) -> Any:
    """A value of an update's ``$set`` as stored (a status as its string)."""
    return value.value if isinstance(value, Status) else value
