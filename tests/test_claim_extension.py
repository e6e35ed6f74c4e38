"""``ctx.extend(d)``: the claim is kept for ``d`` more, never shortened; a negative duration is
refused — on every engine."""

from __future__ import annotations

from support.waits import wait_job

import queuecore
from queuecore import Blueprint, Context, Queue, Status, Task


def finished(job: queuecore.Job) -> bool:
    return job.status in queuecore.FINISHED


async def test_extend_never_shortens_the_claim(store: queuecore.Store) -> None:
    """``ctx.extend(d)`` keeps the job claimed for ``d`` *more*: a short extension must not
    cut the claim the worker already holds (that would let another worker run the job)."""
    seen: list[tuple[object, object]] = []

    async def handler(ctx: Context) -> None:
        assert await ctx.extend(1)
        stored = await ctx.store.get(ctx.job.id)
        assert stored is not None
        seen.append((ctx.job.available, stored.available))

    queue = Queue(store)
    queue.add(Task("t", handler, timeout=600, lifetime=300))
    async with queue:
        job = await queue.enqueue(Blueprint("t"))
        assert job is not None
        await wait_job(store, job.id, finished)
    [(claimed_until, stored_until)] = seen
    assert stored_until >= claimed_until


async def test_extend_refuses_a_negative_duration(store: queuecore.Store) -> None:
    outcome: list[BaseException] = []

    async def handler(ctx: Context) -> None:
        try:
            await ctx.extend(-5)
        except ValueError as exc:
            outcome.append(exc)

    queue = Queue(store)
    queue.add(Task("t", handler))
    async with queue:
        job = await queue.enqueue(Blueprint("t"))
        assert job is not None
        done = await wait_job(store, job.id, finished)
    assert done.status is Status.COMPLETED
    assert len(outcome) == 1 and "extend" in str(outcome[0])
