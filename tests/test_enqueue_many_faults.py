"""``enqueue_many`` when a batch fails midway (issue 11): where a batch is one transaction
(``EngineSupport.atomic_batches``) a fault midway leaves none of it; elsewhere (MongoDB: one
unordered ``insert_many``) part of it may remain; on every engine, retrying with the same
labels inserts no duplicates. A producer killed midway: engines/sqlite/test_killed_producer.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.targets import StoreTarget

import queuecore
from queuecore import Blueprint

REPO = Path(__file__).resolve().parent.parent

BATCH = 600  # more than one of the old 256-row transactions


def _batch(tag: str) -> list[Blueprint]:
    """Blueprints with a label each (the retry recipe), and two periodic ones at the end."""
    plain = [Blueprint("mail", label=f"{tag}-{n}", data={"n": n}) for n in range(BATCH)]
    return [*plain, *(Blueprint("report", label=f"{tag}-p{n}", period=3600) for n in range(2))]


async def test_a_fault_midway_leaves_none_or_a_part_and_labels_make_a_retry_safe(
    target: StoreTarget, store: queuecore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails after half the batch (a full disk; a lost server on MongoDB)."""
    support = target.support
    error = support.break_batches_midway(store, monkeypatch, after=BATCH // 2)
    with pytest.raises(error):
        await queuecore.enqueue_many(store, _batch("a"))
    # none of the batch where a batch is one transaction; a part remains elsewhere (documented)
    assert (await store.counts()).total == (0 if support.atomic_batches else BATCH // 2)
    monkeypatch.undo()
    retried = await queuecore.enqueue_many(store, _batch("a"))  # the same call again
    assert (await store.counts()).total == BATCH + 2  # every job once, no duplicates
    labels = [job.label for job in await store.find(limit=BATCH + 10)]
    assert len(labels) == len(set(labels)) == BATCH + 2
    if support.atomic_batches:
        assert all(job is not None for job in retried)
