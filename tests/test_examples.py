"""The example tasks (``examples/tasks.py``) do what their docstring promises, run for real
on a SQLite file — they are what a new user copies first."""

from __future__ import annotations

from support.targets import StoreTarget
from support.waits import wait_all

import queuecore
from examples.tasks import tasks
from queuecore import Blueprint, Queue, Status
from queuecore._time import seconds

BY_NAME = {task.name: task for task in tasks}


def test_a_slow_job_the_model_accepts_fits_in_the_tasks_lifetime() -> None:
    """The model bounds the parameters: data it accepts must be a job the task can finish.
    A plan longer than the lifetime would be interrupted on every attempt, forever."""
    slow = BY_NAME["slow"]
    assert slow.problem({"steps": 200, "pause": 10}) is not None
    assert slow.problem({"steps": 150, "pause": 0.2}) is None  # 30 s: the longest anything enqueues
    longest = 0.0
    for steps in (1, 8, 50, 100, 200):
        for pause in (0, 0.2, 0.5, 1, 5, 10):
            if slow.problem({"steps": steps, "pause": pause}) is None:
                longest = max(longest, steps * pause)
    assert 30 <= longest < seconds(slow.lifetime)


async def test_every_example_task_ends_as_its_docstring_says(quick_target: StoreTarget) -> None:
    store = await queuecore.connect(quick_target.uri, collection=quick_target.collection)
    queue = Queue(store, reporter=lambda exc: None)
    for task in tasks:
        queue.add(task)
    expected = {
        "quick": Status.COMPLETED,
        "slow": Status.COMPLETED,
        "flaky": Status.COMPLETED,
        "doomed": Status.CANCELLED,
        "reject": Status.CANCELLED,
        "mail-ok": Status.COMPLETED,
        "mail-invalid": Status.CANCELLED,
        "mail-bad-data": Status.CANCELLED,
    }
    blueprints = {
        "quick": Blueprint("quick", data={"n": 1}),
        "slow": Blueprint("slow", data={"steps": 2, "pause": 0}),
        "flaky": Blueprint("flaky", data={"failure_rate": 0}),
        "doomed": Blueprint("doomed"),
        "reject": Blueprint("reject"),
        "mail-ok": Blueprint("send-mail", data={"to": "ada@example.com"}),
        "mail-invalid": Blueprint("send-mail", data={"to": "bob@invalid"}),
        "mail-bad-data": Blueprint("send-mail", data={"to": "not an address"}),
    }
    try:
        async with queue:
            ids = {}
            for key, blueprint in blueprints.items():
                job = await queue.enqueue(blueprint)
                assert job is not None
                ids[key] = job.id
            finished = {Status.COMPLETED, Status.CANCELLED}
            await wait_all(store, list(ids.values()), lambda j: j.status in finished, timeout=60)
            [tick] = await store.find(name="tick")  # enqueued by the queue itself at start
            await wait_all(store, [tick.id], lambda j: j.status == Status.COMPLETED)
        jobs = {key: await store.get(id) for key, id in ids.items()}
        assert {key: job.status for key, job in jobs.items() if job} == expected
        assert jobs["quick"].result == {"echo": {"n": 1}}
        assert jobs["slow"].result == {"steps": 2} and jobs["slow"].progress == 1
        assert jobs["doomed"].attempts == 3 and "disk on fire (attempt 3)" in jobs["doomed"].reason
        assert jobs["reject"].attempts == 1 and jobs["reject"].reason.startswith("rejected")
        assert jobs["mail-ok"].result == {"sent": "ada@example.com"}
        assert jobs["mail-invalid"].reason == "bad address bob@invalid"
        assert jobs["mail-bad-data"].reason.startswith("invalid data for task 'send-mail': to:")
    finally:
        await store.close()
