"""Faults lose nothing: worker processes killed with SIGKILL, several processes
racing on labels. Every test is bounded in time and stops its processes itself."""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

from support.waits import wait_all, wait_job

import queuecore
from queuecore import Blueprint, Status
from queuecore.store.changes import ANY, Changes

WORKER = Path(__file__).parent / "support" / "fault_worker.py"


class Workers:
    """Worker processes of tests/support/fault_worker.py, with a record of every kill."""

    def __init__(self, target, log: Path, timeout: float = 1.0) -> None:
        self.args = [sys.executable, str(WORKER), target.uri, target.collection, str(log), str(timeout)]
        self.procs: list[asyncio.subprocess.Process] = []
        self.kills: dict[int, float] = {}  # pid → when it was killed

    async def start(self) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *self.args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stderr is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise AssertionError((await proc.stderr.read()).decode())
        return proc

    async def kill(self, proc: asyncio.subprocess.Process) -> None:
        self.kills[proc.pid] = time.time()
        proc.kill()
        await asyncio.wait_for(proc.wait(), 10)

    async def stop_all(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def read_log(log: Path) -> dict[str, list[tuple[str, int, int, float]]]:
    """Per job id: the (kind, attempt, pid, time) lines its handlers wrote."""
    lines: dict[str, list[tuple[str, int, int, float]]] = defaultdict(list)
    if log.exists():
        for line in log.read_text().splitlines():
            kind, job, attempt, pid, at = line.split()
            lines[job].append((kind, int(attempt), int(pid), float(at)))
    return lines


def assert_never_concurrent(lines, kills: dict[int, float]) -> None:
    """Each later attempt of a job started only after the earlier one ended or was killed."""
    for job, events in lines.items():
        starts = {(a, p): t for k, a, p, t in events if k == "start"}
        ends = {(a, p): t for k, a, p, t in events if k == "end"}
        ordered = sorted(starts.items(), key=lambda item: item[1])
        for (prev, _), (nxt, next_start) in itertools.pairwise(ordered):
            finished = ends.get(prev)
            killed = kills.get(prev[1])
            assert (finished is not None and finished <= next_start) or (
                killed is not None and killed <= next_start
            ), f"job {job}: attempt {nxt} started while {prev} was still running"


async def test_sigkill_mid_job_is_retried_after_timeout_and_completed_once(
    target, store: queuecore.Store, tmp_path: Path
) -> None:
    log = tmp_path / "effects.log"
    workers = Workers(target, log, timeout=1.0)
    try:
        first = await workers.start()
        job = await queuecore.enqueue(store, Blueprint("fault", data={"work": 30}))
        assert job is not None
        # once the first process has claimed it (its handler runs 30 s), kill it
        await wait_job(store, job.id, lambda j: j.status is Status.DEQUEUED)
        await workers.kill(first)
        stalled = await store.get(job.id)
        assert stalled is not None and stalled.status is Status.DEQUEUED
        await workers.start()
        await store.update(job.id, ANY, Changes(data={"work": 0.01}))
        [done] = await wait_all(store, [job.id], lambda j: j.status in queuecore.FINISHED, timeout=30)
    finally:
        await workers.stop_all()
    assert done.status is Status.COMPLETED and done.attempts == 2
    lines = read_log(log)[str(job.id)]
    assert [k for k, *_ in lines].count("end") == 1  # completed exactly once
    assert_never_concurrent({str(job.id): lines}, workers.kills)


async def test_random_kills_across_three_processes_lose_nothing(
    target, store: queuecore.Store, tmp_path: Path
) -> None:
    total = 2000 if target.support.fast else 300
    log = tmp_path / "effects.log"
    workers = Workers(target, log, timeout=1.0)
    rng = random.Random(7)
    try:
        procs = [await workers.start() for _ in range(3)]
        ids = []
        for i in range(total):
            job = await queuecore.enqueue(store, Blueprint("fault", data={"n": i}))
            assert job is not None
            ids.append(job.id)

        async def chaos() -> None:
            for _ in range(4):
                await asyncio.sleep(rng.uniform(0.3, 0.8))
                victim = rng.randrange(len(procs))
                await workers.kill(procs[victim])
                procs[victim] = await workers.start()

        chaos_task = asyncio.create_task(chaos())
        done = await wait_all(store, ids, lambda j: j.status in queuecore.FINISHED, timeout=150)
        await chaos_task
    finally:
        await workers.stop_all()
    assert len(done) == total
    assert all(j.status is Status.COMPLETED for j in done)
    lines = read_log(log)
    assert set(lines) == {str(i) for i in ids}
    # at least once, and more than once only when an earlier attempt's process was killed
    for job, events in lines.items():
        ended = [e for e in events if e[0] == "end"]
        assert ended, f"job {job} never ran to the end"
        started = [e for e in events if e[0] == "start"]
        unfinished = [s for s in started if ("end", s[1], s[2]) not in {e[:3] for e in ended}]
        assert all(s[2] in workers.kills for s in unfinished), f"job {job}: attempt lost without a kill"
        assert len(ended) == 1 or all(e[2] in workers.kills for e in ended[:-1]), (
            f"job {job} ran to the end twice with no kill"
        )
    assert_never_concurrent(lines, workers.kills)


DEDUPE = """
import asyncio, sys, queuecore
async def main():
    store = await queuecore.connect(sys.argv[1], collection=sys.argv[2])
    made = 0
    for _ in range(int(sys.argv[3])):
        job = await queuecore.enqueue(store, queuecore.Blueprint("dedupe", label="the-one"))
        if job is not None:  # finish it, so the next enqueue races again
            made += 1
            await queuecore.dequeue(store, job.id, 30)
            await queuecore.complete(store, job.id)
    await store.close()
    print(made)
asyncio.run(main())
"""


async def test_two_processes_enqueueing_one_label_never_make_two_active_jobs(
    target, store: queuecore.Store
) -> None:
    rounds = 500 if target.support.fast else 150
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            DEDUPE,
            target.uri,
            target.collection,
            str(rounds),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    violations = 0
    try:
        async with asyncio.timeout(120):
            running = [asyncio.create_task(p.wait()) for p in procs]
            while not all(t.done() for t in running):
                active = await store.find(status=list(queuecore.ACTIVE), name="dedupe")
                violations += len(active) > 1
                await asyncio.sleep(0)
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
    outputs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert violations == 0
    assert len(await store.find(status=list(queuecore.ACTIVE), name="dedupe")) <= 1
    assert sum(int(out.decode()) for out, _ in outputs) >= 2
