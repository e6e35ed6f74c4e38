"""A producer killed midway through ``enqueue_many`` (a real process, SIGKILL) leaves none of
its batch in the SQLite file, which stays sound (issue 11)."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import queuecore
from queuecore import Blueprint

REPO = Path(__file__).resolve().parents[3]
BATCH = 600  # more than one of the old 256-row transactions


CHILD = textwrap.dedent(
    """
    import asyncio, sys, threading
    import queuecore
    import queuecore.store.sqlite.writes as writes
    from queuecore import Blueprint

    real, calls = writes.inserted, 0

    def paused(conn, sql, values):  # the batch is under way: say so, and wait to be killed
        global calls
        calls += 1
        if calls == int(sys.argv[2]):
            print("midway", flush=True)
            threading.Event().wait()
        return real(conn, sql, values)

    writes.inserted = paused

    async def main():
        store = await queuecore.connect(sys.argv[1])
        plain = [Blueprint("mail", label=f"k-{n}", data={"n": n}) for n in range(600)]
        periodic = [Blueprint("report", label=f"p-{n}", period=3600) for n in range(2)]
        await queuecore.enqueue_many(store, plain + periodic)

    asyncio.run(main())
    """
)


def _killed_midway(uri: str, pause_at: int) -> None:
    """Run the producer until it is midway through its batch, then SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, str(pause_at)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "the producer never reached the middle of its batch"
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "midway", (line, proc.stderr.read() if proc.stderr else "")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("pause_at", [BATCH // 2, BATCH + 2])  # among the plain / the periodic ones
async def test_a_producer_killed_midway_leaves_none_of_the_batch_on_sqlite(
    tmp_path: Path, pause_at: int
) -> None:
    uri = f"sqlite:///{tmp_path}/jobs.db"
    await asyncio.to_thread(_killed_midway, uri, pause_at)
    async with await queuecore.connect(uri) as store:
        assert (await store.counts()).total == 0
        # the file is sound: the same batch goes in whole
        again = await queuecore.enqueue_many(store, [Blueprint("mail", label=f"k-{n}") for n in range(BATCH)])
        assert all(job is not None for job in again) and (await store.counts()).total == BATCH
