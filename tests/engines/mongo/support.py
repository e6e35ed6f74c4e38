"""The MongoDB engine's test support: raw documents written and read on the store's
collection (its public ``coll``/``audit_coll``), as another program would."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import AutoReconnect, ExecutionTimeout
from support.engines import EngineSupport
from support.nesting import nested
from support.spies import Calls, spy
from support.targets import StoreTarget

from queuecore import ConnectError, Store

#: The emulator's known differences the shared tests allow for (README, "Testing against
#: MongoDB"): ``$ifNull`` through an array of scalars gives null (MongoDB: ``[]``); ``find``
#: with ``$nor`` over a date compared with a string answers wrongly.
NX_QUIRKS = frozenset({"ifnull-through-array", "nor-over-mixed-dates"})


def coll(store: Store) -> AsyncCollection[dict[str, Any]]:
    """The store's jobs collection."""
    return store.coll  # type: ignore[attr-defined,no-any-return]


def audit_coll(store: Store) -> AsyncCollection[dict[str, Any]]:
    """The store's audit log collection."""
    return store.audit_coll  # type: ignore[attr-defined,no-any-return]


def spy_reopenings(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Each time a store's ``watch()`` backs off to reopen its change stream after a failure
    (``calls.on(store)``: one store's count) — the reconnections a test bounds."""
    from queuecore.store.mongo import feed

    return spy(monkeypatch, feed, "_pause")


class MongoSupport(EngineSupport):
    name = "mongodb"
    cli_option = "--mongo"
    profile_key = "mongo"
    fast = False  # the emulator: tens of writes per second where SQLite does thousands
    atomic_batches = False  # insert_many is not a transaction: a part may remain
    bad_data = "a string"

    @property
    def quirks(self) -> frozenset[str]:
        return frozenset() if os.environ.get("QUEUECORE_TEST_MONGO_URI") else NX_QUIRKS

    def target(self, request: pytest.FixtureRequest, directory: Path, prefix: str = "jobs") -> StoreTarget:
        uri = request.getfixturevalue("mongo_uri")
        return StoreTarget(self.name, uri, f"{prefix}_{uuid.uuid4().hex[:12]}")

    def made_anything(self, target: StoreTarget) -> bool:
        from support.cli import in_store

        async def collections(store: Any) -> list[str]:
            try:
                return await store.client[store.database].list_collection_names()
            finally:
                await coll(store).drop()

        probe = StoreTarget(target.engine, target.uri, f"{target.collection}_probe")
        return target.collection in in_store(probe, collections)

    async def drop(self, store: Store) -> None:
        await coll(store).drop()
        await audit_coll(store).drop()

    async def insert_raw(self, store: Store, doc: dict[str, Any]) -> None:
        await coll(store).insert_one(doc)

    async def raw_docs(self, store: Store) -> list[Any]:
        return await coll(store).find().sort("_id", 1).to_list(None)

    def raw_id(self, record: Any) -> str:
        return str(record["_id"])

    async def raw_audit(self, store: Store) -> list[dict[str, Any]]:
        return await audit_coll(store).find().sort("_id", 1).to_list(None)

    async def stored_time(self, store: Store, id: Any, key: str) -> Any:
        raw = await coll(store).find_one({"_id": id})
        assert raw is not None
        return raw.get(key)

    def malformed_docs(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        base = {"name": "work", "status": "enqueued", "created_at": now, "available_at": now}
        return [
            {"_id": ObjectId(), "hello": "world"},  # not a job at all
            {**base, "_id": "not-an-object-id"},
            {**base, "_id": 42},
            {**base, "_id": ObjectId(), "status": ["enqueued"]},  # a list: unhashable
            {**base, "_id": ObjectId(), "status": {"s": "enqueued"}},
            {**base, "_id": ObjectId(), "name": ["work"]},
            {**base, "_id": ObjectId(), "created_at": "yesterday", "available_at": None},
            {
                **base,
                "_id": ObjectId(),
                "data": "a string",
                "events": "nope",
                "attempts": "many",
                "progress": "half",
                "result": [1, 2],
            },
        ]

    def malformed_doc(self, oid: Any, name: str) -> dict[str, Any]:
        return {"_id": oid, "name": name, "status": "exploded", "attempts": "many"}

    def play_filter_timeout(self, monkeypatch: pytest.MonkeyPatch) -> bool:
        # the emulator ignores maxTimeMS; a real server's answer is played alike (its timing
        # is not this suite's to depend on)
        async def over_the_limit(*args: Any, **kwargs: Any) -> Any:
            raise ExecutionTimeout("operation exceeded time limit", 50, {"ok": 0, "code": 50})

        monkeypatch.setattr(AsyncCursor, "to_list", over_the_limit)
        return True

    def break_batches_midway(
        self, store: Store, monkeypatch: pytest.MonkeyPatch, after: int
    ) -> type[BaseException]:
        jobs = coll(store)
        real_many = jobs.insert_many

        async def part_then_lost(docs: list[dict[str, Any]], **kwargs: Any) -> Any:
            await real_many(docs[:after], **kwargs)
            raise AutoReconnect("connection reset by peer")

        monkeypatch.setattr(jobs, "insert_many", part_then_lost)
        return ConnectError

    def write_poison(self, target: StoreTarget) -> dict[ObjectId, str]:
        """Poison documents of task ``work`` written directly, as another program would
        (nested too deep, not UTF-8, not JSON); returns id → a word the malformed problem names."""
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(target.uri, tz_aware=True)
        try:
            coll = client.get_default_database(default="queuecore")[target.collection]
            now = datetime.now(UTC)
            base = {"name": "work", "status": "enqueued", "created_at": now, "available_at": now}
            out: dict[ObjectId, str] = {}

            def insert(extra: dict[str, Any], problem: str) -> None:
                oid = ObjectId()
                coll.insert_one({**base, "_id": oid, **extra})
                out[oid] = problem

            # as deep as the server stores: nx-27017 round-trips 200 levels, MongoDB takes 100
            for levels in (200, 99):
                try:
                    insert({"data": nested(levels)}, "data: nested deeper than 64 levels")
                    break
                except Exception:  # the server refuses that depth: try the next
                    continue
            else:
                raise AssertionError("the server stores no document nested deeper than the limit")
            insert({"data": nested(65)}, "data: nested deeper than 64 levels")
            insert({"result": nested(90)}, "result: nested deeper than 64 levels")
            insert({"data": "not a document"}, "data")
            insert({"data": [1, 2]}, "data")
            insert({"events": [nested(90)]}, "events")
            insert({"name": nested(90)}, "name")
            return out
        finally:
            client.close()


SUPPORT = MongoSupport()
