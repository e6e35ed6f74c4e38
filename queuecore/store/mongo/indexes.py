"""The collection's indexes: what opening a store checks and creates, and ``ensure_indexes``.

Opening creates only what correctness and every dashboard read need (the unique lock index of
the label guarantee, the newest-first order); ``ensure_indexes`` adds the rest and the
retention (a TTL index on ``finished_at``), which is read back on open as ``store.retention``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import OperationFailure, PyMongoError

from ...errors import ConnectError
from ...job import FINISHED
from .errors import LOCK_INDEX, brief, refusal

if TYPE_CHECKING:
    from .store import MongoStore

#: The newest-first order (``find``'s default sort), and the same within a status filter.
NEWEST_INDEX = [("created_at", DESCENDING), ("_id", DESCENDING)]
STATUS_NEWEST_INDEX = [("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]


async def prepare(store: MongoStore, create: bool = True) -> None:
    """Check the server answers and create the lock index the label guarantee needs.
    ``create=False`` (readers): the collection must exist, and nothing is created."""
    try:
        await store.client.admin.command("ping")
        if not create:
            names = await store.client[store.database].list_collection_names(
                filter={"name": store.collection}
            )
            if store.collection not in names:  # the name itself, not just any answer
                raise ConnectError(f"no store at {store.display_uri} (no collection {store.collection!r})")
        else:
            await store.coll.create_index([("lock", ASCENDING)], name=LOCK_INDEX, unique=True, sparse=True)
            # every read of a dashboard or `jobtui ls` is newest first: without this index each
            # one would sort the whole collection (a no-op when it exists)
            await store.coll.create_index(NEWEST_INDEX)
        store.retention = await _read_retention(store)
    except OperationFailure as exc:  # the server answered, and said no
        raise ConnectError(refusal(store.display_uri, exc)) from None
    except PyMongoError as exc:
        raise ConnectError(f"cannot reach MongoDB at {store.display_uri}: {brief(exc)}") from None


async def _read_retention(store: MongoStore) -> timedelta | None:
    """The retention of the TTL index on ``finished_at``, if there is one."""
    info = await store.coll.index_information()
    for spec in info.values():
        keys = [k for k, _ in spec.get("key", [])]
        if keys == ["finished_at"] and "expireAfterSeconds" in spec:
            return timedelta(seconds=float(spec["expireAfterSeconds"]))
    return None


async def ensure(store: MongoStore, remove_after: timedelta | None = None) -> None:
    """Create the indexes on name, status, the newest-first orders and finished (a TTL index
    over finished jobs with ``remove_after``, replaced when its retention changes)."""
    coll = store.coll
    await coll.create_index([("name", ASCENDING)])
    await coll.create_index([("status", ASCENDING)])
    await coll.create_index(NEWEST_INDEX)
    await coll.create_index(STATUS_NEWEST_INDEX)
    info = await coll.index_information()
    existing = info.get("finished_at_1")
    wanted = int(remove_after.total_seconds()) if remove_after else None
    if existing is not None and existing.get("expireAfterSeconds") != wanted:
        await coll.drop_index("finished_at_1")
    if remove_after:
        await coll.create_index(
            [("finished_at", ASCENDING)],
            expireAfterSeconds=wanted,
            partialFilterExpression={"status": {"$in": [s.value for s in FINISHED]}},
        )
    else:
        await coll.create_index([("finished_at", ASCENDING)])
    await store.audit_coll.create_index([("at", ASCENDING)])
    store.retention = remove_after
