"""Retention (``ensure_indexes(remove_after=…)``) is a property of the collection: a store
opened later, in another process, knows it (dashboards show it) — on both engines."""

from __future__ import annotations

from datetime import timedelta

import queuecore


async def test_a_store_opened_later_learns_the_retention(store: queuecore.Store, open_store) -> None:
    assert (await open_store()).retention is None
    await queuecore.ensure_indexes(store, remove_after=timedelta(hours=2))
    assert store.retention == timedelta(hours=2)
    assert (await open_store()).retention == timedelta(hours=2)
    # changed: the next store sees the new value
    await queuecore.ensure_indexes(store, remove_after=1800)
    assert (await open_store()).retention == timedelta(minutes=30)
    # switched off
    await queuecore.ensure_indexes(store)
    assert store.retention is None
    assert (await open_store()).retention is None


async def test_retention_of_one_collection_is_not_another_s(store: queuecore.Store, target) -> None:
    await queuecore.ensure_indexes(store, remove_after=timedelta(days=7))
    elsewhere = await queuecore.connect(target.uri, collection=f"{target.collection}_other")
    try:
        assert elsewhere.retention is None
    finally:
        await target.support.drop(elsewhere)
        await elsewhere.close()
