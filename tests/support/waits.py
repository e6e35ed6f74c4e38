"""Helpers for tests: wait on store events (never sleep-and-hope), write raw documents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from bson import ObjectId

import queuecore
from queuecore import Job, Store


async def wait_job(store: Store, id: ObjectId, predicate: Callable[[Job], bool], timeout: float = 15) -> Job:
    """Wait, on the store's change feed, until the job satisfies ``predicate``."""
    async with asyncio.timeout(timeout):
        async for change in store.watch():
            if change.kind == "reset" or change.id == id:
                job = await store.get(id)
                if job is not None and predicate(job):
                    return job
    raise AssertionError("unreachable")


async def wait_all(
    store: Store, ids: list[ObjectId], predicate: Callable[[Job], bool], timeout: float = 30
) -> list[Job]:
    """Wait until every job in ``ids`` satisfies ``predicate``."""
    pending = set(ids)
    async with asyncio.timeout(timeout):
        async for change in store.watch():
            if change.kind == "reset":
                check = set(pending)
            elif change.id in pending:
                check = {change.id}
            else:
                continue
            for id in check:
                job = await store.get(id)
                if job is not None and predicate(job):
                    pending.discard(id)
            if not pending:
                return [j for j in [await store.get(i) for i in ids] if j is not None]
    raise AssertionError("unreachable")


async def insert_raw(store: Store, doc: dict[str, Any]) -> None:
    """Insert a document as another program might have: no validation at all.

    On SQLite, values are written as given into the matching columns (dicts as
    JSON, anything else as is — so a broken JSON string stays broken). SQLite's
    NOT NULL columns (name, status, created_at, available_at) must be given.
    """
    if store.engine == "mongodb":
        await store.coll.insert_one(doc)  # type: ignore[attr-defined]
        return
    row = dict(doc)
    row["id"] = str(row.pop("_id", ObjectId()))
    for key, value in list(row.items()):
        if isinstance(value, dict | list):
            row[key] = json.dumps(value)
        elif hasattr(value, "timestamp"):
            row[key] = queuecore._time.to_ms(value)
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    sql = f"INSERT INTO {store.collection} ({cols}) VALUES ({marks})"

    await store._run(lambda conn: conn.execute(sql, list(row.values())))  # type: ignore[attr-defined]
    store._wrote()  # type: ignore[attr-defined]
