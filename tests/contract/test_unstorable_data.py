"""Job data and results that one engine cannot store are refused on every engine, with one
message (issue 11, review): a key that is not a string (``json.dumps`` quietly makes ``"1"``
of ``1``, SQLite stored that, MongoDB raised ``InvalidDocument``), a key holding NUL (MongoDB
raised ``InvalidDocument`` out of the web endpoint: a 500), a key or string holding a lone
surrogate (SQLite stored it, and then ``show``, ``ls --json`` and the dashboard crashed on
it). Keys starting with ``$`` or holding ``.``, the empty key and NUL in a value are valid
JSON that both engines store as given: kept.

Each way in is checked: ``enqueue``/``enqueue_many``, the web endpoint (400), the enqueue
form (its message, nothing submitted; ``jobtui enqueue`` is in test_bad_input.py), and a
handler's result (the attempt fails with the message, the worker goes on) or ``complete``.
Reasons and notes holding a lone surrogate are stored with it escaped, so the job ends.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from support.targets import StoreTarget
from support.tui import started, wait_for
from support.waits import wait_all
from test_poison import exchange

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import EnqueueScreen
from queuecore import Blueprint, Context, MalformedJob, Queue, Status, Store, Task
from queuecore.web import endpoint

#: Data no engine stores as given, and the message (after "job data is not JSON-compatible: ").
REFUSED: dict[str, tuple[dict[Any, Any], str]] = {
    "lone surrogate": (
        {"s": "\ud800 via api"},
        "a string '\\ud800 via api' holds the lone surrogate \\ud800",
    ),
    "low surrogate in a list": (
        {"a": [1, "x\udfff"]},
        "a string 'x\\udfff' holds the lone surrogate \\udfff",
    ),
    "surrogate in a key": ({"k\udc00": 1}, "the key 'k\\udc00' holds the lone surrogate \\udc00"),
    "int key": ({1: 2}, "the key 1 (an int) is not a string"),
    "nested None key": ({"a": {None: 1}}, "the key None (a NoneType) is not a string"),
    "tuple key": ({"a": [{(1, 2): 1}]}, "a key (a tuple) is not a string"),
    "NUL in a key": (
        {"a": {"a\x00b": 1}},
        "the key 'a\\x00b' holds NUL (\\u0000), which MongoDB cannot store",
    ),
}

#: Legitimate JSON that both engines store as given.
KEPT = {
    "$where": "sleep(1)",
    "a": {"$set": {"b.c": 1}, "": 0},
    "nul": "a\x00b",
    "astral": "\U0001f600 and é",
}


@pytest.mark.parametrize("case", REFUSED)
async def test_enqueue_refuses_data_an_engine_cannot_store_alike(store: Store, case: str) -> None:
    data, problem = REFUSED[case]
    message = f"job data is not JSON-compatible: {problem}"
    with pytest.raises(ValueError, match=r"^job data is not JSON-compatible: ") as refused:
        await queuecore.enqueue(store, Blueprint("x", data=data))
    assert message in str(refused.value) and str(refused.value).isprintable()
    batch = [Blueprint("x", data={"n": n}) for n in range(3)] + [Blueprint("x", data=data)]
    with pytest.raises(ValueError, match=r"^job data is not JSON-compatible: "):
        await queuecore.enqueue_many(store, batch)
    assert await store.count() == 0


@pytest.mark.parametrize("field", ["name", "label"])
async def test_a_name_or_label_no_engine_can_store_is_one_clear_message(store: Store, field: str) -> None:
    # an undecodable byte in a command-line argument arrives as a lone surrogate (surrogateescape)
    kw = {"name": "mail\udcff"} if field == "name" else {"name": "mail", "label": "ada\udcff"}
    what = "the job name" if field == "name" else "the label"
    with pytest.raises(ValueError, match=rf"^{what} 'mail\\udcff'|^{what} 'ada\\udcff'") as refused:
        await queuecore.enqueue(store, Blueprint(**kw))
    assert "lone surrogate" in str(refused.value) and str(refused.value).isprintable()
    with pytest.raises(ValueError, match="lone surrogate"):
        await queuecore.enqueue_many(store, [Blueprint("fine"), Blueprint(**kw)])
    assert await store.count() == 0


async def test_keys_with_dollar_or_dot_and_nul_in_values_are_kept_on_every_engine(store: Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("x", data=KEPT))
    assert job is not None
    stored = await store.get(job.id)
    assert stored is not None and stored.malformed is None and stored.data == KEPT


async def test_the_web_endpoint_answers_400_for_such_data_on_every_engine(store: Store) -> None:
    app = endpoint(store, lambda request: Blueprint("hook", data=request.json()))
    for body, problem in (
        (b'{"a\\u0000b": 1}', "the key 'a\\x00b' holds NUL"),
        (b'{"s": "\\ud800"}', "holds the lone surrogate \\ud800"),
        (b'{"\\udbff": {"x": 1}}', "the key '\\udbff' holds the lone surrogate \\udbff"),
    ):
        status, answer = await exchange(app, body)
        assert status == 400, (body, answer)
        assert answer["error"].startswith("job data is not JSON-compatible: ") and problem in answer["error"]
    assert await store.count() == 0
    assert await exchange(app, b'{"$x": {"a.b": "\\u00e9\\ud83d\\ude00"}}') == (200, {})  # a real pair
    [job] = await store.find()
    assert job.data == {"$x": {"a.b": "é\U0001f600"}}


async def test_the_enqueue_form_shows_why_and_does_not_submit(target: StoreTarget, store: Store) -> None:
    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        form = app.screen
        form.query_one("#enqueue-name").value = "typed"
        status = form.query_one("#enqueue-data-status")
        for text, problem in (
            ('{"s": "\\ud800"}', "holds the lone surrogate \\ud800"),
            ('{"a\\u0000b": 1}', "holds NUL (\\u0000)"),
        ):
            form.query_one("#enqueue-data").text = text
            await wait_for(pilot, lambda problem=problem: problem in str(status.content))
            assert "job data is not JSON-compatible" in str(status.content)
            assert form.query_one("#enqueue-ok").disabled
            await pilot.press("ctrl+s")
            assert app.screen is form  # not submitted
    assert await store.count() == 0


#: Results a handler may leave that no engine stores alike, and what the reason then says.
BAD_RESULTS = [
    ({"r": "\ud800"}, "holds the lone surrogate \\ud800"),
    ({"r": {1: "one"}}, "the key 1 (an int) is not a string"),
    ({"a\x00b": 1}, "holds NUL (\\u0000)"),
]


async def test_a_handler_result_no_engine_stores_fails_the_attempt_and_the_worker_goes_on(
    store: Store,
) -> None:
    async def handler(ctx: Context) -> None:
        ctx.result = BAD_RESULTS[ctx.job.data["n"]][0] if "n" in ctx.job.data else {"fine": True}

    reports: list[BaseException] = []
    queue = Queue(store, reporter=reports.append)
    queue.add(Task("odd-result", handler, max_attempts=1, workers=1))
    async with queue:
        bad = [await queuecore.enqueue(store, Blueprint("odd-result", data={"n": n})) for n in range(3)]
        good = await queuecore.enqueue(store, Blueprint("odd-result"))
        ids = [j.id for j in bad if j is not None]
        assert good is not None and len(ids) == 3
        done = await wait_all(store, [*ids, good.id], lambda j: j.status in queuecore.FINISHED)
        assert queue.ready
    for job, (_, problem) in zip(done[:3], BAD_RESULTS, strict=True):
        assert job.status is Status.CANCELLED and job.result is None and job.malformed is None
        assert job.reason.startswith("the handler's result is not JSON-compatible: "), job.reason
        assert problem in job.reason and job.reason.isprintable()
    assert done[3].status is Status.COMPLETED and done[3].result == {"fine": True}
    assert len(reports) == 3 and all(isinstance(r, ValueError) for r in reports), reports
    assert not [r for r in reports if isinstance(r, MalformedJob)]
    # through the API: refused before anything is written
    other = await queuecore.enqueue(store, Blueprint("x"))
    assert other is not None and await queuecore.dequeue(store, other.id, 60) is not None
    for result, problem in BAD_RESULTS:
        with pytest.raises(ValueError, match=r"^a job's result is not JSON-compatible: ") as refused:
            await queuecore.complete(store, other.id, result)
        assert problem in str(refused.value)
    still = await store.get(other.id)
    assert still is not None and still.status is Status.DEQUEUED and still.result is None


async def test_a_reason_or_note_holding_a_lone_surrogate_is_stored_escaped_and_the_job_ends(
    store: Store,
) -> None:
    """A message is not data: an exception quoting a file name ``os.fsdecode`` made (bytes that
    are not UTF-8 become lone surrogates) used to leave its job dequeued, since no engine could
    store the reason. Reasons and notes keep each lone surrogate as ``\\udXXX`` text."""
    name = os.fsdecode(b"report-\xff.csv")
    assert name == "report-\udcff.csv"

    async def handler(ctx: Context) -> None:
        await ctx.update(note=f"reading {name}")
        if ctx.job.data.get("error"):
            raise queuecore.Error(f"skipped {name}")
        raise FileNotFoundError(2, "No such file or directory", name)

    reports: list[BaseException] = []
    queue = Queue(store, reporter=reports.append)
    queue.add(Task("files", handler, max_attempts=1, workers=1))
    async with queue:
        jobs = [await queuecore.enqueue(store, Blueprint("files", data=d)) for d in ({}, {"error": True})]
        ids = [j.id for j in jobs if j is not None]
        done = await wait_all(store, ids, lambda j: j.status in queuecore.FINISHED)
        assert queue.ready
    assert [j.status for j in done] == [Status.CANCELLED, Status.CANCELLED]
    assert done[0].reason == "[Errno 2] No such file or directory: 'report-\\udcff.csv'"
    assert done[1].reason == "skipped report-\\udcff.csv"
    assert all(j.note == "reading report-\\udcff.csv" for j in done)
    assert [type(r) for r in reports] == [FileNotFoundError], reports
    # an operator's reason too
    waiting = await queuecore.enqueue(store, Blueprint("elsewhere"))
    assert waiting is not None
    cancelled = await queuecore.cancel_job(store, waiting.id, f"gone: {name}")
    assert cancelled.reason == "gone: report-\\udcff.csv"
    requeued = await queuecore.requeue(store, waiting.id, reason=f"back: {name}")
    assert requeued.events[-1].reason == "back: report-\\udcff.csv"
