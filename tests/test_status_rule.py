"""One status rule: ``derived_status`` and every translation of it agree, on both engines.

A job's shown status (enqueued, running, stalled, completed, failed, cancelled) is
:func:`queuecore.derived_status`; ``Query.matches("status:X")``, the store's ``status`` filter
and ``counts()`` (exact and capped) must give the same jobs for each status, including a
malformed dequeued job whose time cannot be read (it never stalls: running).
"""

from __future__ import annotations

from datetime import timedelta

from bson import ObjectId
from support.cli import Cli, in_store
from support.engines import insert_raw

import queuecore
from queuecore import Job, Query, derived_status
from queuecore._time import utcnow
from queuecore.status import SHOWN_STATUSES

#: (stored status, available_at relative to now, what the rule shows)
STATES = [
    ("enqueued", timedelta(hours=-1), "enqueued"),
    ("dequeued", timedelta(hours=1), "running"),
    ("dequeued", timedelta(hours=-1), "stalled"),
    ("completed", timedelta(hours=-1), "completed"),
    ("failed", timedelta(hours=1), "failed"),
    ("cancelled", timedelta(hours=-1), "cancelled"),
]


async def _fill(store: queuecore.Store) -> dict[ObjectId, str]:
    now = utcnow()
    expected: dict[ObjectId, str] = {}
    for status, offset, shown in STATES:
        for _ in range(2):
            id = ObjectId()
            doc = {"_id": id, "name": "t", "label": "", "data": {}, "status": status}
            await insert_raw(store, {**doc, "created_at": now, "available_at": now + offset, "attempts": 1})
            expected[id] = shown
    # another program's dequeued job with an unreadable time: no worker can claim it, it never stalls
    id = ObjectId()
    doc = {"_id": id, "name": "t", "label": "", "data": {}, "status": "dequeued", "created_at": now}
    await insert_raw(store, {**doc, "available_at": "soon", "attempts": 1})
    expected[id] = "running"
    return expected


async def test_every_translation_agrees_with_derived_status(store: queuecore.Store) -> None:
    expected = await _fill(store)
    jobs = {id: await store.get(id) for id in expected}
    now = utcnow()
    assert {id: derived_status(job, now) for id, job in jobs.items() if job} == expected
    counts, capped = await store.counts(), await store.counts(cap=3)
    for value in (*SHOWN_STATUSES, "dequeued"):
        want = {
            id
            for id, shown in expected.items()
            if shown == value or (value == "dequeued" and shown in ("running", "stalled"))
        }
        matched = {id for id, job in jobs.items() if job and Query.parse(f"status:{value}").matches(job, now)}
        assert matched == want, value
        assert {j.id for j in await store.find(status=value)} == want, value
        assert {j.id for j in await store.find(query=Query.parse(f"status:{value}"))} == want, value
        assert await store.count(Query.parse(f"status:{value}")) == len(want), value
        assert counts[value] == len(want), value
        assert capped[value] == min(len(want), 3), value


def test_derived_status_of_each_state() -> None:
    now = utcnow()
    for status, offset, shown in STATES:
        job = Job.model_validate(
            {
                "_id": ObjectId(),
                "name": "t",
                "status": status,
                "created_at": now,
                "available_at": now + offset,
            }
        )
        assert derived_status(job, now) == shown
        assert queuecore.display_status(job, now) == ("dequeued" if shown == "running" else shown)
    timed_out = Job.model_validate(
        {"_id": ObjectId(), "name": "t", "status": "dequeued", "created_at": now, "available_at": now}
    )
    assert derived_status(timed_out, now) == "stalled"  # the timeout reached: stalled


def test_cli_ls_shows_the_derived_status(cli: Cli) -> None:
    """``jobtui ls --status stalled`` lists a stalled job as ``stalled`` (it said ``running``)."""
    now = utcnow()
    ids = {"stalled": ObjectId(), "running": ObjectId()}

    async def fill(store: queuecore.Store) -> None:
        for shown, offset in (("stalled", timedelta(hours=-1)), ("running", timedelta(hours=1))):
            doc = {"_id": ids[shown], "name": "job", "label": "", "data": {}, "status": "dequeued"}
            await insert_raw(store, {**doc, "created_at": now, "available_at": now + offset, "attempts": 1})

    in_store(cli.target, fill)
    stalled = [
        line
        for line in cli.ok("ls", "--status", "stalled").stdout.splitlines()
        if str(ids["stalled"]) in line
    ]
    assert len(stalled) == 1 and "stalled" in stalled[0].split() and "running" not in stalled[0], stalled
    for line in cli.ok("ls").stdout.splitlines():
        for shown, id in ids.items():
            if str(id) in line:
                assert shown in line.split(), line
    assert f"{ids['stalled']}" in cli.ok("show", str(ids["stalled"])).stdout
    assert "stalled" in cli.ok("show", str(ids["stalled"])).stdout
