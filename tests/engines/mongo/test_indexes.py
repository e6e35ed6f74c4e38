"""The MongoDB engine's indexes: retention is a TTL index on ``finished_at``."""

from __future__ import annotations

from datetime import timedelta

import queuecore

from .support import coll


async def test_ensure_indexes_with_retention_makes_a_ttl_index(store: queuecore.Store) -> None:
    await queuecore.ensure_indexes(store, remove_after=timedelta(hours=1))
    assert store.retention == timedelta(hours=1)
    info = await coll(store).index_information()
    keys = {tuple(k for k, _ in spec["key"]): spec for spec in info.values()}
    assert ("name",) in keys and ("status",) in keys
    assert keys[("finished_at",)]["expireAfterSeconds"] == 3600
