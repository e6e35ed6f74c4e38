"""A worker whose outcome cannot be written (the database is unreachable for a moment) retries
the write: the job is completed once and its handler does not run again — on every engine.
What each engine's real outage looks like: tests/engines/*/test_outage.py."""

from __future__ import annotations

from collections import Counter

from bson import ObjectId
from support.outage import Worked, enqueue, finished
from support.waits import wait_all

import queuecore
from queuecore import ConnectError, Status
from queuecore.store.changes import Changes, Guard


async def test_outcome_written_after_the_database_is_back_not_run_twice(store: queuecore.Store) -> None:
    real_update = store.update_only  # what a worker finishing its attempt writes with
    refused = 0

    async def flaky_update(id: ObjectId, guard: Guard, changes: Changes) -> bool:
        nonlocal refused
        if changes.status == Status.COMPLETED and refused < 2:
            refused += 1
            raise ConnectError("cannot reach the database: test outage")
        return await real_update(id, guard, changes)

    store.update_only = flaky_update  # type: ignore[method-assign]
    worked = Worked(store)
    async with worked.queue:
        job = await enqueue(store, n=1)
        [done] = await wait_all(store, [job.id], finished)
    assert done.status is Status.COMPLETED and done.attempts == 1 and done.result == {"n": 1}
    assert refused == 2 and worked.runs == Counter({job.id: 1})
    assert [type(r) for r in worked.reports] == [ConnectError]  # the first failure, not every retry
