"""The original's semantics (enqueue, dequeue, complete, fail, cancel, backoff),
one contract suite that runs unchanged on both engines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pydantic import BaseModel

import queuecore
from queuecore import Blueprint, Status
from queuecore.job import MAX_EVENTS


def near(a: datetime | None, b: datetime, tolerance: float = 2.0) -> bool:
    return a is not None and abs((a - b).total_seconds()) <= tolerance


# -- enqueue ------------------------------------------------------------------


async def test_enqueue_stores_a_complete_job(store: queuecore.Store) -> None:
    before = datetime.now(UTC)
    job = await queuecore.enqueue(store, Blueprint("mail", data={"to": "a@b.c"}, delay=30))
    assert job is not None
    stored = await store.get(job.id)
    assert stored == job
    assert stored.status is Status.ENQUEUED
    assert stored.data == {"to": "a@b.c"}
    assert stored.attempts == 0
    assert stored.created.tzinfo is not None and near(stored.created, before)
    assert near(stored.available, before + timedelta(seconds=30))
    assert stored.started is None and stored.ended is None and stored.finished is None
    assert [e.status for e in stored.events] == ["enqueued"]


async def test_unlabeled_jobs_are_always_inserted(store: queuecore.Store) -> None:
    a = await queuecore.enqueue(store, Blueprint("mail"))
    b = await queuecore.enqueue(store, Blueprint("mail"))
    assert a is not None and b is not None and a.id != b.id


async def test_labeled_job_is_skipped_while_one_is_active(store: queuecore.Store) -> None:
    first = await queuecore.enqueue(store, Blueprint("sync", label="user-1"))
    assert first is not None
    assert await queuecore.enqueue(store, Blueprint("sync", label="user-1")) is None
    # another label or another name is independent
    assert await queuecore.enqueue(store, Blueprint("sync", label="user-2")) is not None
    assert await queuecore.enqueue(store, Blueprint("other", label="user-1")) is not None

    # dequeued and failed still count as active
    await queuecore.dequeue(store, first.id, 60)
    assert await queuecore.enqueue(store, Blueprint("sync", label="user-1")) is None
    await queuecore.fail(store, first.id, "boom")
    assert await queuecore.enqueue(store, Blueprint("sync", label="user-1")) is None
    # once it finished, a new one may be enqueued
    await queuecore.dequeue(store, first.id, 60)
    await queuecore.complete(store, first.id)
    again = await queuecore.enqueue(store, Blueprint("sync", label="user-1"))
    assert again is not None and again.id != first.id


async def test_labeled_job_with_period_waits_for_the_period(store: queuecore.Store) -> None:
    first = await queuecore.enqueue(store, Blueprint("report", label="daily", period=3600))
    assert first is not None
    await queuecore.dequeue(store, first.id, 60)
    await queuecore.complete(store, first.id)
    # finished within the period: skipped
    assert await queuecore.enqueue(store, Blueprint("report", label="daily", period=3600)) is None
    # without a period only active jobs count
    assert await queuecore.enqueue(store, Blueprint("report", label="daily")) is not None


async def test_a_periodic_blueprint_racing_the_finish_of_its_job_is_never_enqueued_twice(
    store: queuecore.Store, open_store
) -> None:
    # Whichever comes first, the enqueue must be skipped: before the finish the job is
    # active (the lock), after it the job finished within the period. A check and an
    # insert that are two steps let a second job in when the finish falls between them.
    other = await open_store()
    for round in range(25):
        blueprint = Blueprint("report", label=f"race-{round}", period=3600)
        first = await queuecore.enqueue(store, blueprint)
        assert first is not None
        await queuecore.dequeue(store, first.id, 60)
        _, again = await asyncio.gather(
            queuecore.complete(store, first.id), queuecore.enqueue(other, blueprint)
        )
        assert again is None, f"round {round}: a second job was enqueued"
        assert [j.id for j in await store.find(name="report", text=f"race-{round}")] == [first.id]


async def test_labeled_job_with_period_is_enqueued_after_the_period(store: queuecore.Store) -> None:
    first = await queuecore.enqueue(store, Blueprint("report", label="hourly", period=0.3))
    assert first is not None
    await queuecore.dequeue(store, first.id, 60)
    await queuecore.complete(store, first.id)
    assert await queuecore.enqueue(store, Blueprint("report", label="hourly", period=0.3)) is None
    await asyncio.sleep(0.4)  # the period itself is what is under test
    assert await queuecore.enqueue(store, Blueprint("report", label="hourly", period=0.3)) is not None


async def test_concurrent_labeled_enqueues_from_several_stores_insert_one(
    store: queuecore.Store, open_store
) -> None:
    others = [await open_store() for _ in range(3)]
    blueprints = [Blueprint("dedupe", label="same") for _ in range(40)]
    results = await asyncio.gather(
        *(queuecore.enqueue([store, *others][i % 4], bp) for i, bp in enumerate(blueprints))
    )
    inserted = [r for r in results if r is not None]
    assert len(inserted) == 1
    active = await store.find(status=list(queuecore.ACTIVE), name="dedupe")
    assert [j.id for j in active] == [inserted[0].id]


async def test_enqueue_many_stores_every_job_in_order(store: queuecore.Store) -> None:
    blueprints = [Blueprint("mail", data={"n": n}, delay=30 if n % 2 else 0) for n in range(600)]
    jobs = await queuecore.enqueue_many(store, blueprints)
    assert [j.data["n"] for j in jobs if j is not None] == list(range(600))
    for job in jobs[:3] + jobs[-3:]:
        assert job is not None and await store.get(job.id) == job
    assert jobs[1] is not None and jobs[0] is not None and jobs[1].available > jobs[0].available
    assert (await store.counts())[Status.ENQUEUED.value] == 600


async def test_enqueue_many_follows_the_label_rules(store: queuecore.Store) -> None:
    active = await queuecore.enqueue(store, Blueprint("sync", label="busy"))
    done = await queuecore.enqueue(store, Blueprint("report", label="daily", period=3600))
    assert active is not None and done is not None
    await queuecore.dequeue(store, done.id, 60)
    await queuecore.complete(store, done.id)
    results = await queuecore.enqueue_many(
        store,
        [
            Blueprint("sync", label="busy"),  # an active job holds the label
            Blueprint("sync", label="free", data={"first": True}),
            Blueprint("sync", label="free", data={"first": False}),  # the one before it holds it now
            Blueprint("report", label="daily", period=3600),  # finished within its period
            Blueprint("report", label="daily"),  # without a period only active jobs count
            Blueprint("sync"),
        ],
    )
    skipped = [r is None for r in results]
    assert skipped == [True, False, True, True, False, False]
    assert results[1] is not None and results[1].data == {"first": True}
    assert len(await store.find(name="sync", text="free")) == 1


async def test_enqueue_many_with_bad_data_inserts_nothing(store: queuecore.Store) -> None:
    with pytest.raises(ValueError, match="not JSON-compatible"):
        await queuecore.enqueue_many(
            store, [Blueprint("mail", data={"n": 1}), Blueprint("mail", data={"x": float("nan")})]
        )
    with pytest.raises(ValueError, match="task name"):
        await queuecore.enqueue_many(store, [Blueprint("mail"), Blueprint("")])
    assert (await store.counts()).total == 0
    assert await queuecore.enqueue_many(store, []) == []


async def test_blueprint_model_is_serialised_into_data(store: queuecore.Store) -> None:
    class Mail(BaseModel):
        to: str
        when: datetime

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = await queuecore.enqueue(store, Blueprint("mail", model=Mail(to="x@y.z", when=when)))
    assert job is not None
    stored = await store.get(job.id)
    assert stored is not None
    assert stored.data == {"to": "x@y.z", "when": "2026-01-02T03:04:05Z"}


async def test_bad_data_is_refused_with_a_clear_message(store: queuecore.Store) -> None:
    with pytest.raises(ValueError, match="not JSON-compatible"):
        await queuecore.enqueue(store, Blueprint("mail", data={"f": object()}))
    with pytest.raises(ValueError, match="MiB; the limit is"):
        await queuecore.enqueue(store, Blueprint("mail", data={"blob": "x" * (10 * 1024 * 1024)}))
    assert await store.find() == []


# -- dequeue ------------------------------------------------------------------


async def test_dequeue_claims_an_available_job(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    now = datetime.now(UTC)
    got = await queuecore.dequeue(store, job.id, 30, worker="host:1:work")
    assert got is not None
    assert got.status is Status.DEQUEUED
    assert got.attempts == 1
    assert near(got.started, now)
    assert near(got.available, now + timedelta(seconds=30))
    assert got.worker == "host:1:work"
    assert [e.status for e in got.events] == ["enqueued", "dequeued"]
    assert await store.get(job.id) == got


async def test_dequeue_refuses_a_job_that_is_not_available(store: queuecore.Store) -> None:
    delayed = await queuecore.enqueue(store, Blueprint("work", delay=60))
    assert delayed is not None
    assert await queuecore.dequeue(store, delayed.id, 30) is None

    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    assert await queuecore.dequeue(store, job.id, 30) is not None
    # dequeued and its timeout not passed: another worker gets nothing
    assert await queuecore.dequeue(store, job.id, 30) is None
    # finished jobs are never dequeued
    await queuecore.complete(store, job.id)
    assert await queuecore.dequeue(store, job.id, 30) is None
    assert await queuecore.dequeue(store, ObjectId(), 30) is None


async def test_dequeued_job_is_available_again_after_its_timeout(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    assert await queuecore.dequeue(store, job.id, 0.2) is not None
    assert await queuecore.dequeue(store, job.id, 0.2) is None
    await asyncio.sleep(0.3)  # the timeout itself is what is under test
    again = await queuecore.dequeue(store, job.id, 30)
    assert again is not None and again.attempts == 2


async def test_failed_job_is_dequeued_after_its_delay(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    await queuecore.dequeue(store, job.id, 30)
    failed = await queuecore.fail(store, job.id, "flaky", delay=60)
    assert failed.status is Status.FAILED
    assert await queuecore.dequeue(store, job.id, 30) is None
    await queuecore.dequeue(store, job.id, 30)
    job2 = await queuecore.enqueue(store, Blueprint("work"))
    assert job2 is not None
    await queuecore.dequeue(store, job2.id, 30)
    await queuecore.fail(store, job2.id, "flaky")
    again = await queuecore.dequeue(store, job2.id, 30)
    assert again is not None and again.attempts == 2 and again.reason == "flaky"


async def test_concurrent_dequeues_have_exactly_one_winner(store: queuecore.Store, open_store) -> None:
    others = [await open_store() for _ in range(3)]
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    results = await asyncio.gather(
        *(queuecore.dequeue(s, job.id, 30) for s in [store, *others] for _ in range(5))
    )
    assert len([r for r in results if r is not None]) == 1
    stored = await store.get(job.id)
    assert stored is not None and stored.attempts == 1


# -- complete, fail, cancel ----------------------------------------------------


async def test_complete_sets_result_and_keeps_the_last_reason(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    await queuecore.dequeue(store, job.id, 30)
    await queuecore.fail(store, job.id, "first try failed")
    await queuecore.dequeue(store, job.id, 30)
    now = datetime.now(UTC)
    done = await queuecore.complete(store, job.id, {"sent": 3})
    assert done.status is Status.COMPLETED
    assert done.result == {"sent": 3}
    assert near(done.ended, now) and near(done.finished, now)
    assert done.reason == "first try failed"
    assert [e.status for e in done.events] == [
        "enqueued",
        "dequeued",
        "failed",
        "dequeued",
        "completed",
    ]


async def test_fail_sets_reason_ended_and_available(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    await queuecore.dequeue(store, job.id, 30)
    now = datetime.now(UTC)
    failed = await queuecore.fail(store, job.id, "smtp down", delay=timedelta(minutes=5))
    assert failed.reason == "smtp down"
    assert near(failed.ended, now)
    assert near(failed.available, now + timedelta(minutes=5))
    assert failed.finished is None
    assert failed.events[-1].reason == "smtp down"


async def test_cancel_sets_reason_ended_and_finished(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work", label="l"))
    assert job is not None
    await queuecore.dequeue(store, job.id, 30)
    cancelled = await queuecore.cancel(store, job.id, "not needed")
    assert cancelled.status is Status.CANCELLED
    assert cancelled.reason == "not needed"
    assert cancelled.finished is not None and cancelled.ended is not None
    # the label is free again
    assert await queuecore.enqueue(store, Blueprint("work", label="l")) is not None


@pytest.mark.parametrize("op", ["complete", "fail", "cancel"])
async def test_transitions_need_a_dequeued_job(store: queuecore.Store, op: str) -> None:
    async def run(id: ObjectId) -> None:
        if op == "complete":
            await queuecore.complete(store, id)
        elif op == "fail":
            await queuecore.fail(store, id, "x")
        else:
            await queuecore.cancel(store, id, "x")

    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    with pytest.raises(queuecore.MissingJobError, match="missing job"):
        await run(job.id)  # enqueued, not dequeued
    with pytest.raises(queuecore.MissingJobError, match="missing job"):
        await run(ObjectId())
    assert (await store.get(job.id)) == job


async def test_a_workers_completion_writes_what_complete_writes(store: queuecore.Store) -> None:
    """The worker's completion (the job not read back) is the same guarded write."""
    from queuecore.ops import complete_attempt

    jobs = [await queuecore.enqueue(store, Blueprint("work", label=label)) for label in ("a", "b")]
    claimed = [await queuecore.dequeue(store, job.id, 30) for job in jobs if job is not None]
    assert len(claimed) == 2 and all(c is not None for c in claimed)
    by_complete = await queuecore.complete(store, claimed[0].id, {"sent": 1}, attempt=claimed[0].attempts)
    assert await complete_attempt(store, claimed[1], {"sent": 1}) is None
    by_worker = await store.get(claimed[1].id)
    assert by_worker is not None
    for done in (by_complete, by_worker):
        assert done.status is Status.COMPLETED and done.result == {"sent": 1} and done.attempts == 1
        assert [e.status for e in done.events] == ["enqueued", "dequeued", "completed"]
        assert done.finished is not None and done.ended == done.finished
    # both released their label
    assert await queuecore.enqueue(store, Blueprint("work", label="a")) is not None
    assert await queuecore.enqueue(store, Blueprint("work", label="b")) is not None


@pytest.mark.parametrize("by_worker", [False, True], ids=["complete", "complete_attempt"])
async def test_a_superseded_attempt_cannot_finish_the_job(store: queuecore.Store, by_worker: bool) -> None:
    from queuecore.ops import complete_attempt

    async def finish(attempt: queuecore.Job) -> None:
        if by_worker:  # the worker's completion: the same guarded write, the job not read back
            await complete_attempt(store, attempt)
        else:
            await queuecore.complete(store, attempt.id, attempt=attempt.attempts)

    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    first = await queuecore.dequeue(store, job.id, 0.1)
    assert first is not None
    await asyncio.sleep(0.2)  # the first worker's claim times out
    second = await queuecore.dequeue(store, job.id, 30)
    assert second is not None and second.attempts == 2
    with pytest.raises(queuecore.MissingJobError):
        await finish(first)
    assert await store.get(job.id) == second  # still the second attempt's, untouched
    await finish(second)
    stored = await store.get(job.id)
    assert stored is not None and stored.status is Status.COMPLETED
    with pytest.raises(queuecore.MissingJobError):
        await finish(second)  # completed already: the guard fails


async def test_events_are_bounded(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    for i in range(MAX_EVENTS):
        await queuecore.dequeue(store, job.id, 30)
        await queuecore.fail(store, job.id, f"try {i}")
    stored = await store.get(job.id)
    assert stored is not None
    assert len(stored.events) == MAX_EVENTS
    assert stored.events[-1].reason == f"try {MAX_EVENTS - 1}"
    assert stored.events[0].status == "dequeued"  # the oldest ones were dropped


# -- backoff ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi", "factor", "attempt", "expected"),
    [
        (1, 600, 2, 0, 1),
        (1, 600, 2, 1, 2),
        (1, 600, 2, 5, 32),
        (1, 600, 2, 20, 600),  # clamped to max
        (0, 600, 2, 0, 0.1),  # min <= 0 → 100 ms
        (1, 0, 2, 10, 10),  # max <= 0 → 10 s
        (5, 5, 2, 3, 5),  # min >= max → max
        (10, 5, 2, 3, 5),
        (1, 600, 0, 3, 8),  # factor <= 0 → 2
        (1, 600, 0.5, 3, 1),  # shrinking delays are clamped to min
        (1, 600, 10, 10_000, 600),  # overflow → max
        (timedelta(milliseconds=500), timedelta(seconds=4), 2, 2, 2),
    ],
)
def test_backoff(lo, hi, factor, attempt, expected) -> None:
    assert queuecore.backoff(lo, hi, factor, attempt) == timedelta(seconds=expected)
