"""The MongoDB engine, on PyMongo's native asyncio API (``pymongo.AsyncMongoClient``).

Documents use the keys the Go original writes, so an existing fire/axe
collection can be watched and worked. Additions of this port:

- Labeled de-duplication across processes: an active labeled job carries
  ``lock = lock_key(name, label)`` under a unique *sparse* index, and drops it
  when it finishes. Two concurrent enqueues cannot both insert: the second gets
  a duplicate-key error. (An upsert keyed on name+label+status is not enough:
  two upserts racing on a filter that matches nothing both insert.)
- ``watch()``: change streams with ``fullDocument: updateLookup`` and resume
  tokens; after a reconnect it resumes from the last token and emits ``reset``
  so consumers reconcile. A server without change streams (error 40573,
  standalone mongod) switches the store to polling for the session; lost
  history (error 286) or an ``invalidate`` reopens the stream from scratch.
  Reconnects back off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import warnings
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from bson import ObjectId
from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    InvalidURI,
    OperationFailure,
    PyMongoError,
)

from .._time import as_utc, utcnow
from ..audit import AuditEntry
from ..backoff import backoff
from ..errors import ConnectError
from ..job import ACTIVE, FINISHED, MAX_EVENTS, Change, Event, Job, Status
from ..query import RUNNING, STALLED, Query
from ..sort import NEWEST, Sort
from ..uri import mask, password
from . import _mongo_decode
from ._limits import count_options, mongo_options, mongo_read
from .base import (
    MODE_CHANGE_STREAM,
    MODE_POLLING,
    MODE_RECONNECTING,
    Counts,
    LockConflict,
    Store,
    find_query,
    lock_key,
    parse_id,
    row_count,
)

#: Error codes of the server that decide how ``watch()`` goes on.
NO_CHANGE_STREAMS = 40573  # "$changeStream stage is only supported on replica sets"
HISTORY_LOST = 286  # ChangeStreamHistoryLost: the resume token fell off the oplog
LOCK_INDEX = "queuecore_lock"
#: The newest-first order (``find``'s default sort), and the same within a status filter.
NEWEST_INDEX = [("created_at", DESCENDING), ("_id", DESCENDING)]
STATUS_NEWEST_INDEX = [("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]


def _no_change_streams(exc: OperationFailure) -> bool:
    return exc.code == NO_CHANGE_STREAMS or "only supported on replica sets" in str(exc)


def _event_doc(event: Event) -> dict[str, Any]:
    return {"at": event.at, "status": str(event.status), "reason": event.reason}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Status) else value


T = TypeVar("T")
P = ParamSpec("P")


def _reaching(
    method: Callable[Concatenate[MongoStore, P], Awaitable[T]],
) -> Callable[Concatenate[MongoStore, P], Awaitable[T]]:
    """Run a store method under ``MongoStore._reachable``: for every read and write, an
    unreachable server is a ConnectError naming it, never a raw driver error."""

    @functools.wraps(method)
    async def reaching(self: MongoStore, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._reachable():
            return await method(self, *args, **kwargs)

    return reaching


@contextlib.contextmanager
def _lock_conflicts() -> Iterator[None]:
    """A duplicate key on the name+label lock as :class:`LockConflict`."""
    try:
        yield
    except DuplicateKeyError as exc:
        if _is_lock_conflict(exc.details, str(exc)):
            raise LockConflict(str(exc)) from None
        raise


class MongoStore(Store):
    """Jobs in a MongoDB collection. Open with ``queuecore.connect("mongodb://…")``."""

    engine = "mongodb"

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
        # Reads get raw documents and decode them one by one (see _mongo_decode): one
        # document that cannot be decoded is a malformed job, not a failed read.
        self._options = self.coll.codec_options
        self._raw_views: dict[str, tuple[Any, AsyncCollection[Any]]] = {}
        #: Seconds between snapshots when the server has no change streams.
        self.poll_interval = poll_interval
        self._mode = MODE_CHANGE_STREAM
        self._polling = False
        #: How many times ``watch()`` had to reopen its stream (for tests and the dashboard).
        self.reconnects = 0

    async def open(self, create: bool = True) -> None:
        """Check the server answers and create the lock index the label guarantee needs.
        ``create=False`` (readers): the collection must exist, and nothing is created."""
        try:
            await self.client.admin.command("ping")
            if not create:
                names = await self.client[self.database].list_collection_names(
                    filter={"name": self.collection}
                )
                if self.collection not in names:  # the name itself, not just any answer
                    raise ConnectError(f"no store at {self.display_uri} (no collection {self.collection!r})")
            else:
                await self.coll.create_index([("lock", ASCENDING)], name=LOCK_INDEX, unique=True, sparse=True)
                # every read of a dashboard or `jobtui ls` is newest first: without this index each
                # one would sort the whole collection (a no-op when it exists)
                await self.coll.create_index(NEWEST_INDEX)
            await self._read_retention()
        except OperationFailure as exc:  # the server answered, and said no
            raise ConnectError(_refusal(self.display_uri, exc)) from None
        except PyMongoError as exc:
            raise ConnectError(f"cannot reach MongoDB at {self.display_uri}: {_brief(exc)}") from None

    async def _read_retention(self) -> None:
        info = await self.coll.index_information()
        for spec in info.values():
            keys = [k for k, _ in spec.get("key", [])]
            if keys == ["finished_at"] and "expireAfterSeconds" in spec:
                self.retention = timedelta(seconds=float(spec["expireAfterSeconds"]))
                return
        self.retention = None

    # -- writes ---------------------------------------------------------------

    @_reaching
    async def insert(self, job: Job, *, lock: bool, unless_finished_after: datetime | None = None) -> bool:
        since = unless_finished_after
        if since is not None and await self.finished_since(job.name, job.label, since):
            return False
        doc = _new_doc(job, lock)
        try:
            await self.coll.insert_one(doc)
        except DuplicateKeyError as exc:
            if _is_lock_conflict(exc.details, str(exc)):
                return False
            raise
        # One insert cannot also check the period, so check again after it: when a job of
        # this name and label finished between the check and the insert, take ours back
        # (unless a worker claimed it already, or it is ours that finished).
        if since is not None and await self.finished_since(job.name, job.label, since):
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

    @_reaching
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
                if e.get("code") not in _DUPLICATE_KEY or not _is_lock_conflict(e, str(e.get("errmsg", "")))
            ]
            if other or not errors:
                raise
            for error in errors:  # a lock held by an active job: skipped
                out[positions[int(error["index"])]] = False
        return out

    @_reaching
    async def finished_since(self, name: str, label: str, since: datetime) -> bool:
        found = await self.coll.find_one(
            {"name": name, "label": label, "finished_at": {"$gt": since}}, {"_id": 1}
        )
        return found is not None

    @_reaching
    async def claim(self, id: ObjectId, now: datetime, timeout: timedelta, worker: str) -> Job | None:
        event = Event(at=now, status=Status.DEQUEUED, reason="")
        doc = await self._raw.find_one_and_update(
            {
                "_id": id,
                "status": {"$in": [s.value for s in ACTIVE]},
                "available_at": {"$lte": now},
            },
            {
                "$set": {
                    "status": Status.DEQUEUED.value,
                    "started_at": now,
                    "available_at": now + timeout,
                    "worker": worker,
                    "progress": None,
                    "note": "",
                    "heartbeat_at": None,
                },
                "$inc": {"attempts": 1},
                "$push": {"events": {"$each": [_event_doc(event)], "$slice": -MAX_EVENTS}},
            },
            return_document=ReturnDocument.AFTER,
        )
        return self._job(doc) if doc is not None else None

    @_reaching
    async def update(
        self,
        id: ObjectId,
        *,
        statuses: Collection[Status] | None,
        set: dict[str, Any],
        event: Event | None = None,
        attempts: int | None = None,
        stalled_before: datetime | None = None,
        lock: bool | None = None,
    ) -> Job | None:
        write = await self._guarded(id, statuses, set, event, attempts, stalled_before, lock)
        if write is None:
            return None
        with _lock_conflicts():
            doc = await self._raw.find_one_and_update(*write, return_document=ReturnDocument.AFTER)
        return self._job(doc) if doc is not None else None

    @_reaching
    async def update_only(
        self,
        id: ObjectId,
        *,
        statuses: Collection[Status] | None,
        set: dict[str, Any],
        event: Event | None = None,
        attempts: int | None = None,
        stalled_before: datetime | None = None,
        lock: bool | None = None,
    ) -> bool:
        write = await self._guarded(id, statuses, set, event, attempts, stalled_before, lock)
        if write is None:
            return False
        with _lock_conflicts():
            result = await self.coll.update_one(*write)
        return result.matched_count == 1

    async def _guarded(
        self,
        id: ObjectId,
        statuses: Collection[Status] | None,
        set: dict[str, Any],
        event: Event | None,
        attempts: int | None,
        stalled_before: datetime | None,
        lock: bool | None,
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The filter and change of a guarded update (see :meth:`Store.update`); None when
        there is no such job (found while reading its name and label for ``lock=True``)."""
        query: dict[str, Any] = {"_id": id}
        guards: list[dict[str, Any]] = []
        if statuses is not None:
            guards.append({"status": {"$in": [Status(s).value for s in statuses]}})
        if stalled_before is not None:
            guards.append({"status": Status.DEQUEUED.value, "available_at": {"$lte": stalled_before}})
        if len(guards) == 1:
            query.update(guards[0])
        elif guards:
            query["$or"] = guards
        if attempts is not None:
            query["attempts"] = attempts
        change: dict[str, Any] = {"$set": {k: _plain(v) for k, v in set.items()}}
        if event is not None:
            change["$push"] = {"events": {"$each": [_event_doc(event)], "$slice": -MAX_EVENTS}}
        if lock is True:
            # name and label never change, so reading them first is safe; the
            # status guard above still makes the update itself atomic.
            found = await self._raw.find_one({"_id": id}, {"name": 1, "label": 1})
            if found is None:
                return None
            current = _mongo_decode.document(found, self._options) or {}
            name, label = current.get("name"), current.get("label")
            if label and isinstance(name, str) and isinstance(label, str):  # else malformed: no lock
                change["$set"]["lock"] = lock_key(name, label)
        elif lock is False:
            change["$unset"] = {"lock": ""}
        return query, change

    @_reaching
    async def delete(self, ids: Sequence[ObjectId]) -> int:
        if not ids:
            return 0
        result = await self.coll.delete_many({"_id": {"$in": list(ids)}})
        return result.deleted_count

    # -- reads ----------------------------------------------------------------

    @_reaching
    async def get(self, id: ObjectId | str) -> Job | None:
        oid = parse_id(id)
        if oid is None:
            return None
        doc = await self._raw.find_one({"_id": oid})
        return self._job(doc) if doc is not None else None

    @_reaching
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
        filter = (q := find_query(status, name, text, query)).mongo(utcnow())
        if limit <= 0:
            return []
        if after is not None:
            filter = {"$and": [filter, (sort or NEWEST).after_mongo(after)]}
        seconds = self.read_limit(q)
        cursor = self._raw.find(filter, **mongo_options(seconds)).sort((sort or NEWEST).mongo())
        docs = await mongo_read(cursor.skip(row_count(skip)).limit(row_count(limit)).to_list(None), seconds)
        return [self._job(d) for d in docs]

    @_reaching
    async def count(self, query: Query | None = None, *, cap: int | None = None) -> int:
        filter = (q := query or Query()).mongo(utcnow())
        if cap is not None and cap <= 0:
            return 0
        seconds = self.read_limit(q)
        options = count_options(seconds) | ({} if cap is None else {"limit": row_count(cap)})
        return await mongo_read(self.coll.count_documents(filter, **options), seconds)

    @_reaching
    async def counts(self, cap: int | None = None) -> Counts:
        now = utcnow()
        running = {"status": Status.DEQUEUED.value, "available_at": {"$gt": now}}
        stalled = {"status": Status.DEQUEUED.value, "available_at": {"$lte": now}}
        # the collection's metadata count: no scan, decides between exact and capped counts
        if cap is not None and await self.coll.estimated_document_count() > cap:
            limit = max(1, int(cap))
            known = [s.value for s in Status]
            unknown = await self.coll.distinct("status", {"status": {"$nin": known}})
            filters = {s: {"status": s} for s in known}
            filters.update({RUNNING: running, STALLED: stalled})
            filters.update({str(u): {"status": u} for u in unknown[:20]})
            numbers = await asyncio.gather(
                *(self.coll.count_documents(f, limit=limit) for f in filters.values())
            )
            out = Counts(dict(zip(filters, numbers, strict=True)))
            out.capped = {key for key, n in out.items() if n >= limit}
            return out
        out = Counts({s.value: 0 for s in Status})
        pipeline = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        async for raw in await self._raw.aggregate(pipeline):
            # a status value that cannot be decoded is shown with U+FFFD for its bad bytes
            row = _mongo_decode.document(raw, self._options) or _mongo_decode.best_effort(raw, self._options)
            status, n = row.get("_id"), row.get("n")
            key = status if isinstance(status, str) else _mongo_decode.shown(status)
            out[key] = out.get(key, 0) + (n if isinstance(n, int) else 0)
        out[STALLED] = min(out[Status.DEQUEUED.value], await self.coll.count_documents(stalled))
        out[RUNNING] = out[Status.DEQUEUED.value] - out[STALLED]
        return out

    @_reaching
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
            with self._reachable():
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

    @_reaching
    async def oldest_waiting(self, now: datetime | None = None) -> dict[str, datetime]:
        waiting = [Status.ENQUEUED.value, Status.FAILED.value]
        pipeline = [
            # type bracketing: $lte with a date matches dates only
            {"$match": {"status": {"$in": waiting}, "available_at": {"$lte": now or utcnow()}}},
            {"$group": {"_id": "$name", "oldest": {"$min": "$available_at"}}},
        ]
        out: dict[str, datetime] = {}
        async for raw in await self._raw.aggregate(pipeline):
            row = _mongo_decode.document(raw, self._options) or {}  # a name not UTF-8: left out
            name, oldest = row.get("_id"), row.get("oldest")
            if isinstance(name, str) and isinstance(oldest, datetime):
                out[name] = as_utc(oldest)
        return out

    # -- audit log ------------------------------------------------------------

    @_reaching
    async def insert_audit(self, entry: AuditEntry) -> None:
        doc = {
            "at": entry.at,
            "who": entry.who,
            "source": entry.source,
            "action": entry.action,
            "ids": list(entry.ids),
            "detail": entry.detail,
        }
        await self.audit_coll.insert_one(doc)

    @_reaching
    async def find_audit(self, limit: int = 100) -> list[AuditEntry]:
        if limit <= 0:
            return []
        cursor = self._raw_audit.find({}).sort([("at", DESCENDING), ("_id", DESCENDING)])
        cursor = cursor.limit(row_count(limit))
        decoded = (
            _mongo_decode.document(raw, self._options) or _mongo_decode.best_effort(raw, self._options)
            async for raw in cursor
        )
        return [_audit_entry(doc) async for doc in decoded]

    # -- changes --------------------------------------------------------------

    async def watch(self) -> AsyncIterator[Change]:  # type: ignore[override]
        """Change events (see the module docstring); the first is ``reset``."""
        token: Any = None
        failures = 0
        while True:
            if self._polling:
                self._mode = MODE_POLLING
                yield Change("reset")
                await asyncio.sleep(self.poll_interval)
                continue
            try:
                stream = await self._raw.watch(full_document="updateLookup", resume_after=token)
            except OperationFailure as exc:
                if _no_change_streams(exc):
                    self._polling = True
                    continue
                if exc.code == HISTORY_LOST or token is not None:
                    token = None  # the token is useless now: start afresh and reload
                    continue
                failures = await self._pause(failures)
                continue
            except PyMongoError:
                failures = await self._pause(failures)
                continue
            async with stream:
                self._mode = MODE_CHANGE_STREAM
                token = stream.resume_token or token  # postBatchResumeToken before any event
                yield Change("reset")
                try:
                    async for event in stream:
                        failures = 0  # the stream works (reset here, so streams that end at once back off)
                        token = stream.resume_token
                        op = event.get("operationType")
                        if op == "invalidate":
                            token = None
                            break
                        change = _convert(event, self._options)
                        if change is not None:
                            yield change
                    else:
                        # The server ended the stream without invalidating it (nx-27017 does after a
                        # restart): reopen from the token, backing off as after an error.
                        failures = await self._pause(failures)
                except OperationFailure as exc:
                    if _no_change_streams(exc):
                        self._polling = True
                    elif exc.code == HISTORY_LOST:
                        token = None
                    else:
                        failures = await self._pause(failures)
                except PyMongoError:
                    failures = await self._pause(failures)

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
            view = coll.with_options(codec_options=_mongo_decode.raw_options(self._options))
            known = self._raw_views[attr] = (coll, view)
        return known[1]

    def _job(self, raw: Any) -> Job:
        """The job in a raw document (never raises: see ``_mongo_decode``)."""
        return _mongo_decode.job(raw, self._options)

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """Turn "the server is unreachable" (no server within the client's server-selection
        timeout, a dropped connection) into ConnectError: nothing was written, or the write's
        outcome is unknown; the caller may retry (queue transitions are guarded by attempt)."""
        try:
            yield
        except ConnectionFailure as exc:
            raise ConnectError(f"cannot reach MongoDB at {self.display_uri}: {_brief(exc)}") from None

    async def _pause(self, failures: int) -> int:
        """Back off before reopening the stream: exponential, with jitter, capped at 10 s."""
        self._mode = MODE_RECONNECTING
        self.reconnects += 1
        delay = backoff(0.1, 10, 2, failures).total_seconds()
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        return failures + 1

    # -- maintenance ----------------------------------------------------------

    @_reaching
    async def ensure_indexes(self, remove_after: timedelta | None = None) -> None:
        await self.coll.create_index([("name", ASCENDING)])
        await self.coll.create_index([("status", ASCENDING)])
        await self.coll.create_index(NEWEST_INDEX)
        await self.coll.create_index(STATUS_NEWEST_INDEX)
        info = await self.coll.index_information()
        existing = info.get("finished_at_1")
        wanted = int(remove_after.total_seconds()) if remove_after else None
        if existing is not None and existing.get("expireAfterSeconds") != wanted:
            await self.coll.drop_index("finished_at_1")
        if remove_after:
            await self.coll.create_index(
                [("finished_at", ASCENDING)],
                expireAfterSeconds=wanted,
                partialFilterExpression={"status": {"$in": [s.value for s in FINISHED]}},
            )
        else:
            await self.coll.create_index([("finished_at", ASCENDING)])
        await self.audit_coll.create_index([("at", ASCENDING)])
        self.retention = remove_after

    async def close(self) -> None:
        await self.client.close()


def _audit_entry(doc: dict[str, Any]) -> AuditEntry:
    """An audit document as an entry (missing or odd fields read as empty, never raise)."""
    at, key = doc.get("at"), doc.get("_id")
    ids = doc.get("ids")
    shown = _mongo_decode.shown
    return AuditEntry(
        at=at if isinstance(at, datetime) else key.generation_time if isinstance(key, ObjectId) else _EPOCH,
        who=shown(doc.get("who") or ""),
        source=shown(doc.get("source") or ""),
        action=shown(doc.get("action") or ""),
        ids=[shown(i) for i in ids] if isinstance(ids, list) else [],
        detail=shown(doc.get("detail") or ""),
    )


_EPOCH = datetime.fromtimestamp(0, UTC)


def _new_doc(job: Job, lock: bool) -> dict[str, Any]:
    """A new job's document; with ``lock``, holding its name and label's lock."""
    doc = job.to_doc()
    doc["events"] = [_event_doc(e) for e in job.events]
    if lock:
        doc["lock"] = lock_key(job.name, job.label)
    return doc


#: MongoDB's duplicate key error codes.
_DUPLICATE_KEY = (11000, 11001)


def _is_lock_conflict(details: dict[str, Any] | None, message: str) -> bool:
    """Whether a duplicate key error (its details and message) is the label's lock."""
    details = details or {}
    pattern = details.get("keyPattern") or {}
    return "lock" in pattern or LOCK_INDEX in message or "lock" in str(details.get("keyValue", {}))


def _convert(event: Mapping[str, Any], options: CodecOptions[Any]) -> Change | None:
    op = event.get("operationType")
    key = (event.get("documentKey") or {}).get("_id")
    oid = key if isinstance(key, ObjectId) else parse_id(key) if isinstance(key, str) else None
    if op in ("insert", "update", "replace"):
        doc = event.get("fullDocument")
        if doc is None:  # deleted before the lookup
            return Change("delete", oid)
        return Change("insert" if op == "insert" else "update", oid, _mongo_decode.job(doc, options))
    if op == "delete":
        return Change("delete", oid)
    if op in ("drop", "rename", "dropDatabase"):
        return Change("reset")
    return None


def _brief(exc: BaseException) -> str:
    """A driver error's message without pymongo's topology dump, password masked."""
    return _scrub(exc).split(", Topology Description:", 1)[0]


#: Server error codes an operator can act on when opening the store.
_AUTH_FAILED = 18
_UNAUTHORIZED = 13


def _refusal(shown: str, exc: OperationFailure) -> str:
    """What the server's refusal to open the store means, for an operator (not "unreachable")."""
    detail = _scrub(exc).split(", full error:", 1)[0]
    if exc.code == _AUTH_FAILED:
        return f"authentication failed for MongoDB at {shown}: check the user and password"
    if exc.code == _UNAUTHORIZED:
        return f"MongoDB at {shown} refused: the user may not use this database ({detail})"
    return f"MongoDB at {shown} refused to open the jobs collection: {detail}"


def _scrub(exc: BaseException) -> str:
    """An exception's message, without anything that looks like a password."""
    return mask(str(exc))


async def connect_mongo(
    uri: str, collection: str, *, timeout: float = 5.0, poll_interval: float = 1.0, create: bool = True
) -> MongoStore:
    """Open the MongoDB engine; raises ConnectError naming the problem (password masked)."""
    shown = mask(uri)
    password = _password(uri)
    options: dict[str, Any] = {"tz_aware": True}
    if "datetimeconversion" not in uri.lower():
        # a date outside Python's range (another program's document) comes back as a DatetimeMS,
        # so that job is salvaged as malformed; by default decoding it fails the whole read
        options["datetime_conversion"] = "DATETIME_AUTO"
    if "serverselectiontimeoutms" not in uri.lower():
        options["serverSelectionTimeoutMS"] = int(timeout * 1000)
    if "connecttimeoutms" not in uri.lower():
        options["connectTimeoutMS"] = int(timeout * 1000)
    try:
        with warnings.catch_warnings():
            # pymongo only warns about an invalid option value and ignores it (a bad
            # serverSelectionTimeoutMS would wait 30 s): refuse the URI instead
            warnings.simplefilter("error", UserWarning)
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, **options)
    except (InvalidURI, ConfigurationError, ValueError, TypeError, UserWarning) as exc:
        message = str(exc).replace(password, "***") if password else str(exc)
        raise ConnectError(f"invalid MongoDB URI {shown}: {mask(message)}") from None
    except Exception as exc:  # a driver-internal failure: still one message, never a traceback
        raise ConnectError(f"invalid MongoDB URI {shown}: {_internal(exc, password)}") from None
    try:
        database = client.get_default_database(default="queuecore").name
    except ConfigurationError as exc:
        await _close_quietly(client)
        raise ConnectError(f"invalid MongoDB URI {shown}: {exc}") from None
    store = MongoStore(client, database, collection, shown, poll_interval=poll_interval)
    try:
        await store.open(create=create)
    except ConnectError as exc:
        await _close_quietly(client)
        message = str(exc).replace(password, "***") if password else str(exc)
        raise ConnectError(message) from None
    except (TimeoutError, ConnectionFailure) as exc:
        await _close_quietly(client)
        raise ConnectError(f"cannot reach MongoDB at {shown}: {_scrub(exc)}") from None
    except Exception as exc:
        # the driver failed inside itself (a server that breaks the SCRAM handshake makes
        # pymongo raise KeyError('payload')): one message, password masked, never a traceback
        await _close_quietly(client)
        raise ConnectError(f"cannot open MongoDB at {shown}: {_internal(exc, password)}") from None
    return store


def _internal(exc: BaseException, password: str) -> str:
    """An unexpected exception as ``Type: message``, without the password (for ConnectError)."""
    message = str(exc).replace(password, "***") if password else str(exc)
    return f"the driver failed with {type(exc).__name__}: {mask(message)}".rstrip(": ")


async def _close_quietly(client: AsyncMongoClient[dict[str, Any]]) -> None:
    """Close a client that failed to open; a failure to close must not hide why it failed."""
    with contextlib.suppress(Exception):
        await client.close()


def _password(uri: str) -> str:
    return password(uri)
