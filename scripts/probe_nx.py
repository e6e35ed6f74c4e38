"""Probe which MongoDB features the job queue relies on work on nx-27017.

Usage::

    python3 scripts/probe_nx.py                    # start nx-27017 with our workarounds
    python3 scripts/probe_nx.py --no-workarounds   # raw nx-27017, to see the defects
    python3 scripts/probe_nx.py --disable datetime # all workarounds but one (repeatable)
    python3 scripts/probe_nx.py --uri mongodb://...  # probe another server (no restart checks)
    python3 scripts/probe_nx.py -k change          # only checks whose name contains "change"

Every check runs in isolation (own collection, own timeout); one failing check never
stops the others. Status: OK (behaves like MongoDB), BROKEN (differs; detail says how),
INFO (informational, nothing to compare with).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson import ObjectId, Timestamp
from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    DeleteMany,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateMany,
    UpdateOne,
    monitoring,
)
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

# the emulator harness the test suite uses (tests/support/mongo_server.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.mongo_server import WORKAROUNDS, ServerHandle, start_server

Doc = dict[str, Any]
CHECK_TIMEOUT_S = 60.0
EVENT_TIMEOUT_S = 5.0


class Broken(Exception):
    """The feature ran but does not behave like MongoDB."""


@dataclass
class Result:
    """Outcome of one check."""

    name: str
    status: str
    detail: str


def expect(cond: bool, message: str) -> None:
    """Raise :class:`Broken` with ``message`` unless ``cond``."""
    if not cond:
        raise Broken(message)


def now_ms() -> dt.datetime:
    """Current UTC time truncated to BSON's millisecond precision."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def is_aware_dt(value: Any) -> bool:
    """True for a timezone-aware datetime (what tz_aware=True must return)."""
    return isinstance(value, dt.datetime) and value.tzinfo is not None


class Probe:
    """Shared state for the checks: client, database, optional server handle."""

    def __init__(self, uri: str, client: AsyncMongoClient[Doc], handle: ServerHandle | None) -> None:
        self.uri = uri
        self.client = client
        self.handle = handle
        self.db: AsyncDatabase[Doc] = client["nxprobe"]
        self._seq = itertools.count(1)

    def coll(self, name: str) -> AsyncCollection[Doc]:
        """A fresh, not yet existing collection."""
        return self.db[f"{name}_{next(self._seq)}_{ObjectId()}"]


async def next_event(stream: AsyncChangeStream[Doc], timeout: float = EVENT_TIMEOUT_S) -> Doc | None:
    """Poll ``try_next`` until an event arrives or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = await stream.try_next()
        if event is not None:
            return event
        await asyncio.sleep(0.005)
    return None


async def drain(stream: AsyncChangeStream[Doc], count: int, timeout: float = EVENT_TIMEOUT_S) -> list[Doc]:
    """Collect up to ``count`` events within ``timeout`` seconds overall."""
    events: list[Doc] = []
    deadline = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < deadline:
        event = await next_event(stream, max(0.0, deadline - time.monotonic()))
        if event is None:
            break
        events.append(event)
    return events


def short(events: list[Doc]) -> list[str]:
    """Compact description of change events: ``op:_id`` list."""
    return [f"{e.get('operationType')}:{e.get('documentKey', {}).get('_id')}" for e in events]


# --------------------------------------------------------------------------- basic CRUD


async def check_insert_find_one(p: Probe) -> str:
    c = p.coll("basic")
    at = now_ms()
    doc = {"name": "x", "n": 1, "at": at, "nested": {"a": [1, 2]}, "none": None}
    res = await c.insert_one(doc)
    expect(isinstance(res.inserted_id, ObjectId), f"inserted_id={res.inserted_id!r}")
    got = await c.find_one({"_id": res.inserted_id})
    expect(got is not None, "find_one by _id returned None")
    assert got is not None
    expect(is_aware_dt(got["at"]) and got["at"] == at, f"datetime came back as {got['at']!r}")
    expect(got == {**doc, "_id": res.inserted_id}, f"roundtrip differs: {got!r}")
    expect(await c.find_one({"name": "nope"}) is None, "find_one on no match is not None")
    return "roundtrip exact; datetime tz-aware; None for no match"


async def check_find_sort_skip_limit(p: Probe) -> str:
    c = p.coll("page")
    ids = [(await c.insert_one({"i": i})).inserted_id for i in range(10)]
    got = await c.find({}).sort("_id", DESCENDING).skip(2).limit(3).to_list(None)
    expect([d["i"] for d in got] == [7, 6, 5], f"got i={[d['i'] for d in got]}")
    expect([d["_id"] for d in got] == ids[::-1][2:5], "ids differ")
    got2 = await c.find({"i": {"$gte": 3}}, sort=[("_id", DESCENDING)], skip=1, limit=2).to_list(None)
    expect([d["i"] for d in got2] == [8, 7], f"filtered page got i={[d['i'] for d in got2]}")
    return "sort _id desc + skip + limit (also with filter, kwargs form)"


async def check_find_sort_datetime(p: Probe) -> str:
    c = p.coll("sortdt")
    base = now_ms()
    offsets = [300, 0, 200, 100]
    await c.insert_many([{"k": o, "t": base + dt.timedelta(milliseconds=o)} for o in offsets])
    asc = [d["k"] for d in await c.find({}).sort([("t", ASCENDING)]).to_list(None)]
    desc = [d["k"] for d in await c.find({}).sort("t", DESCENDING).limit(2).to_list(None)]
    expect(asc == [0, 100, 200, 300], f"asc by datetime: {asc}")
    expect(desc == [300, 200], f"desc+limit by datetime: {desc}")
    return "sort on a datetime field (100 ms apart), asc and desc+limit"


async def check_count_documents(p: Probe) -> str:
    c = p.coll("count")
    statuses = ["enqueued"] * 3 + ["failed"] * 2 + ["succeeded"]
    await c.insert_many([{"status": s} for s in statuses])
    n_failed = await c.count_documents({"status": "failed"})
    n_all = await c.count_documents({})
    n_in = await c.count_documents({"status": {"$in": ["enqueued", "failed"]}})
    n_lim = await c.count_documents({"status": "enqueued"}, limit=2)
    expect((n_failed, n_all, n_in, n_lim) == (2, 6, 5, 2), f"counts={(n_failed, n_all, n_in, n_lim)}")
    return "count_documents with filter / {} / $in / limit"


async def check_aggregate_group(p: Probe) -> str:
    c = p.coll("agg")
    statuses = ["enqueued"] * 3 + ["failed"] * 2 + ["succeeded"]
    await c.insert_many([{"status": s} for s in statuses])
    rows = await (await c.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])).to_list(None)
    got = {r["_id"]: r["n"] for r in rows}
    expect(got == {"enqueued": 3, "failed": 2, "succeeded": 1}, f"got {rows}")
    empty = await (await p.coll("aggempty").aggregate([{"$group": {"_id": "$s", "n": {"$sum": 1}}}])).to_list(
        None
    )
    expect(empty == [], f"on missing collection got {empty}")
    return "$group/$sum by status; [] on a missing collection"


async def check_estimated_document_count(p: Probe) -> str:
    c = p.coll("est")
    n0 = await c.estimated_document_count()
    await c.insert_many([{"i": i} for i in range(7)])
    n = await c.estimated_document_count()
    expect((n0, n) == (0, 7), f"missing collection -> {n0}, after 7 inserts -> {n}")
    return "0 on missing collection, exact afterwards"


# --------------------------------------------------------------------------- claim / datetimes


async def check_find_one_and_update_claim(p: Probe) -> str:
    c = p.coll("claim")
    now = now_ms()
    past = now - dt.timedelta(seconds=5)
    old_events = [{"at": past, "status": "enqueued", "reason": f"e{i}"} for i in range(20)]
    base: Doc = {"attempts": 0, "events": old_events, "available_at": past}
    ids = {
        s: (await c.insert_one({**base, "status": s})).inserted_id
        for s in ("enqueued", "failed", "succeeded")
    }
    ids["dequeued_expired"] = (await c.insert_one({**base, "status": "dequeued"})).inserted_id
    ids["dequeued_live"] = (
        await c.insert_one({**base, "status": "dequeued", "available_at": now + dt.timedelta(seconds=60)})
    ).inserted_id
    lease = now + dt.timedelta(seconds=30)

    def claim_filter(doc_id: ObjectId) -> Doc:
        return {
            "_id": doc_id,
            "$or": [
                {"status": {"$in": ["enqueued", "failed"]}},
                {"status": "dequeued", "available_at": {"$lte": now}},
            ],
            "available_at": {"$lte": now},
        }

    update = {
        "$set": {"status": "dequeued", "dequeued_at": now, "available_at": lease, "lease": {"until": lease}},
        "$inc": {"attempts": 1},
        "$push": {"events": {"$each": [{"at": now, "status": "dequeued", "reason": ""}], "$slice": -20}},
    }
    outcome: dict[str, bool] = {}
    for key, doc_id in ids.items():
        got = await c.find_one_and_update(claim_filter(doc_id), update, return_document=ReturnDocument.AFTER)
        outcome[key] = got is not None
        if key == "enqueued":
            expect(got is not None, "enqueued job not claimed")
            assert got is not None
            problems = []
            if got["status"] != "dequeued" or got["attempts"] != 1:
                problems.append(f"status/attempts={got['status']}/{got['attempts']}")
            for field, want in (("dequeued_at", now), ("available_at", lease)):
                if not (is_aware_dt(got[field]) and got[field] == want):
                    problems.append(f"returned {field}={got[field]!r}")
            if not (is_aware_dt(got["lease"]["until"]) and got["lease"]["until"] == lease):
                problems.append(f"returned lease.until={got['lease']['until']!r}")
            ev = got["events"]
            if len(ev) != 20 or ev[-1]["status"] != "dequeued" or ev[0]["reason"] != "e1":
                problems.append(f"events len={len(ev)} first={ev[0]} last={ev[-1]}")
            if not all(is_aware_dt(e["at"]) for e in ev):
                problems.append(f"event.at types={sorted({type(e['at']).__name__ for e in ev})}")
            stored = await c.find_one({"_id": doc_id})
            assert stored is not None
            if stored != got:
                problems.append(f"stored doc differs from returned: {stored!r}")
            expect(not problems, "; ".join(problems))
    want = {
        "enqueued": True,
        "failed": True,
        "succeeded": False,
        "dequeued_expired": True,
        "dequeued_live": False,
    }
    expect(outcome == want, f"claimed={outcome}, want {want}")
    again = await c.find_one_and_update(claim_filter(ids["enqueued"]), update)
    expect(again is None, "re-claim of a leased job matched")
    before = await c.find_one_and_update(
        {"_id": ids["succeeded"]}, {"$set": {"x": 1}}, return_document=ReturnDocument.BEFORE
    )
    expect(before is not None and "x" not in before, f"BEFORE returned {before!r}")
    return (
        "filter with $or/$in/$lte matches exactly the claimable states; $set datetimes (top-level and "
        "nested) stay tz-aware datetimes; $inc; $push $each+$slice:-20 keeps 20; AFTER and BEFORE ok"
    )


async def check_find_one_and_update_sort(p: Probe) -> str:
    c = p.coll("claimsort")
    now = now_ms()
    await c.insert_many(
        [
            {"k": k, "status": "enqueued", "available_at": now - dt.timedelta(milliseconds=ms)}
            for k, ms in (("mid", 200), ("old", 300), ("new", 100), ("future", -1000))
        ]
    )
    got = await c.find_one_and_update(
        {"status": "enqueued", "available_at": {"$lte": now}},
        {"$set": {"status": "dequeued"}},
        sort=[("available_at", ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )
    expect(got is not None and got["k"] == "old", f"claimed {got and got['k']}, want the oldest")
    return "find_one_and_update(sort=[(available_at, 1)]) picks the oldest due job"


async def check_datetime_subsecond(p: Probe) -> str:
    c = p.coll("dtprec")
    base = now_ms()
    ms = dt.timedelta(milliseconds=100)
    ids = [(await c.insert_one({"k": i, "t": base + i * ms})).inserted_id for i in range(3)]
    for i, doc_id in enumerate(ids):  # second copy of the value written through $set
        await c.update_one({"_id": doc_id}, {"$set": {"u": base + i * ms}})
    problems = []
    for field in ("t", "u"):
        for op, want in (
            ("$lte", [0, 1]),
            ("$lt", [0]),
            ("$gt", [2]),
            ("$gte", [1, 2]),
            ("$eq", [1]),
            ("$ne", [0, 2]),
        ):
            got = sorted(d["k"] for d in await c.find({field: {op: base + ms}}).to_list(None))
            if got != want:
                problems.append(f"{field} {op} base+100ms -> {got} (want {want})")
        n = await c.count_documents({field: {"$lte": base + ms}})
        if n != 2:
            problems.append(f"count_documents {field} $lte -> {n}")
        stored = await c.find_one({"_id": ids[1]})
        assert stored is not None
        if not is_aware_dt(stored[field]):
            problems.append(f"stored {field} is {stored[field]!r}")
    hit = await c.find_one_and_update({"u": {"$lte": base}}, {"$set": {"hit": True}})
    if hit is None or hit["k"] != 0:
        problems.append(f"find_one_and_update u $lte base -> {hit and hit['k']}")
    deleted = (await c.delete_many({"t": {"$lt": base + ms}})).deleted_count
    if deleted != 1:
        problems.append(f"delete_many t $lt base+100ms deleted {deleted}")
    expect(not problems, "; ".join(problems))
    return "values 100 ms apart compare exactly (find/count/fau/delete), inserted and $set values alike"


# --------------------------------------------------------------------------- operators


async def check_unset(p: Probe) -> str:
    c = p.coll("unset")
    r = await c.insert_one({"a": 1, "b": 2, "n": {"x": 1, "y": 2}})
    await c.update_one({"_id": r.inserted_id}, {"$unset": {"b": "", "n.x": "", "missing": ""}})
    got = await c.find_one({"_id": r.inserted_id}, {"_id": 0})
    expect(got == {"a": 1, "n": {"y": 2}}, f"got {got}")
    return "$unset top-level, dotted and missing field"


async def check_set_nested(p: Probe) -> str:
    c = p.coll("nested")
    at = now_ms()
    r = await c.insert_one({"meta": {"old": 1}})
    await c.update_one({"_id": r.inserted_id}, {"$set": {"meta": {"a": 1, "b": {"c": "d"}, "at": at}}})
    await c.update_one({"_id": r.inserted_id}, {"$set": {"meta.e": 5, "deep.x.y": 1}})
    got = await c.find_one({"_id": r.inserted_id}, {"_id": 0})
    want = {"meta": {"a": 1, "b": {"c": "d"}, "at": at, "e": 5}, "deep": {"x": {"y": 1}}}
    expect(got == want and is_aware_dt(got["meta"]["at"]), f"got {got}")
    n = await c.count_documents({"meta.b.c": "d"})
    expect(n == 1, f"dotted query meta.b.c -> {n}")
    return "$set of a dict (replaces), dotted $set creates paths, dotted query"


async def check_regex_i(p: Probe) -> str:
    c = p.coll("regex")
    await c.insert_many([{"name": n} for n in ("SendEmail", "send_sms", "resend", "other", None)])
    got = sorted(
        d["name"] for d in await c.find({"name": {"$regex": "^send", "$options": "i"}}).to_list(None)
    )
    expect(got == ["SendEmail", "send_sms"], f"got {got}")
    got2 = sorted(d["name"] for d in await c.find({"name": {"$regex": "SEND"}}).to_list(None))
    expect(got2 == [], f"case-sensitive $regex got {got2}")
    return "$regex + $options:'i' (anchored); case-sensitive without options; null skipped"


async def check_in_ids(p: Probe) -> str:
    c = p.coll("inids")
    ids = (await c.insert_many([{"i": i} for i in range(5)])).inserted_ids
    got = sorted(d["i"] for d in await c.find({"_id": {"$in": [ids[1], ids[3], ObjectId()]}}).to_list(None))
    expect(got == [1, 3], f"got {got}")
    got2 = sorted(d["i"] for d in await c.find({"_id": {"$nin": [ids[0]]}}).to_list(None))
    expect(got2 == [1, 2, 3, 4], f"$nin on _id got {got2}")
    return "$in / $nin on ObjectId _id"


async def check_exists(p: Probe) -> str:
    c = p.coll("exists")
    await c.insert_many([{"k": 1, "f": 1}, {"k": 2, "f": None}, {"k": 3}])
    yes = sorted(d["k"] for d in await c.find({"f": {"$exists": True}}).to_list(None))
    no = sorted(d["k"] for d in await c.find({"f": {"$exists": False}}).to_list(None))
    expect((yes, no) == ([1, 2], [3]), f"$exists true -> {yes}, false -> {no}")
    return "$exists true/false (explicit null counts as existing)"


async def check_ne(p: Probe) -> str:
    c = p.coll("ne")
    await c.insert_many([{"k": 1, "s": "a"}, {"k": 2, "s": "b"}, {"k": 3}])
    got = sorted(d["k"] for d in await c.find({"s": {"$ne": "a"}}).to_list(None))
    expect(got == [2, 3], f"got {got}")
    return "$ne (matches missing field too)"


async def check_nin(p: Probe) -> str:
    c = p.coll("nin")
    await c.insert_many([{"k": 1, "s": "a"}, {"k": 2, "s": "b"}, {"k": 3, "s": "c"}, {"k": 4}])
    got = sorted(d["k"] for d in await c.find({"s": {"$nin": ["a", "b"]}}).to_list(None))
    expect(got == [3, 4], f"got {got}")
    return "$nin (matches missing field too)"


async def check_gt_datetime(p: Probe) -> str:
    c = p.coll("gtdt")
    base = now_ms()
    await c.insert_many([{"k": i, "t": base + dt.timedelta(seconds=i)} for i in range(3)])
    got = sorted(d["k"] for d in await c.find({"t": {"$gt": base}}).to_list(None))
    naive = sorted(d["k"] for d in await c.find({"t": {"$gt": base.replace(tzinfo=None)}}).to_list(None))
    expect(got == [1, 2] and naive == [1, 2], f"aware -> {got}, naive-UTC -> {naive}")
    return "$gt on datetimes (aware and naive-UTC query values)"


async def check_dotted_updates(p: Probe) -> str:
    c = p.coll("dotted")
    r = await c.insert_one({"n": {"x": 1, "y": 2, "arr": [1]}, "stats": {"runs": 1}})
    await c.update_one(
        {"_id": r.inserted_id},
        {
            "$inc": {"stats.runs": 2, "stats.new": 1},
            "$push": {"n.arr": {"$each": [2, 3], "$slice": -2}},
            "$unset": {"n.x": ""},
            "$set": {"top": 1},
        },
    )
    got = await c.find_one({"_id": r.inserted_id}, {"_id": 0})
    want = {"n": {"y": 2, "arr": [2, 3]}, "stats": {"runs": 3, "new": 1}, "top": 1}
    expect(got == want, f"update_one got {got}")
    after = await c.find_one_and_update(
        {"_id": r.inserted_id},
        {"$inc": {"stats.runs": 1}, "$max": {"stats.best": 5}, "$addToSet": {"n.tags": "a"}},
        return_document=ReturnDocument.AFTER,
    )
    expect(
        after is not None
        and after["stats"] == {"runs": 4, "new": 1, "best": 5}
        and after["n"]["tags"] == ["a"],
        f"find_one_and_update got {after}",
    )
    return "dotted $inc/$push($each,$slice)/$unset/$max/$addToSet, via update_one and find_one_and_update"


async def check_upsert_projection(p: Probe) -> str:
    c = p.coll("upsert")
    r = await c.update_one({"key": "k"}, {"$set": {"v": 1}, "$setOnInsert": {"created": 1}}, upsert=True)
    expect(r.upserted_id is not None, f"upserted_id={r.upserted_id}")
    r2 = await c.update_one({"key": "k"}, {"$set": {"v": 2}, "$setOnInsert": {"created": 2}}, upsert=True)
    expect(r2.upserted_id is None and r2.matched_count == 1, f"second upsert: {r2.raw_result}")
    got = await c.find_one({"key": "k"}, {"_id": 0, "v": 1, "created": 1})
    expect(got == {"v": 2, "created": 1}, f"got {got}")
    return "update_one upsert + $setOnInsert; projection include / _id:0"


# --------------------------------------------------------------------------- indexes


async def check_unique_index(p: Probe) -> str:
    c = p.coll("uniq")
    name = await c.create_index("key", unique=True)
    await c.insert_one({"key": "a"})
    try:
        await c.insert_one({"key": "a"})
    except DuplicateKeyError as exc:
        n = await c.count_documents({})
        expect(n == 1, f"DuplicateKeyError raised but {n} docs stored")
        return f"index {name!r}; duplicate insert -> DuplicateKeyError code={exc.code}"
    raise Broken(f"duplicate insert accepted; {await c.count_documents({})} docs")


async def check_unique_sparse_missing(p: Probe) -> str:
    c = p.coll("sparse1")
    await c.create_index("key", unique=True, sparse=True)
    try:
        await c.insert_one({"x": 1})
        await c.insert_one({"x": 2})
    except DuplicateKeyError as exc:
        raise Broken(f"second doc without the field -> DuplicateKeyError: {exc.details}") from exc
    return "two docs missing the sparse unique field coexist"


async def check_unique_sparse_dupe(p: Probe) -> str:
    c = p.coll("sparse2")
    await c.create_index("key", unique=True, sparse=True)
    await c.insert_one({"key": "a"})
    try:
        await c.insert_one({"key": "a"})
    except DuplicateKeyError:
        return "same value under a sparse unique index -> DuplicateKeyError"
    raise Broken("duplicate value accepted under sparse unique index")


async def check_unique_update_collision(p: Probe) -> str:
    c = p.coll("uniqupd")
    await c.create_index("key", unique=True, sparse=True)
    await c.insert_one({"key": "a"})
    r = await c.insert_one({"other": 1})
    results = []
    try:
        await c.find_one_and_update({"_id": r.inserted_id}, {"$set": {"key": "a"}})
        results.append("find_one_and_update: accepted")
    except DuplicateKeyError as exc:
        results.append(f"find_one_and_update: DuplicateKeyError({exc.code})")
    except OperationFailure as exc:
        results.append(f"find_one_and_update: OperationFailure code={exc.code} {exc.details}")
    try:
        await c.update_one({"_id": r.inserted_id}, {"$set": {"key": "a"}})
        results.append("update_one: accepted")
    except DuplicateKeyError as exc:
        results.append(f"update_one: DuplicateKeyError({exc.code})")
    except OperationFailure as exc:
        results.append(f"update_one: OperationFailure code={exc.code} {exc.details}")
    stored = await c.find_one({"_id": r.inserted_id})
    assert stored is not None
    results.append(f"doc after: key={'key' in stored and stored['key']!r}")
    detail = "; ".join(results)
    expect(all("DuplicateKeyError" in s for s in results[:2]) and "key" not in stored, detail)
    return detail


async def check_unique_nonsparse_missing(p: Probe) -> str:
    c = p.coll("uniqmissing")
    await c.create_index("key", unique=True)
    try:
        await c.insert_one({"x": 1})
        await c.insert_one({"x": 2})
    except DuplicateKeyError:
        return "non-sparse unique: second doc missing the field -> DuplicateKeyError (as MongoDB)"
    raise Broken("non-sparse unique index lets many docs miss the field (MongoDB: DuplicateKeyError on null)")


async def check_unique_sparse_null(p: Probe) -> str:
    c = p.coll("sparsenull")
    await c.create_index("key", unique=True, sparse=True)
    try:
        await c.insert_one({"key": None})
        await c.insert_one({"key": None})
    except DuplicateKeyError:
        return "sparse unique: two explicit nulls -> DuplicateKeyError (as MongoDB)"
    raise Broken(
        "sparse unique index accepts two docs with key: null (MongoDB indexes null: DuplicateKeyError)"
    )


async def check_unique_nul_strings(p: Probe) -> str:
    c = p.coll("uniqnul")
    await c.create_index("lock", unique=True, sparse=True)
    await c.insert_one({"lock": "sync\0user-1"})
    try:
        await c.insert_one({"lock": "sync\0user-2"})
    except DuplicateKeyError as exc:
        raise Broken(
            "unique index compares strings only up to the first NUL: 'sync\\0user-2' collides with "
            f"'sync\\0user-1' ({str(exc)[:80]})"
        ) from exc
    n = await c.count_documents({"lock": "sync\0user-1"})
    expect(n == 1, f"equality query on a string with NUL matched {n}")
    return "strings containing NUL are distinct under a unique index; equality query exact"


async def check_dup_key_details(p: Probe) -> str:
    c = p.coll("dupdetail")
    await c.create_index([("lock", ASCENDING)], name="my_lock", unique=True, sparse=True)
    await c.insert_one({"lock": "a"})
    other = (await c.insert_one({"x": 1})).inserted_id
    ops: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("insert_one", lambda: c.insert_one({"lock": "a"})),
        ("update_one", lambda: c.update_one({"_id": other}, {"$set": {"lock": "a"}})),
        ("find_one_and_update", lambda: c.find_one_and_update({"_id": other}, {"$set": {"lock": "a"}})),
        ("insert_many", lambda: c.insert_many([{"lock": "a"}])),
    ]
    out, good = [], True
    for label, op in ops:
        try:
            await op()
            out.append(f"{label}: no error")
            good = False
        except (DuplicateKeyError, BulkWriteError) as exc:
            details = exc.details or {}
            if isinstance(exc, BulkWriteError):
                details = (details.get("writeErrors") or [{}])[0]
            pattern, value = details.get("keyPattern"), details.get("keyValue")
            good = good and pattern == {"lock": 1} and value == {"lock": "a"}
            out.append(
                f"{label}: keyPattern={pattern} keyValue={value} msg={details.get('errmsg', '')[:110]!r}"
            )
    detail = "; ".join(out)
    expect(good, detail)
    return detail


async def check_index_names_options(p: Probe) -> str:
    c = p.coll("idxopts")
    await c.insert_one({"a": 1})
    partial = {"status": {"$in": ["succeeded"]}}
    returned = await c.create_index([("fin", ASCENDING)], name="custom_fin", partialFilterExpression=partial)
    default = await c.create_index([("status", ASCENDING), ("at", ASCENDING)])
    await c.create_index("lock", unique=True, sparse=True)
    problems = []
    try:
        await c.create_index([("prio", DESCENDING), ("at", ASCENDING)])
    except PyMongoError as exc:
        problems.append(f"descending key rejected: {type(exc).__name__}: {str(exc)[:60]}")
    info = await c.index_information()
    if "custom_fin" not in info:
        problems.append(f"custom name ignored (create_index returned {returned!r})")
    if default not in info:
        problems.append(f"default name {default!r} not listed (names={sorted(info)})")
    if not any(spec.get("partialFilterExpression") for spec in info.values()):
        problems.append("partialFilterExpression dropped")
    if not any(spec.get("sparse") for spec in info.values()):
        problems.append("sparse not reported")
    if not any(list(spec.get("key", []))[:1] == [("prio", -1)] for spec in info.values()):
        problems.append("descending key stored/listed as ascending")
    before = len(info)
    for name in ("custom_fin", default, "prio_-1_at_1"):
        try:
            await c.drop_index(name)
        except PyMongoError as exc:
            problems.append(f"drop_index({name!r}): {type(exc).__name__}")
    left = sorted(await c.index_information())
    if len(left) != before - 3:
        problems.append(f"after drop_index of 'custom_fin', {default!r}, 'prio_-1_at_1' left={left}")
    expect(not problems, "; ".join(problems) + f"; index_information={info}")
    return f"names/options kept: {info}"


async def check_ttl_index(p: Probe) -> str:
    c = p.coll("ttl")
    try:
        name = await c.create_index(
            "finished_at", expireAfterSeconds=60, partialFilterExpression={"status": {"$in": ["succeeded"]}}
        )
    except PyMongoError as exc:
        raise Broken(f"create_index expireAfterSeconds rejected: {exc!r}") from exc
    old = now_ms() - dt.timedelta(hours=1)
    await c.insert_many(
        [
            {"k": "old-succeeded", "status": "succeeded", "finished_at": old},
            {"k": "old-enqueued(partial excludes)", "status": "enqueued", "finished_at": old},
            {"k": "recent", "status": "succeeded", "finished_at": now_ms()},
            {"k": "nofield", "status": "succeeded"},
        ]
    )
    specs = [
        s for s in (await c.index_information()).values() if list(s.get("key", [])) == [("finished_at", 1)]
    ]
    left = sorted(d["k"] for d in await c.find({}).to_list(None))
    return f"accepted ({name!r}); index_information spec={specs}; right after insert, a find sees {left}"


# --------------------------------------------------------------------------- bulk / delete


async def check_delete_many(p: Probe) -> str:
    c = p.coll("delmany")
    await c.insert_many([{"s": s} for s in "aabbc"])
    r = await c.delete_many({"s": {"$in": ["a", "c"]}})
    left = sorted(d["s"] for d in await c.find({}).to_list(None))
    expect(r.deleted_count == 3 and left == ["b", "b"], f"deleted={r.deleted_count} left={left}")
    r2 = await c.delete_one({"s": "b"})
    expect(r2.deleted_count == 1, f"delete_one deleted {r2.deleted_count}")
    return "delete_many($in) counts right; delete_one"


async def check_drop(p: Probe) -> str:
    c = p.coll("drop")
    await c.insert_many([{"i": i} for i in range(3)])
    await c.create_index("i", unique=True)
    await c.drop()
    names = await p.db.list_collection_names()
    n = await c.count_documents({})
    await c.drop()  # dropping a missing collection must not raise
    await c.insert_one({"i": 0})
    info = sorted(await c.index_information())
    expect(c.name not in names or n == 0, f"still listed with {n} docs")
    expect(info == ["_id_"], f"indexes after drop+insert: {info}")
    return "drop removes docs + indexes; second drop is a no-op; collection reusable"


async def check_bulk_write(p: Probe) -> str:
    c = p.coll("bulk")
    await c.insert_many([{"k": i, "s": "old"} for i in range(4)])
    r = await c.bulk_write(
        [
            InsertOne({"k": 10, "s": "new"}),
            UpdateOne({"k": 0}, {"$set": {"s": "upd"}}),
            UpdateMany({"k": {"$in": [1, 2]}}, {"$inc": {"n": 1}}),
            ReplaceOne({"k": 3}, {"k": 3, "s": "repl"}),
            UpdateOne({"k": 99}, {"$set": {"s": "ups"}}, upsert=True),
            DeleteOne({"k": 10}),
            DeleteMany({"k": {"$gt": 50}}),
        ]
    )
    counts = (r.inserted_count, r.matched_count, r.modified_count, r.upserted_count, r.deleted_count)
    docs = {d["k"]: d for d in await c.find({}).to_list(None)}
    expect(counts == (1, 4, 4, 1, 2), f"(ins, matched, modified, upserted, deleted)={counts}")
    expect(
        sorted(docs) == [0, 1, 2, 3]
        and docs[0]["s"] == "upd"
        and docs[1]["n"] == 1
        and docs[3] == {"_id": docs[3]["_id"], "k": 3, "s": "repl"},
        f"final docs {list(docs.values())}",
    )
    await c.create_index("k", unique=True)
    try:
        await c.bulk_write([InsertOne({"k": 0}), InsertOne({"k": 20})], ordered=False)
        raise Broken("unordered bulk with duplicate raised nothing")
    except BulkWriteError as exc:
        codes = [e.get("code") for e in exc.details.get("writeErrors", [])]
        n20 = await c.count_documents({"k": 20})
        dup = f"dup in unordered bulk -> BulkWriteError codes={codes}, later op applied={n20 == 1}"
    return f"all op kinds, counts ok; {dup}"


async def check_insert_many(p: Probe) -> str:
    c = p.coll("insmany")
    r = await c.insert_many([{"i": i} for i in range(50)])
    expect(len(r.inserted_ids) == 50 and await c.count_documents({}) == 50, "count mismatch")
    await c.create_index("i", unique=True)
    try:
        await c.insert_many([{"i": 100}, {"i": 1}, {"i": 101}])
        raise Broken("insert_many with duplicate raised nothing")
    except BulkWriteError as exc:
        codes = [e.get("code") for e in exc.details.get("writeErrors", [])]
        stored = sorted(d["i"] for d in await c.find({"i": {"$gte": 100}}).to_list(None))
    expect(codes == [11000] and stored == [100], f"ordered dup -> codes={codes}, stored after={stored}")
    return "50 docs; ordered insert_many with dup -> BulkWriteError(11000), stops at the dup"


# --------------------------------------------------------------------------- change streams


async def check_hello(p: Probe) -> str:
    hello = await p.client.admin.command("hello")
    ismaster = await p.client.admin.command("isMaster")
    keys = sorted(k for k in hello if k not in ("localTime",))
    return (
        f"hello keys={keys} setName={hello.get('setName')!r} maxWireVersion={hello.get('maxWireVersion')}; "
        f"isMaster same={sorted(ismaster) == sorted(hello)}; pymongo topology="
        f"{p.client.topology_description.topology_type_name}"
    )


async def check_change_stream_events(p: Probe) -> str:
    c = p.coll("cs")
    async with await c.watch(full_document="updateLookup") as stream:
        r = await c.insert_one({"s": "a"})
        await c.update_one({"_id": r.inserted_id}, {"$set": {"s": "b"}})
        await c.replace_one({"_id": r.inserted_id}, {"s": "c"})
        await c.delete_one({"_id": r.inserted_id})
        events = await drain(stream, 4)
    ops = [e["operationType"] for e in events]
    upd = events[1] if len(events) > 1 else {}
    details = (
        f"ops={ops}; update.fullDocument={upd.get('fullDocument')}; "
        f"update.updateDescription={upd.get('updateDescription')!r}; "
        f"documentKey ok={all(e['documentKey']['_id'] == r.inserted_id for e in events)}; "
        f"_id={events[0]['_id'] if events else None}; clusterTime type="
        f"{type(events[0].get('clusterTime')).__name__ if events else None}"
    )
    expect(ops == ["insert", "update", "replace", "delete"], details)
    expect(upd.get("fullDocument", {}).get("s") == "b", details)
    return details


async def check_change_stream_before_create(p: Probe) -> str:
    db = p.client[f"nxprobe_new_{ObjectId()}"]
    c = db["later"]
    results = []
    async with await c.watch() as stream:
        await c.insert_one({"x": 1})
        ev = await next_event(stream)
        results.append(f"collection.watch before collection exists: {ev and ev['operationType']}")
    try:
        async with await db.watch() as dbstream:
            await db["other"].insert_one({"y": 1})
            ev2 = await next_event(dbstream)
            results.append(f"database.watch: {ev2 and ev2['operationType']}")
    except PyMongoError as exc:
        results.append(f"database.watch: {type(exc).__name__}: {exc}")
    try:
        async with await p.client.watch() as cstream:
            await db["third"].insert_one({"z": 1})
            ev3 = await next_event(cstream, 2.0)
            results.append(f"client.watch: {ev3 and ev3['operationType']}")
    except PyMongoError as exc:
        results.append(f"client.watch: {type(exc).__name__}: {exc}")
    await p.client.drop_database(db.name)
    detail = "; ".join(results)
    expect(results[0].endswith("insert"), detail)
    expect(all(s.endswith("insert") for s in results), detail)
    return detail


async def check_change_stream_resume_after(p: Probe) -> str:
    c = p.coll("csresume")
    async with await c.watch(full_document="updateLookup") as stream:
        await c.insert_one({"i": 1})
        first = await next_event(stream)
        expect(first is not None, "no first event")
        token = stream.resume_token
    await c.insert_one({"i": 2})
    await c.update_one({"i": 2}, {"$set": {"j": 1}})
    async with await c.watch(full_document="updateLookup", resume_after=token) as resumed:
        missed = await drain(resumed, 2)
        await c.insert_one({"i": 3})
        live = await next_event(resumed)
    detail = (
        f"token={token}; missed events replayed={short(missed)}; then live={live and live['operationType']}"
    )
    expect(len(missed) == 2 and [e["operationType"] for e in missed] == ["insert", "update"], detail)
    expect(live is not None, detail)
    return detail


async def check_change_stream_start_after(p: Probe) -> str:
    c = p.coll("csstartafter")
    async with await c.watch() as stream:
        await c.insert_one({"i": 1})
        first = await next_event(stream)
        assert first is not None
    await c.insert_one({"i": 2})
    async with await c.watch(start_after=first["_id"]) as resumed:
        missed = await drain(resumed, 1)
    expect(len(missed) == 1, f"start_after replayed {short(missed)}")
    return "start_after=<event _id> replays later events"


async def check_change_stream_start_at_operation_time(p: Probe) -> str:
    c = p.coll("csopt")
    await c.insert_one({"i": "before"})
    ts = Timestamp(int(time.time()) - 60, 1)
    try:
        stream = await c.watch(start_at_operation_time=ts)
    except PyMongoError as exc:
        raise Broken(f"rejected: {type(exc).__name__}: {exc}") from exc
    async with stream:
        replay = await drain(stream, 1, 1.0)
        await c.insert_one({"i": "after"})
        live = await next_event(stream)
    detail = (
        f"accepted; event written 0-1 s before open with startAtOperationTime=now-60s replayed: "
        f"{bool(replay)}; later event delivered: {live is not None}"
    )
    expect(bool(replay) and live is not None, detail)
    return detail


async def check_change_stream_match(p: Probe) -> str:
    c = p.coll("csmatch")
    pipeline = [{"$match": {"operationType": {"$in": ["insert", "delete"]}}}]
    async with await c.watch(pipeline) as stream:
        r = await c.insert_one({"a": 1})
        await c.update_one({"_id": r.inserted_id}, {"$set": {"a": 2}})
        await c.delete_one({"_id": r.inserted_id})
        events = await drain(stream, 3, 1.5)
    ops = [e["operationType"] for e in events]
    expect(ops == ["insert", "delete"], f"ops={ops}")
    return "$match on operationType filters server-side"


async def check_change_stream_fulldoc_types(p: Probe) -> str:
    c = p.coll("csfull")
    at = now_ms()
    ref = ObjectId()
    async with await c.watch(full_document="updateLookup") as stream:
        r = await c.insert_one({"at": at, "ref": ref, "sub": {"at": at}, "events": [{"at": at}]})
        await c.update_one({"_id": r.inserted_id}, {"$set": {"at2": at}})
        await c.delete_one({"_id": r.inserted_id})
        events = await drain(stream, 3)
    expect(len(events) == 3, f"got {short(events)}")
    problems = []
    for event in events[:2]:
        doc = event.get("fullDocument") or {}
        if doc.get("_id") != r.inserted_id:
            problems.append(f"{event['operationType']} fullDocument._id={doc.get('_id')!r}")
        if doc.get("ref") != ref:
            problems.append(f"{event['operationType']} fullDocument.ref={doc.get('ref')!r}")
        for path, value in (
            ("at", doc.get("at")),
            ("sub.at", (doc.get("sub") or {}).get("at")),
            ("events.0.at", ((doc.get("events") or [{}])[0]).get("at")),
        ):
            if not (is_aware_dt(value) and value == at):
                problems.append(f"{event['operationType']} fullDocument.{path}={value!r}")
    delete_doc = events[2].get("fullDocument")
    expect(not problems, "; ".join(problems))
    return f"fullDocument has ObjectIds and tz-aware datetimes; delete event fullDocument={delete_doc!r}"


async def check_change_stream_bulk_and_drop(p: Probe) -> str:
    c = p.coll("csdrop")
    await c.insert_many([{"i": i} for i in range(3)])
    async with await c.watch() as stream:
        await c.update_many({}, {"$set": {"x": 1}})
        await c.delete_many({})
        await c.insert_one({"i": 9})
        await c.drop()
        events = await drain(stream, 10, 2.5)
        alive = stream.alive
    return (
        f"update_many+delete_many+insert+drop -> {[e['operationType'] for e in events]}; stream alive={alive}"
    )


async def check_change_stream_idle_getmore(p: Probe) -> str:
    class Counter(monitoring.CommandListener):
        n = 0

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            if event.command_name == "getMore":
                Counter.n += 1

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    client: AsyncMongoClient[Doc] = AsyncMongoClient(p.uri, tz_aware=True, event_listeners=[Counter()])
    try:
        c = client[p.db.name][f"csidle_{ObjectId()}"]
        stream = await c.watch()

        async def consume() -> None:
            async for _ in stream:
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(2.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, PyMongoError):
            await task
        await stream.close()
    finally:
        await client.close()
    rate = Counter.n / 2.0
    expect(rate < 20, f"idle `async for` over a change stream sends {rate:.0f} getMore/s (MongoDB: ~1/s)")
    return f"idle `async for` sends {rate:.1f} getMore/s (server waits maxAwaitTimeMS, default 1 s)"


async def check_change_stream_latency(p: Probe) -> str:
    c = p.coll("cslat")
    samples: list[float] = []
    async with await c.watch(max_await_time_ms=500) as stream:
        t0 = time.perf_counter()
        empty = await stream.try_next()
        empty_ms = (time.perf_counter() - t0) * 1000
        for i in range(10):
            t0 = time.perf_counter()
            await c.insert_one({"i": i})
            ev = await next_event(stream)
            expect(ev is not None, "event lost")
            samples.append((time.perf_counter() - t0) * 1000)
    return (
        f"insert->event median {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms "
        f"(try_next polled every 5 ms); empty try_next with max_await_time_ms=500 returned "
        f"{empty!r} after {empty_ms:.1f} ms"
    )


async def check_change_stream_restart(p: Probe) -> str:
    if p.handle is None:
        return "skipped (external server)"
    handle = p.handle
    c = p.coll("csrestart")
    notes = []
    stream = await c.watch(full_document="updateLookup")
    try:
        await c.insert_one({"i": "pre"})
        ev = await next_event(stream)
        expect(ev is not None, "no event before restart")
        token = stream.resume_token
        await asyncio.to_thread(handle.stop)
        try:
            got = await asyncio.wait_for(stream.try_next(), 15)
            notes.append(f"try_next while server down -> returned {got!r}")
        except (PyMongoError, TimeoutError) as exc:
            notes.append(f"try_next while down -> {type(exc).__name__}: {str(exc)[:120]}")
        notes.append(f"stream.alive after={stream.alive}")
        await asyncio.to_thread(handle.start)
        await c.insert_one({"i": "post"})
        try:
            post = await next_event(stream) if stream.alive else None
            notes.append(f"same stream after restart -> {post and post['fullDocument']}")
        except PyMongoError as exc:
            notes.append(f"same stream after restart -> {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        await stream.close()
    async with await c.watch(full_document="updateLookup", resume_after=token) as resumed:
        replay = await drain(resumed, 1)
    notes.append(f"watch(resume_after=pre-restart token) -> {[e['fullDocument']['i'] for e in replay]}")
    n = await c.count_documents({})
    notes.append(f"docs persisted across restart={n}")
    notes.append(await _restart_during_async_for(handle, c))
    detail = "; ".join(notes)
    expect(n == 2 and [e["fullDocument"]["i"] for e in replay] == ["post"], detail)
    return detail


async def _restart_during_async_for(handle: ServerHandle, c: AsyncCollection[Doc]) -> str:
    """Stop the server while ``async for`` waits in a getMore; report what the consumer sees."""
    stream = await c.watch(full_document="updateLookup")
    seen: list[str] = []

    async def consume() -> None:
        async for event in stream:
            seen.append(str((event.get("fullDocument") or {}).get("i")))

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)  # consumer is now parked in a getMore
    started = time.monotonic()
    await asyncio.to_thread(handle.stop)
    try:
        await asyncio.wait_for(asyncio.shield(task), 15)
        outcome = "async for ended without error"
    except TimeoutError:
        outcome = "async for still waiting after 15 s"
    except PyMongoError as exc:
        outcome = f"async for raised {type(exc).__name__} after {time.monotonic() - started:.1f} s"
    finally:
        await asyncio.to_thread(handle.start)
    if not task.done():
        await c.insert_one({"i": "after-restart"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), 3)
        outcome += f"; then it delivered {seen}"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, PyMongoError):
            await task
    await stream.close()
    return f"server stopped under a waiting `async for`: {outcome}"


async def check_getmore_unknown_cursor(p: Probe) -> str:
    try:
        reply = await p.db.command("getMore", 987_654_321, collection="nothing")
    except OperationFailure as exc:
        expect(exc.code == 43, f"getMore of an unknown cursor -> code {exc.code}: {exc}")
        return "CursorNotFound (43)"
    raise Broken(f"getMore of an unknown cursor answered {reply!r}, not CursorNotFound (43)")


async def check_cursor_ids_across_restart(p: Probe) -> str:
    if p.handle is None:
        return "skipped (external server)"
    c = p.coll("cursorids")
    stale = await c.watch()
    old_id = stale._cursor.cursor_id
    await asyncio.to_thread(p.handle.restart)
    with contextlib.suppress(PyMongoError):
        await stale.close()
    other = p.coll("cursorids")
    for attempt in range(2):  # the first command after a restart may meet a pooled, dead connection
        try:
            fresh = await other.watch()
            break
        except PyMongoError:
            if attempt:
                raise
    async with fresh:
        new_id = fresh._cursor.cursor_id
        await other.insert_one({"i": 1})
        try:
            reply = await p.db.command("getMore", old_id, collection=c.name)
            taken = (reply.get("cursor") or {}).get("nextBatch") or []
        except OperationFailure as exc:
            taken = []
            reply = {"code": exc.code}
        got = short(taken) or reply
        detail = f"cursor id before restart {old_id}, after {new_id}; stale getMore -> {got}"
        expect(old_id != new_id and not taken, detail)
    return detail


# --------------------------------------------------------------------------- runner

Check = Callable[[Probe], Awaitable[str]]
CHECKS: list[tuple[str, Check]] = [
    ("insert_one/find_one", check_insert_find_one),
    ("find sort _id desc + skip + limit", check_find_sort_skip_limit),
    ("find sort by datetime", check_find_sort_datetime),
    ("count_documents", check_count_documents),
    ("aggregate $group", check_aggregate_group),
    ("estimated_document_count", check_estimated_document_count),
    ("find_one_and_update claim", check_find_one_and_update_claim),
    ("find_one_and_update sort", check_find_one_and_update_sort),
    ("datetime sub-second compare", check_datetime_subsecond),
    ("$unset", check_unset),
    ("$set nested dict", check_set_nested),
    ("$regex $options i", check_regex_i),
    ("$in/$nin on _id", check_in_ids),
    ("$exists", check_exists),
    ("$ne", check_ne),
    ("$nin", check_nin),
    ("$gt datetime", check_gt_datetime),
    ("dotted-path update operators", check_dotted_updates),
    ("upsert/$setOnInsert/projection", check_upsert_projection),
    ("unique index", check_unique_index),
    ("unique sparse: missing fields", check_unique_sparse_missing),
    ("unique sparse: same value", check_unique_sparse_dupe),
    ("unique: update collision", check_unique_update_collision),
    ("unique non-sparse: missing fields", check_unique_nonsparse_missing),
    ("unique sparse: explicit nulls", check_unique_sparse_null),
    ("unique: strings containing NUL", check_unique_nul_strings),
    ("duplicate-key error details", check_dup_key_details),
    ("index names and options", check_index_names_options),
    ("TTL index", check_ttl_index),
    ("delete_many", check_delete_many),
    ("drop collection", check_drop),
    ("bulk_write", check_bulk_write),
    ("insert_many", check_insert_many),
    ("hello/isMaster", check_hello),
    ("change stream events", check_change_stream_events),
    ("change stream fullDocument types", check_change_stream_fulldoc_types),
    ("change stream update_many/delete_many/drop", check_change_stream_bulk_and_drop),
    ("change stream idle getMore rate", check_change_stream_idle_getmore),
    ("change stream before create / db / client", check_change_stream_before_create),
    ("change stream resume_after", check_change_stream_resume_after),
    ("change stream start_after", check_change_stream_start_after),
    ("change stream start_at_operation_time", check_change_stream_start_at_operation_time),
    ("change stream $match", check_change_stream_match),
    ("change stream latency", check_change_stream_latency),
    ("change stream across restart", check_change_stream_restart),
    ("getMore of an unknown cursor", check_getmore_unknown_cursor),
    ("cursor ids across restart", check_cursor_ids_across_restart),
]
INFO_CHECKS = {
    "TTL index",
    "hello/isMaster",
    "change stream latency",
    "change stream update_many/delete_many/drop",
}


async def run_check(probe: Probe, name: str, check: Check) -> Result:
    """Run one check with a timeout, turning any exception into a result."""
    try:
        detail = await asyncio.wait_for(check(probe), CHECK_TIMEOUT_S)
        return Result(name, "INFO" if name in INFO_CHECKS else "OK", detail)
    except Broken as exc:
        return Result(name, "BROKEN", str(exc))
    except TimeoutError:
        return Result(name, "BROKEN", f"timed out after {CHECK_TIMEOUT_S:.0f}s")
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"line {f.lineno}" for f in reversed(tb) if f.filename == __file__), "?")
        return Result(name, "BROKEN", f"{type(exc).__name__} at {where}: {str(exc)[:300]}")


async def run_all(uri: str, handle: ServerHandle | None, only: str | None) -> list[Result]:
    """Run every selected check against ``uri`` and return the results in order."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=3000)
    probe = Probe(uri, client, handle)
    results = []
    try:
        await client.drop_database(probe.db.name)
        for name, check in CHECKS:
            if only and only.lower() not in name.lower():
                continue
            result = await run_check(probe, name, check)
            results.append(result)
            print(f"{result.status:<6} {result.name}: {result.detail}", flush=True)
    finally:
        await client.close()
    return results


def main(argv: list[str] | None = None) -> int:
    """Start a server (unless --uri), run the probe, print a summary."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uri", help="probe this server instead of starting nx-27017")
    parser.add_argument("--no-workarounds", action="store_true", help="start nx-27017 without our fixes")
    parser.add_argument(
        "--disable", action="append", default=[], choices=WORKAROUNDS, help="leave out one workaround"
    )
    parser.add_argument("-k", dest="only", help="only checks whose name contains this text")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nxprobe-") as tmp:
        disabled = ["all"] if args.no_workarounds else args.disable
        handle = None if args.uri else start_server(tmp, disable=disabled)
        try:
            uri = args.uri or (handle.uri if handle else "")
            shown = (
                "n/a"
                if args.uri
                else ",".join(sorted(set(WORKAROUNDS) - (handle.disabled if handle else set())))
            )
            print(f"probing {uri} (workarounds: {shown or 'none'})", flush=True)
            results = asyncio.run(run_all(uri, handle, args.only))
        finally:
            if handle is not None:
                handle.stop()
    counts = {s: sum(r.status == s for r in results) for s in ("OK", "BROKEN", "INFO")}
    print(f"\n{counts['OK']} ok, {counts['BROKEN']} broken, {counts['INFO']} info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
