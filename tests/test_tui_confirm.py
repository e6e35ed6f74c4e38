"""The questions and forms of the dashboard, on real stores (SQLite and the MongoDB test server).

``C``/``R`` on a large store: the dialog opens at once and counts ("counting…") while the
keys typed meanwhile go to it (never to the jobs screen); a destructive question is never
put over another dialog; above 1,000 jobs the count must be typed; every bulk action takes
an optional reason. The marks (``space`` moves down, ``V``/``shift+space`` mark a range)
and the enqueue form's data box (a placeholder, not text typed in front of).

The count is made slow deterministically: the store's ``find`` of the bulk collection (pages
of 1,000; the dashboard's window reads pages of 200) waits for an event the test sets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.targets import StoreTarget
from support.tui import bulk_question, cell, enqueue, fail, notes, started, table, wait_for, wait_store
from textual.widgets import Button, Input, Static, TextArea

import queuecore
from jobtui import bulk
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import BulkConfirmScreen, EnqueueScreen
from jobtui.tui.widgets import FilterBar
from queuecore import Blueprint, Status
from queuecore.audit import history

#: Jobs in the large store: 30,000 on SQLite. The MongoDB test server writes some 20 jobs a
#: second under a watching dashboard, so there the store holds 60 and the typed-confirmation
#: threshold is lowered to 50 (the same code path as above 1,000).
#: (jobs, the typed-confirmation threshold): the real one on a fast engine, a lowered one on
#: the MongoDB emulator (too slow to fill with 30,000 jobs).
LARGE = {True: (30_000, None), False: (60, 50)}


def make_app(target: StoreTarget) -> JobTUI:
    return JobTUI(target.uri, collection=target.collection)


def bar(app: JobTUI) -> str:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#filters", FilterBar).plain()


class SlowCount(asyncio.Event):
    """Set: the held collection goes on; ``error``: it fails with that instead."""

    error: Exception | None = None


def slow_count(monkeypatch: pytest.MonkeyPatch, store: queuecore.Store) -> SlowCount:
    """Hold every ``find`` of 1,000 jobs or more (a bulk action's collection) until the event is set."""
    gate = SlowCount()
    cls = type(store)
    real = cls.find

    async def find(self: Any, *args: Any, **kw: Any) -> list[queuecore.Job]:
        limit = kw.get("limit", args[3] if len(args) > 3 else 100)
        if limit >= 1000:
            await gate.wait()
            if gate.error is not None:
                raise gate.error
        return await real(self, *args, **kw)

    monkeypatch.setattr(cls, "find", find)
    return gate


async def count(store: queuecore.Store, status: Status) -> int:
    return await store.count(queuecore.parse(f"status:{status.value}"))


async def test_bulk_cancel_on_a_large_store_counts_in_its_dialog_and_needs_the_count_typed(
    target: StoreTarget, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    n, threshold = LARGE[target.support.fast]
    if threshold is not None:
        monkeypatch.setattr(bulk, "TYPE_TO_CONFIRM", threshold)
    await queuecore.enqueue_many(store, [Blueprint("mail", data={"i": i}) for i in range(n)])
    gate = slow_count(monkeypatch, store)
    app = make_app(target)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot)
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen))
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmScreen)
        assert "counting…" in dialog.question
        # keys typed while it counts go to the dialog and are swallowed there
        await pilot.press("n", "y", "space", "slash", "enter")
        await pilot.pause()
        assert app.screen is dialog and len(app.screen_stack) == 2
        assert not any(isinstance(s, EnqueueScreen) for s in app.screen_stack)
        assert "counting…" in dialog.question and "marked" not in bar(app)
        assert await count(store, Status.CANCELLED) == 0

        gate.set()
        await bulk_question(pilot)
        assert f"Cancel all {n} jobs matching" in dialog.question
        typed = dialog.query_one("#bulk-typed", Input)
        await wait_for(pilot, lambda: dialog.focused is typed)
        assert dialog.query_one("#confirm-yes", Button).disabled
        # "y" is not enough, nor enter without the count, nor a wrong count
        await pilot.press("y", "enter")
        await pilot.pause()
        assert app.screen is dialog
        assert f"Type {n}" in str(dialog.query_one("#bulk-problem", Static).content)
        await pilot.press("tab", *"disk", "space", *"full", "shift+tab", *str(n - 1), "enter")
        await pilot.pause()
        assert app.screen is dialog and dialog.query_one("#confirm-yes", Button).disabled
        assert await count(store, Status.CANCELLED) == 0
        # the count typed: every one of them is cancelled, with the reason given
        await pilot.press(*["backspace"] * len(str(n)), *str(n), "enter")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        await wait_store(pilot, lambda: _is(count(store, Status.CANCELLED), n), timeout=60)
        await wait_for(pilot, lambda: any(f"Cancelled {n} of {n} jobs" in m for m in notes(app)), timeout=30)
        sample = await store.find(status="cancelled", limit=3)
        assert [j.reason for j in sample] == ["disk full"] * 3
        entry = (await history(store))[0]
        assert entry.action == "cancel" and "reason: disk full" in entry.detail


async def _is(awaitable: Any, expected: object) -> bool:
    return (await awaitable) == expected


async def test_a_bulk_question_is_never_put_over_another_dialog_and_escape_stops_its_count(
    target: StoreTarget, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        await enqueue(store, "mail")
    gate = slow_count(monkeypatch, store)
    app = make_app(target)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, rows=3)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        app.request_bulk("cancel")  # as a late answer or a command would: refused, with a notice
        await wait_for(pilot, lambda: any("Close the open dialog first" in m for m in notes(app)))
        assert isinstance(app.screen, EnqueueScreen) and len(app.screen_stack) == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        # escape while counting gives up: nothing is asked
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, BulkConfirmScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        # from the command palette (which closes first) the question is asked
        gate.set()
        await pilot.press("ctrl+p", *"Cancel the marked")
        await pilot.pause(0.3)
        await pilot.press("enter")
        dialog = await bulk_question(pilot)
        assert "Cancel all 3 jobs" in dialog.question and len(app.screen_stack) == 2
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        # a count that fails closes the dialog and says why
        gate.error = RuntimeError("disk I/O error")
        await pilot.press("C")
        failed = "Counting the jobs failed: disk I/O error"
        await wait_for(pilot, lambda: any(failed in m for m in notes(app)))
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        assert await count(store, Status.CANCELLED) == 0


@pytest.mark.parametrize("key", ["C", "R"])
async def test_a_bulk_action_takes_an_optional_reason_for_the_jobs_and_the_audit_log(
    target: StoreTarget, store, key: str
) -> None:
    jobs = [await enqueue(store, "mail") for _ in range(3)]
    if key == "R":
        jobs = [await fail(store, job) for job in jobs]
    app = make_app(target)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, rows=3)
        await pilot.press(key)
        dialog = await bulk_question(pilot)
        # the reason field: its "y" is typed, not an answer
        await pilot.press("tab", *"yes,", "space", *"the", "space", *"disk")
        await pilot.pause()
        assert app.screen is dialog
        assert dialog.query_one("#bulk-reason", Input).value == "yes, the disk"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        want = Status.CANCELLED if key == "C" else Status.ENQUEUED
        await wait_store(pilot, lambda: _is(count(store, want), 3))
        for job in jobs:
            got = await store.get(job.id)
            assert got is not None and got.events
            assert got.events[-1].reason == "yes, the disk"
            if key == "C":
                assert got.reason == "yes, the disk"
        await wait_for(pilot, lambda: any(m.startswith(("Cancelled 3", "Re-enqueued 3")) for m in notes(app)))
        entry = (await history(store))[0]
        assert entry.source == "tui" and "reason: yes, the disk" in entry.detail


async def test_space_marks_and_moves_down_and_V_marks_from_the_last_mark(target: StoreTarget, store) -> None:
    jobs = [await enqueue(store, "mail") for _ in range(6)]
    rows = jobs[::-1]  # newest first
    app = make_app(target)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, rows=6)
        await pilot.press("g", "space")
        await wait_for(pilot, lambda: "1 marked" in bar(app))
        assert table(app).cursor_row == 1  # moved down, as in k9s
        await pilot.press("down", "down", "V")  # rows 0 (the last mark) to 3
        await wait_for(pilot, lambda: "4 marked" in bar(app))
        assert [cell(app, j, "mark") for j in rows] == ["●"] * 4 + [""] * 2
        await pilot.press("down", "down", "shift+space")  # from row 3, marked last, to row 5
        await wait_for(pilot, lambda: "6 marked" in bar(app))
        assert [cell(app, j, "mark") for j in rows] == ["●"] * 6
        # space on a marked row unmarks it (and moves down); a range then starts at the cursor
        await pilot.press("g", "space")
        await wait_for(pilot, lambda: "5 marked" in bar(app))
        await pilot.press("u", "V")
        await wait_for(pilot, lambda: "1 marked" in bar(app))
        assert [cell(app, j, "mark") for j in rows] == ["", "●", "", "", "", ""]


async def test_the_enqueue_forms_data_box_is_empty_with_a_placeholder(target: StoreTarget, store) -> None:
    app = make_app(target)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, rows=0)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        form = app.screen
        data = form.query_one("#enqueue-data", TextArea)
        assert data.text == "" and str(data.placeholder) == "{}"
        assert form.query_one("#enqueue-delay", Input).value == ""
        await pilot.press(*"mail")
        data.focus()
        await pilot.press(*'{"to":1}')  # what is typed is the data, not typed in front of a "{}"
        await wait_for(
            pilot, lambda: "valid JSON object" in str(form.query_one("#enqueue-data-status").content)
        )
        assert data.text == '{"to":1}'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)

        async def inserted() -> bool:
            found = await store.find(name="mail")
            return [j.data for j in found] == [{"to": 1}]

        await wait_store(pilot, inserted)
