"""SQLite "goes away" for 5 s: nothing is lost (issue 6).

SQLite has no server to lose; its outage is the file held under an exclusive transaction by
another process for 5 s. Writers wait (busy timeout 30 s), readers and the change feed go
on (WAL), and the feed continues from its sequence number: nothing fails, nothing is lost.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

from support.outage import (
    DEADLINE_S,
    OUTAGE_S,
    Watching,
    Worked,
    assert_model_equals_database,
    enqueue,
    finished,
    sample_modes,
)
from support.waits import wait_all

import queuecore
from queuecore import Status
from queuecore.store.base import MODE_CHANGE_FEED

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
print("released", flush=True)
"""


async def test_sqlite_locked_for_5s_workers_and_watcher_wait_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    uri = f"sqlite:///{path}"
    worker_store = await queuecore.connect(uri)
    viewer = await queuecore.connect(uri)
    client = await queuecore.connect(uri)
    worked = Worked(worker_store)
    watching = Watching(viewer)
    locker: asyncio.subprocess.Process | None = None
    try:
        await watching.start()
        async with worked.queue:
            before = [(await enqueue(client, n=i)).id for i in range(10)]
            await watching.shows(
                lambda: all(watching.status(i) is Status.COMPLETED for i in before), "before"
            )
            held = await enqueue(client, hold=True, n="held")
            async with asyncio.timeout(DEADLINE_S):
                await worked.holding.wait()
            await watching.shows(lambda: watching.status(held.id) is Status.DEQUEUED, "the held job running")

            with sample_modes(worker_store, viewer) as modes:
                locker = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    LOCKER,
                    str(path),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                assert locker.stdin is not None and locker.stdout is not None
                async with asyncio.timeout(DEADLINE_S):
                    assert (await locker.stdout.readline()).strip() == b"locked"
                worked.release.set()  # the held job ends while the file is locked
                waiting = asyncio.create_task(enqueue(client, n="waited"))
                # readers are not blocked: the dashboard can reload while writers wait
                await watching.model.reload()
                assert watching.status(held.id) is Status.DEQUEUED
                await asyncio.sleep(OUTAGE_S)  # the lock is held for 5 s
                assert not waiting.done()  # the write waits for the lock instead of failing
                assert (await viewer.get(held.id)).status is Status.DEQUEUED  # type: ignore[union-attr]
                locker.stdin.write(b"release\n")
                await locker.stdin.drain()
                async with asyncio.timeout(DEADLINE_S):
                    assert (await locker.stdout.readline()).strip() == b"released"
                    waited = await waiting
            assert modes == [{MODE_CHANGE_FEED}, {MODE_CHANGE_FEED}]  # nothing to reconnect to

            ids = [*before, held.id, waited.id]
            done = await wait_all(client, ids, finished, timeout=DEADLINE_S)
            assert all(j.status is Status.COMPLETED and j.attempts == 1 for j in done), done
            assert worked.runs == Counter(dict.fromkeys(ids, 1))
            assert worked.reports == []  # nothing failed: everyone waited
            await assert_model_equals_database(watching, client, ids)
            await watching.recorded_all(ids)
        for id in ids:  # the feed continued from its position: an event per transition, no reset
            assert watching.transitions(id) == ["insert", "update", "update", "completed"], id
        assert [c.kind for c in watching.changes].count("reset") == 1
    finally:
        if locker is not None and locker.returncode is None:
            locker.kill()
            await locker.wait()
        await watching.stop()
        for store in (worker_store, viewer, client):
            await store.close()
