"""Operator safety and scale in the dashboard, against real stores (SQLite and the MongoDB test server).

Marks and bulk actions (with the confirmation-time cut-off), read-only hiding, the
audit log screen, the pause key, stalled jobs, the filter language, the ``:`` command
line, saved filters, capped counts and the retention in the header.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.spies import spy
from support.targets import StoreTarget
from support.tui import (
    bulk_question,
    cell,
    complete,
    enqueue,
    fail,
    notes,
    started,
    static_text,
    table,
    wait_for,
    wait_store,
)
from textual.widgets import DataTable, Static

import queuecore
from jobtui.config import UserConfig, load_config
from jobtui.live import LiveModel
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import READ_ONLY_HIDDEN, AuditScreen, HelpScreen
from jobtui.tui.widgets import FilterBar, SummaryBar
from queuecore import Status
from queuecore.audit import history, record
from queuecore.store.changes import Changes, Guard


def make_app(target: StoreTarget, **kw: object) -> JobTUI:
    return JobTUI(target.uri, collection=target.collection, **kw)  # type: ignore[arg-type]


def bar(app: JobTUI) -> FilterBar:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#filters", FilterBar)


def summary(app: JobTUI) -> str:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#summary", SummaryBar).plain()


async def statuses(store: queuecore.Store, jobs: list[queuecore.Job]) -> list[Status]:
    found = [await store.get(j.id) for j in jobs]
    return [j.status for j in found if j is not None]


# -- marks and bulk actions ---------------------------------------------------------


async def test_marks_survive_updates_and_bulk_cancel_acts_on_them(target: StoreTarget, store) -> None:
    jobs = [await enqueue(store, "mail") for _ in range(4)]  # shown newest first: 3, 2, 1, 0
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=4)
        await pilot.press("space", "down", "space")  # marks jobs[3] and jobs[1] (space moves down)
        await wait_for(pilot, lambda: "2 marked" in bar(app).plain())
        assert cell(app, jobs[3], "mark") == "●" and cell(app, jobs[1], "mark") == "●"
        assert cell(app, jobs[2], "mark") == ""
        # live updates and new rows keep the marks (and the cursor on its job)
        await fail(store, jobs[1], "smtp down")
        newer = await enqueue(store, "mail")
        await wait_for(pilot, lambda: cell(app, jobs[1], "status") == "failed" and table(app).row_count == 5)
        assert cell(app, jobs[1], "mark") == "●" and cell(app, jobs[3], "mark") == "●"
        assert cell(app, newer, "mark") == ""
        # unmarking the row under the cursor
        table(app).move_cursor(row=table(app).keys().index(str(jobs[1].id)))
        await pilot.press("space")
        await wait_for(pilot, lambda: "1 marked" in bar(app).plain())
        table(app).move_cursor(row=table(app).keys().index(str(jobs[1].id)))
        await pilot.press("space")
        await wait_for(pilot, lambda: "2 marked" in bar(app).plain())
        # the bulk cancel names exactly the marked jobs
        await pilot.press("C")
        dialog = await bulk_question(pilot)
        assert "Cancel all 2 jobs marked" in dialog.question
        assert "1 enqueued" in dialog.question and "1 failed" in dialog.question
        await pilot.press("y")
        await wait_store(
            pilot,
            lambda: _eq(
                statuses(store, [*jobs, newer]),
                [Status.ENQUEUED, Status.CANCELLED, Status.ENQUEUED, Status.CANCELLED, Status.ENQUEUED],
            ),
        )
        await wait_for(pilot, lambda: "marked" not in bar(app).plain())  # acted-on marks are cleared
        await wait_for(pilot, lambda: any("Cancelled 2 of 2 jobs" in n for n in notes(app)))
        entries = await history(store)
        assert entries[0].action == "cancel" and entries[0].source == "tui"
        assert sorted(entries[0].ids) == sorted([str(jobs[1].id), str(jobs[3].id)])
        # u clears every mark
        await pilot.press("g", "space", "space")
        await wait_for(pilot, lambda: "2 marked" in bar(app).plain())
        await pilot.press("u")
        await wait_for(pilot, lambda: "marked" not in bar(app).plain())
        assert all(cell(app, j, "mark") == "" for j in [*jobs, newer])


async def _eq(awaitable, expected) -> bool:  # type: ignore[no-untyped-def]
    return (await awaitable) == expected


async def test_filter_wide_bulk_cancel_never_touches_jobs_that_arrive_after_the_question(
    target: StoreTarget, store
) -> None:
    batch = [await enqueue(store, "batch") for _ in range(3)]
    other = await enqueue(store, "other")
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=4)
        await pilot.press("slash", *"name:batch", "enter")
        await wait_for(pilot, lambda: table(app).row_count == 3)
        await pilot.press("C")
        assert "Cancel all 3 jobs matching" in (await bulk_question(pilot)).question
        # a matching job arrives while the question is open
        late = await enqueue(store, "batch")
        await wait_for(pilot, lambda: str(late.id) in table(app).keys())
        await pilot.press("y")
        await wait_store(pilot, lambda: _eq(statuses(store, batch), [Status.CANCELLED] * 3))
        await wait_for(pilot, lambda: any("Cancelled 3 of 3 jobs" in n for n in notes(app)))
        assert (await store.get(late.id)).status is Status.ENQUEUED  # type: ignore[union-attr]
        assert (await store.get(other.id)).status is Status.ENQUEUED  # type: ignore[union-attr]
        entry = (await history(store))[0]
        assert entry.source == "tui" and sorted(entry.ids) == sorted(str(j.id) for j in batch)
        assert "name:batch" in entry.detail


async def test_bulk_requeue_of_marked_jobs_and_of_a_status_filter(target: StoreTarget, store) -> None:
    done = await complete(store, await enqueue(store, "a"))
    dropped = [await enqueue(store, "a") for _ in range(2)]
    for job in dropped:
        await queuecore.cancel_job(store, job.id)
    waiting = await enqueue(store, "a")
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=4)
        # no failed job and no status chosen: nothing to re-enqueue
        await pilot.press("R")
        await wait_for(pilot, lambda: any("No failed job matches" in n for n in notes(app)))
        # key 5 shows the cancelled jobs: R re-enqueues exactly those
        await pilot.press("5")
        await wait_for(pilot, lambda: table(app).row_count == 2)
        await pilot.press("R")
        assert "Re-enqueue all 2 cancelled jobs" in (await bulk_question(pilot)).question
        await pilot.press("y")
        await wait_store(pilot, lambda: _eq(statuses(store, dropped), [Status.ENQUEUED] * 2))
        # marks win over the filter: the completed job and the waiting one are marked
        await pilot.press("0")
        await wait_for(pilot, lambda: table(app).row_count == 4)
        for job in (done, waiting):
            index = table(app).keys().index(str(job.id))
            table(app).move_cursor(row=index)
            await pilot.press("space")
        await wait_for(pilot, lambda: "2 marked" in bar(app).plain())
        await pilot.press("R")
        question = (await bulk_question(pilot)).question
        assert "Re-enqueue all 1 completed job marked" in question
        assert "1 marked job cannot be re-enqueued" in question
        await pilot.press("y")
        await wait_store(pilot, lambda: _eq(statuses(store, [done]), [Status.ENQUEUED]))
        entry = (await history(store))[0]
        assert entry.action == "requeue" and entry.ids == [str(done.id)]


# -- read-only ------------------------------------------------------------------------


async def test_read_only_hides_every_mutating_key_form_and_command(target: StoreTarget, store) -> None:
    job = await enqueue(store)
    app = make_app(target, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, rows=1)
        assert app.sub_title.startswith("READ-ONLY")
        for key in ("c", "r", "n", "R", "C", "space", "u"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.jobs_screen, key
        assert "marked" not in bar(app).plain()
        assert (await store.get(job.id)).status is Status.ENQUEUED  # type: ignore[union-attr]
        # the footer holds no mutating binding
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert not {a.split("(")[0].removeprefix("app.") for a in shown} & READ_ONLY_HIDDEN
        # nor does the help
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_text = static_text(app.screen.query_one("#help-keys", Static), width=120)
        described = {
            re.split(r"\s{2,}", line.strip())[1:2][0]
            for line in help_text.splitlines()
            if "  " in line.strip()
        }
        for description in ("Cancel", "Requeue", "New", "Mark", "Unmark all", "Cancel marked/filter"):
            assert description not in described, description
        assert "Audit log" in help_text and "Pause view" in help_text
        await pilot.press("escape")
        # nor the command palette
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in titles:
            assert not title.startswith(("Enqueue", "Cancel", "Re-enqueue", "Mark", "Unmark")), title
        assert "Audit log" in titles
        # reading still works: the audit log opens
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))


# -- the audit log ------------------------------------------------------------------------


async def test_audit_screen_lists_who_did_what_to_how_many(target: StoreTarget, store) -> None:
    job = await enqueue(store, "resize")
    await record(store, "requeue", ["0" * 24, "1" * 24], source="cli", detail="from a script", who="ops@box")
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("c", "y")
        await wait_store(pilot, lambda: _eq(statuses(store, [job]), [Status.CANCELLED]))
        await wait_store(pilot, lambda: _len_is(history(store), 2))
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        grid = screen.query_one("#audit-table", DataTable)
        await wait_for(pilot, lambda: grid.row_count == 2)
        newest = [str(c) for c in grid.get_row_at(0)]
        assert newest[2:5] == ["tui", "cancel", "1"]
        assert "@" in newest[1]
        assert str(job.id) in screen.detail_plain()  # the ids in full, in the detail line
        await pilot.press("down")
        await wait_for(pilot, lambda: "ops@box" in screen.detail_plain())
        assert "2 ids: " + "0" * 24 + " " + "1" * 24 in screen.detail_plain()
        assert "from a script" in screen.detail_plain()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        # :audit opens it too
        await pilot.press("colon", *"audit", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))


async def _len_is(awaitable, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await awaitable) == n


# -- pause ------------------------------------------------------------------------------


async def test_pause_freezes_the_table_and_counts_changes(target: StoreTarget, store) -> None:
    first = await enqueue(store, "t")
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("p")
        await wait_for(pilot, lambda: "PAUSED · 0 changes pending" in bar(app).plain())
        added = [await enqueue(store, "t") for _ in range(2)]
        await complete(store, first)
        await wait_for(pilot, lambda: "PAUSED · 3 changes pending" in bar(app).plain())
        assert table(app).keys() == [str(first.id)]  # frozen
        assert cell(app, first, "status") == "enqueued"
        await pilot.press("p")
        await wait_for(pilot, lambda: table(app).row_count == 3)
        assert "PAUSED" not in bar(app).plain()
        assert table(app).keys() == [str(added[1].id), str(added[0].id), str(first.id)]
        assert cell(app, first, "status") == "completed"


# -- stalled ------------------------------------------------------------------------------


async def test_stalled_jobs_have_their_own_status_colour_count_and_key(target: StoreTarget, store) -> None:
    stalled = await enqueue(store, "hung")
    running = await enqueue(store, "busy")
    soon = await enqueue(store, "soon")
    assert await queuecore.dequeue(store, stalled.id, 0.001, worker="dead-worker") is not None
    assert await queuecore.dequeue(store, running.id, 600, worker="live-worker") is not None
    await store.update(
        running.id, Guard.status(Status.DEQUEUED), Changes(heartbeat=datetime.now(UTC) - timedelta(seconds=3))
    )
    app = make_app(target)
    async with app.run_test(size=(160, 36)) as pilot:
        await started(pilot, rows=3)
        await wait_for(pilot, lambda: cell(app, stalled, "status") == "stalled")
        assert cell(app, running, "status") == "running"
        assert cell(app, running, "beat").endswith("s")  # the last heartbeat's age
        stalled_style = str(table(app)._cells[str(stalled.id)]["status"].style)  # type: ignore[union-attr]
        running_style = str(table(app)._cells[str(running.id)]["status"].style)  # type: ignore[union-attr]
        assert stalled_style != running_style
        await wait_for(pilot, lambda: "running 1" in summary(app) and "stalled 1" in summary(app))
        await pilot.press("6")
        await wait_for(pilot, lambda: table(app).keys() == [str(stalled.id)])
        await pilot.press("6", "2")
        await wait_for(pilot, lambda: table(app).keys() == [str(running.id)])
        # a running job whose timeout passes turns stalled with no event at all
        assert await queuecore.dequeue(store, soon.id, 1.0, worker="slow-worker") is not None
        await wait_for(pilot, lambda: str(soon.id) in table(app).keys())
        await wait_for(pilot, lambda: str(soon.id) not in table(app).keys())  # no longer running
        await pilot.press("2", "6")
        await wait_for(pilot, lambda: set(table(app).keys()) == {str(stalled.id), str(soon.id)})
        await wait_for(pilot, lambda: "stalled 2" in summary(app))


# -- the filter language ----------------------------------------------------------------------


async def test_filter_language_server_side_live_and_malformed(target: StoreTarget, store) -> None:
    alice = await enqueue(store, "send_email", data={"user_id": 42}, label="welcome")
    bob = await enqueue(store, "send_email", data={"user_id": 7})
    report = await enqueue(store, "report", data={"user_id": 42})
    await fail(store, report, "upstream timeout")
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=3)

        async def apply(text: str) -> None:
            await pilot.press("slash", "ctrl+u", *text, "enter")

        await apply("name:send_email data.user_id=42")
        await wait_for(pilot, lambda: table(app).keys() == [str(alice.id)])
        assert "query: name:send_email data.user_id=42 " in bar(app).plain()
        # a live event is matched with the same query: 42 comes in, 7 does not
        new42 = await enqueue(store, "send_email", data={"user_id": 42})
        await enqueue(store, "send_email", data={"user_id": 7})
        await wait_for(pilot, lambda: table(app).keys() == [str(new42.id), str(alice.id)])
        await apply("!name:send_email")
        await wait_for(pilot, lambda: table(app).keys() == [str(report.id)])
        await apply("status:failed reason:~time(out)?")
        await wait_for(pilot, lambda: table(app).keys() == [str(report.id)])
        await apply("label:welcome age:<1h")
        await wait_for(pilot, lambda: table(app).keys() == [str(alice.id)])
        # a malformed filter: a message under the input, the input stays, the filter stays
        await pilot.press("slash", "ctrl+u", *"status:bogus", "enter")
        await wait_for(pilot, lambda: "unknown status 'bogus'" in bar(app).message)
        assert "at character" in bar(app).message
        assert bar(app).editing == "text"
        assert app.model is not None and app.model.filter.text == "label:welcome age:<1h"
        assert table(app).keys() == [str(alice.id)]
        await pilot.press("escape")
        await wait_for(pilot, lambda: bar(app).editing is None and bar(app).message == "")
        # pasting a full or a short id finds the job
        await apply(str(bob.id))
        await wait_for(pilot, lambda: table(app).keys() == [str(bob.id)])
        await apply(bob.short_id)
        await wait_for(pilot, lambda: table(app).keys() == [str(bob.id)])
        await apply("")
        await wait_for(pilot, lambda: table(app).row_count == 5)


# -- the command line and saved filters --------------------------------------------------------


async def test_command_line(target: StoreTarget, store) -> None:
    a = await enqueue(store, "a")
    b = await enqueue(store, "b")
    await fail(store, b)
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=2)

        async def command(text: str) -> None:
            await pilot.press("colon", "ctrl+u", *text, "enter")

        await command("status failed")
        await wait_for(pilot, lambda: table(app).keys() == [str(b.id)])
        await command("status all")
        await wait_for(pilot, lambda: table(app).row_count == 2)
        await command("name a")
        await wait_for(pilot, lambda: table(app).keys() == [str(a.id)])
        await command("clear")
        await wait_for(pilot, lambda: table(app).row_count == 2)
        await command("frobnicate")
        await wait_for(pilot, lambda: "unknown command 'frobnicate'" in bar(app).message)
        assert bar(app).editing == "command"
        await pilot.press("ctrl+u", *"status nope", "enter")
        await wait_for(pilot, lambda: "unknown status 'nope'" in bar(app).message)
        await pilot.press("ctrl+u", *"workers", "enter")
        await wait_for(pilot, lambda: "no workers run" in bar(app).message)
        await pilot.press("escape")
        await wait_for(pilot, lambda: bar(app).editing is None)
        await command("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_saved_filters_apply_and_save_into_the_config_file(
    target: StoreTarget, store, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '# my settings\n[filters]\nfailed_mail = "status:failed name:send-mail"  # the usual\n\n'
        '[keys]\nhelp = "f1,question_mark"\n',
        encoding="utf-8",
    )
    mail = await enqueue(store, "send-mail")
    await fail(store, mail)
    await enqueue(store, "send-mail")
    report = await enqueue(store, "report")
    app = make_app(target, config=load_config(path))
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=3)
        await pilot.press("colon", *"filter failed_mail", "enter")
        await wait_for(pilot, lambda: table(app).keys() == [str(mail.id)])
        await pilot.press("colon", *"filter nope", "enter")
        await wait_for(pilot, lambda: "no saved filter 'nope' (saved: failed_mail)" in bar(app).message)
        await pilot.press("escape")
        await pilot.press("slash", "ctrl+u", *"name:report", "enter")
        await wait_for(pilot, lambda: table(app).keys() == [str(report.id)])
        await pilot.press("1")
        await wait_for(pilot, lambda: app.model is not None and app.model.filter.statuses == {"enqueued"})
        await pilot.press("colon", *"save reports", "enter")
        await wait_for(pilot, lambda: "reports" in load_config(path).filters)
        saved = load_config(path)
        assert saved.problem is None
        assert saved.filters == {
            "failed_mail": "status:failed name:send-mail",
            "reports": "status:enqueued name:report",
        }
        assert saved.keys == {"help": "f1,question_mark"}
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# my settings\n") and "# the usual" in text
        # the saved filter is usable at once
        await pilot.press("x")
        await wait_for(pilot, lambda: table(app).row_count == 3)
        await pilot.press("colon", *"filter reports", "enter")
        await wait_for(pilot, lambda: table(app).keys() == [str(report.id)])


async def test_saving_into_a_bad_config_file_changes_nothing(
    target: StoreTarget, store, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[filters\nbroken = 1\n", encoding="utf-8")
    await enqueue(store, "x")
    app = make_app(target, config=UserConfig(path))
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("slash", *"name:x", "enter")
        await wait_for(pilot, lambda: app.model is not None and app.model.filter.text == "name:x")
        await pilot.press("colon", *"save mine", "enter")
        await wait_for(pilot, lambda: str(path) in bar(app).message and "line 1" in bar(app).message)
        assert path.read_text(encoding="utf-8") == "[filters\nbroken = 1\n"


# -- scale ------------------------------------------------------------------------------


async def test_capped_counts_show_a_plus_and_refresh_on_the_timer_only(target: StoreTarget, store) -> None:
    for _ in range(7):
        await enqueue(store, "bulk")
    app = make_app(target)
    app.count_cap = 5
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=7)
        await wait_for(pilot, lambda: "enqueued 5+" in summary(app))
        assert app.model is not None and app.model.large


async def test_counts_of_a_large_collection_are_read_on_the_timer_not_per_event(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = spy(monkeypatch, store, "counts")
    now = [0.0]
    model = LiveModel(store, counts_interval=1, clock=lambda: now[0])
    model.count_cap = 3
    for _ in range(5):
        await enqueue(store, "bulk")
    await model.reload()
    assert await model.refresh_counts(force=True)
    assert model.large and model.capped >= {"enqueued"}
    calls = len(counted)
    job = await enqueue(store, "bulk")
    await model.apply([queuecore.Change("insert", job.id, job)])
    now[0] = 100.0
    assert not await model.refresh_counts()  # a change event never reads the counts
    assert len(counted) == calls
    assert await model.refresh_counts(timer=True)  # the clock tick does
    now[0] = 101.0
    await model.apply([queuecore.Change("insert", job.id, job)])
    assert not await model.refresh_counts(timer=True)  # at most every LARGE_COUNTS_INTERVAL
    assert len(counted) == calls + 1


async def test_header_shows_the_retention(target: StoreTarget, store) -> None:
    await queuecore.ensure_indexes(store, remove_after=timedelta(days=7))
    app = make_app(target)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: "keeps finished 7d" in app.sub_title)
