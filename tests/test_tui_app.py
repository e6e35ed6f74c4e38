"""Pilot tests of the jobs screen against real stores (SQLite and the MongoDB test server)."""

from __future__ import annotations

import pytest
from bson import ObjectId
from support.engines import insert_raw
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
from textual.widgets import Static

import queuecore
from jobtui import format as fmt
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import ConfirmScreen, HelpScreen, JobDetailScreen
from jobtui.tui.widgets import FilterBar, SummaryBar
from jobtui.view import STATUS_ORDER
from queuecore import Status


def make_app(target: StoreTarget, **kw: object) -> JobTUI:
    return JobTUI(target.uri, collection=target.collection, **kw)  # type: ignore[arg-type]


def filter_bar(app: JobTUI) -> str:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#filters", FilterBar).plain()


def summary(app: JobTUI) -> str:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#summary", SummaryBar).plain()


async def test_live_table_follows_inserts_updates_and_deletes(target: StoreTarget, store) -> None:
    old = [await enqueue(store, "send-email", data={"n": i}) for i in range(3)]
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=3)
        assert table(app).keys() == [str(j.id) for j in reversed(old)]
        # a job enqueued elsewhere appears on top, without a reload
        new = await enqueue(store, "resize")
        await wait_for(pilot, lambda: table(app).keys()[:1] == [str(new.id)])
        assert cell(app, new, "task") == "resize" and cell(app, new, "status") == "enqueued"
        # it runs and completes: the row changes in place
        await complete(store, old[0])
        await wait_for(pilot, lambda: cell(app, old[0], "status") == "completed")
        assert cell(app, old[0], "worker") == "test-worker"
        await fail(store, old[1], "upstream timed out", delay=600)
        await wait_for(pilot, lambda: cell(app, old[1], "status") == "failed")
        assert cell(app, old[1], "reason") == "upstream timed out"
        assert cell(app, old[1], "available").endswith(("m", "s"))  # countdown to the retry
        # the counts follow (throttled) and the connection indicator names the mode
        await wait_for(pilot, lambda: "completed 1" in summary(app) and "failed 1" in summary(app))
        assert ("live" in summary(app)) or ("polling" in summary(app))
        await store.delete([old[2].id])
        await wait_for(pilot, lambda: str(old[2].id) not in table(app).keys())
        assert table(app).row_count == 3


async def test_cursor_stays_on_its_job_across_updates(target: StoreTarget, store) -> None:
    jobs = [await enqueue(store) for _ in range(4)]
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=4)
        await pilot.press("down", "down")
        chosen = table(app).current_id
        assert chosen == str(jobs[1].id)
        newer = [await enqueue(store) for _ in range(2)]
        await wait_for(pilot, lambda: table(app).row_count == 6)
        assert table(app).current_id == chosen
        assert table(app).cursor_row == 4
        await complete(store, jobs[1])
        await wait_for(pilot, lambda: cell(app, jobs[1], "status") == "completed")
        assert table(app).current_id == chosen
        await store.delete([newer[0].id])
        await wait_for(pilot, lambda: table(app).row_count == 5)
        assert table(app).current_id == chosen


async def test_status_keys_filter_server_side_and_combine(target: StoreTarget, store) -> None:
    a, b, c = [await enqueue(store, n) for n in ("a", "b", "c")]
    await fail(store, a)
    await complete(store, b)
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=3)
        await pilot.press("4")
        await wait_for(pilot, lambda: table(app).keys() == [str(a.id)])
        assert "status: failed" in app.model.filter.describe()  # type: ignore[union-attr]
        await pilot.press("3")
        await wait_for(pilot, lambda: table(app).keys() == [str(b.id), str(a.id)])
        await pilot.press("4")
        await wait_for(pilot, lambda: table(app).keys() == [str(b.id)])
        await pilot.press("0")
        await wait_for(pilot, lambda: table(app).row_count == 3)
        assert "(all)" in filter_bar(app)
        # with "failed" shown, a job that fails elsewhere appears; one re-enqueued leaves
        await pilot.press("4")
        await wait_for(pilot, lambda: table(app).keys() == [str(a.id)])
        await fail(store, c)
        await wait_for(pilot, lambda: table(app).keys() == [str(c.id), str(a.id)])
        await queuecore.requeue(store, a.id)
        await wait_for(pilot, lambda: table(app).keys() == [str(c.id)])
        for key, status in zip("123456", STATUS_ORDER, strict=True):
            await pilot.press("0", key)
            await wait_for(pilot, lambda s=status: app.model.filter.statuses == {s})  # type: ignore[union-attr]


async def test_text_search_and_task_filter(target: StoreTarget, store) -> None:
    await enqueue(store, "send-email", label="welcome")
    report = await enqueue(store, "report")
    other_report = await enqueue(store, "report")
    await fail(store, other_report, "disk full")
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=3)
        await pilot.press("slash", *"DISK", "enter")
        await wait_for(pilot, lambda: table(app).keys() == [str(other_report.id)])
        assert "query: DISK " in filter_bar(app)
        assert app.focused is table(app)
        await pilot.press("slash", "ctrl+u", "enter")  # empty search shows everything again
        await wait_for(pilot, lambda: table(app).row_count == 3)
        await pilot.press("t", *"rep")
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "filter-name")
        await pilot.press("right")  # accept the suggestion from the names seen
        await wait_for(pilot, lambda: getattr(app.focused, "value", "") == "report")
        await pilot.press("enter")
        await wait_for(pilot, lambda: table(app).keys() == [str(other_report.id), str(report.id)])
        assert "task: report" in filter_bar(app)
        await pilot.press("4")  # combined with a status
        await wait_for(pilot, lambda: table(app).keys() == [str(other_report.id)])
        # escape gives up an edit and keeps the filter
        await pilot.press("slash", *"zzz", "escape")
        await wait_for(pilot, lambda: app.focused is table(app))
        assert table(app).keys() == [str(other_report.id)]
        await pilot.press("x")
        await wait_for(pilot, lambda: table(app).row_count == 3)
        assert "(all)" in filter_bar(app)


async def test_detail_screen_shows_everything_and_stays_live(target: StoreTarget, store) -> None:
    job = await enqueue(store, "resize", data={"image": "cat.png", "sizes": [64, 128]})
    await fail(store, job, "decoder crashed")
    app = make_app(target)
    async with app.run_test(size=(120, 48)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        body = app.screen.query_one("#detail-body", Static)
        await wait_for(pilot, lambda: "cat.png" in static_text(body))
        text = static_text(body)
        for expected in (
            str(job.id),
            "resize",
            '"sizes"',
            "decoder crashed",
            "created",
            "available",
            "started",
            "ended",
            "finished",
            "history",
            "enqueued",
            "failed",
            "test-worker",
        ):
            assert expected in text, expected
        # it follows the job: re-enqueued elsewhere, the detail shows it
        await queuecore.requeue(store, job.id)
        await wait_for(pilot, lambda: "re-enqueued by operator" in static_text(body))
        # the detail screen's own keys act on its job
        await pilot.press("c", "y")

        async def cancelled() -> bool:
            current = await store.get(job.id)
            return current is not None and current.status is Status.CANCELLED

        await wait_store(pilot, cancelled)
        await wait_for(pilot, lambda: "cancelled by operator" in static_text(body))
        assert isinstance(app.screen, JobDetailScreen)
        await pilot.press("r")
        await wait_for(pilot, lambda: static_text(body).count("re-enqueued by operator") == 2)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        await wait_for(pilot, lambda: cell(app, job, "status") == "enqueued")


async def test_cancel_asks_then_cancels_or_requests(target: StoreTarget, store) -> None:
    waiting = await enqueue(store, "a")
    running = await enqueue(store, "b")
    assert await queuecore.dequeue(store, running.id, 60, worker="w") is not None
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=2)
        # the cursor is on the newest job: the running one; "n" keeps it
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "running" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        assert (await store.get(running.id)).cancel_reason is None  # type: ignore[union-attr]
        await pilot.press("c", "y")

        async def requested() -> bool:
            job = await store.get(running.id)
            return job is not None and job.cancel_reason is not None

        await wait_store(pilot, requested)
        await wait_for(pilot, lambda: cell(app, running, "status") == "cancelling")
        await wait_for(pilot, lambda: any("Cancellation requested" in n for n in notes(app)))
        # an enqueued job is cancelled at once
        await pilot.press("down", "c", "y")

        async def cancelled() -> bool:
            job = await store.get(waiting.id)
            return job is not None and job.status is Status.CANCELLED

        await wait_store(pilot, cancelled)
        await wait_for(pilot, lambda: cell(app, waiting, "status") == "cancelled")
        # cancelling it again is refused with a clear notification, no dialog
        await pilot.press("c")
        await wait_for(pilot, lambda: any("Cannot cancel job" in n and "cancelled" in n for n in notes(app)))
        assert app.screen is app.jobs_screen


async def test_cancel_refused_by_the_store_is_a_notification(target: StoreTarget, store) -> None:
    job = await enqueue(store)
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await complete(store, job)  # another process finishes it while the dialog is open
        await pilot.press("y")
        await wait_for(pilot, lambda: any("cannot cancel" in n and "completed" in n for n in notes(app)))
        assert app.is_running


async def test_requeue_key(target: StoreTarget, store) -> None:
    job = await enqueue(store)
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("r")
        await wait_for(pilot, lambda: any("Cannot re-enqueue" in n for n in notes(app)))
        await fail(store, job)
        await wait_for(pilot, lambda: cell(app, job, "status") == "failed")
        await pilot.press("r")
        await wait_for(pilot, lambda: cell(app, job, "status") == "enqueued")
        assert (await store.get(job.id)).status is Status.ENQUEUED  # type: ignore[union-attr]
        await wait_for(pilot, lambda: any("Re-enqueued job" in n for n in notes(app)))


async def test_requeue_all_failed_in_the_filter(target: StoreTarget, store) -> None:
    a1, a2, b1 = [await enqueue(store, n) for n in ("a", "a", "b")]
    untouched = await enqueue(store, "a")
    for job in (a1, a2, b1):
        await fail(store, job)
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=4)
        await pilot.press("t", "a", "enter")
        await wait_for(pilot, lambda: table(app).row_count == 3)
        await pilot.press("R")
        assert "all 2 failed jobs" in (await bulk_question(pilot)).question
        await pilot.press("y")

        async def done() -> bool:
            jobs = [await store.get(j.id) for j in (a1, a2, b1, untouched)]
            return [j.status for j in jobs if j] == [
                Status.ENQUEUED,
                Status.ENQUEUED,
                Status.FAILED,
                Status.ENQUEUED,
            ]

        await wait_store(pilot, done)
        await wait_for(pilot, lambda: any("Re-enqueued 2 of 2" in n for n in notes(app)))
        await pilot.press("R")
        await wait_for(pilot, lambda: any("No failed job matches" in n for n in notes(app)))


async def test_enqueue_form_validates_and_inserts(target: StoreTarget, store) -> None:
    await enqueue(store, "send-email")
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "EnqueueScreen")
        form = app.screen
        await pilot.press(*"send", "right")  # suggestion from the names seen
        await wait_for(pilot, lambda: form.query_one("#enqueue-name").value == "send-email")
        data = form.query_one("#enqueue-data")
        data.text = '{"to": "a@b.c",'
        await wait_for(pilot, lambda: "invalid JSON" in str(form.query_one("#enqueue-data-status").content))
        assert form.query_one("#enqueue-ok").disabled
        await pilot.press("ctrl+s")
        assert app.screen is form  # not submitted
        data.text = '["not", "an object"]'
        await wait_for(
            pilot, lambda: "must be a JSON object" in str(form.query_one("#enqueue-data-status").content)
        )
        data.text = '{"to": "a@b.c"}'
        await wait_for(
            pilot, lambda: "valid JSON object" in str(form.query_one("#enqueue-data-status").content)
        )
        form.query_one("#enqueue-label").value = "welcome"
        form.query_one("#enqueue-delay").value = "soon"
        await wait_for(
            pilot, lambda: "delay must be a number" in str(form.query_one("#enqueue-error").content)
        )
        # a huge number is too long, not negative ("1e400" said "must be zero or more seconds")
        for typed, problem in (("1e400", "at most 100 years"), ("nan", "a number"), ("-1", "zero or more")):
            form.query_one("#enqueue-delay").value = typed
            await wait_for(pilot, lambda p=problem: p in str(form.query_one("#enqueue-error").content))
        form.query_one("#enqueue-delay").value = "120"
        await wait_for(pilot, lambda: not form.query_one("#enqueue-ok").disabled)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        await wait_for(pilot, lambda: table(app).row_count == 2)
        jobs = await store.find(name="send-email", text="welcome")
        assert len(jobs) == 1
        assert jobs[0].data == {"to": "a@b.c"} and jobs[0].label == "welcome"
        assert (jobs[0].available - jobs[0].created).total_seconds() >= 119
        await wait_for(pilot, lambda: cell(app, jobs[0], "available") != "")
        # escape gives up without enqueueing
        await pilot.press("n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "EnqueueScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        assert len(await store.find()) == 2


async def test_detail_shows_the_trace_id_of_a_traced_job(target: StoreTarget, store) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    job = await queuecore.enqueue(store, queuecore.Blueprint("traced"), trace=traceparent)
    assert job is not None
    app = make_app(target)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        body = app.screen.query_one("#detail-body", Static)
        await wait_for(pilot, lambda: "trace id" in static_text(body))
        line = next(line for line in static_text(body).splitlines() if "trace id" in line)
        assert line.split()[-1] == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_malformed_documents_are_flagged_not_fatal(target: StoreTarget, store) -> None:
    good = await enqueue(store, "fine")
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        oid = ObjectId()
        await insert_raw(store, target.support.malformed_doc(oid, "broken"))
        bad = type("J", (), {"id": oid})
        await wait_for(pilot, lambda: cell(app, bad, "status") == "⚠ malformed")  # type: ignore[arg-type]
        assert "malformed" in cell(app, bad, "reason")  # type: ignore[arg-type]
        assert cell(app, good, "status") == "enqueued"
        assert table(app).current_id == str(good.id)  # the cursor stayed on its job
        # where the malformed row sits depends on the engine's order for a missing created_at
        keys = table(app).keys()
        step = keys.index(str(oid)) - keys.index(str(good.id))
        await pilot.press(*(["down"] * step if step > 0 else ["up"] * -step), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        body = app.screen.query_one("#detail-body", Static)
        await wait_for(pilot, lambda: "malformed document" in static_text(body))
        await pilot.press("c")
        await wait_for(pilot, lambda: any("is malformed" in n for n in notes(app)))
        await pilot.press("escape")
        await pilot.press("1")  # filters still work around it
        await wait_for(pilot, lambda: app.model is not None and app.model.filter.statuses == {"enqueued"})
        assert app.is_running


async def test_load_more_when_scrolling_near_the_end(target: StoreTarget, store) -> None:
    jobs = [await enqueue(store) for _ in range(45)]
    app = make_app(target)
    app.page = 20
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=20)
        assert "20+ shown" in filter_bar(app)
        await pilot.press("end")
        await wait_for(pilot, lambda: table(app).row_count == 40)
        assert table(app).current_id == str(jobs[-20].id)  # the cursor stayed where it was
        await pilot.press("end")
        await wait_for(pilot, lambda: table(app).row_count == 45)
        await wait_for(pilot, lambda: "45 shown" in filter_bar(app))
        assert table(app).keys() == [str(j.id) for j in reversed(jobs)]


async def test_help_lists_every_key(target: StoreTarget) -> None:
    from jobtui.tui.keymap import key_label
    from jobtui.tui.screens.help import sections

    app = make_app(target)
    async with app.run_test(size=(100, 60)) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = static_text(app.screen.query_one("#help-keys", Static), width=100)
        count = 0
        for _, bindings in sections():
            for binding in bindings:
                assert binding.id, f"binding without id: {binding}"
                assert key_label(binding) in text and binding.description in text, binding
                count += 1
        assert count >= 25
        shown_keys = {line.strip().split("  ")[0] for line in text.splitlines() if line.strip()}
        for key in (
            "1",
            "5",
            "0",
            "/",
            "t",
            "x",
            "c",
            "r",
            "n",
            "R",
            "?",
            "q",
            "ctrl+p",
            "p",
            "+",
            "-",
            "enter",
        ):
            assert key in shown_keys, key
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)


async def test_command_palette_runs_actions(target: StoreTarget, store) -> None:
    await enqueue(store, "x")
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Enqueue a job",
            "Cancel the selected job",
            "Re-enqueue the selected job",
            "Re-enqueue all failed jobs in this filter",
            "Search jobs",
            "Help: keys",
        ):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"Enqueue a job")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "EnqueueScreen")


async def test_read_only_hides_and_refuses_mutations(target: StoreTarget, store) -> None:
    job = await enqueue(store)
    app = make_app(target, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        assert "READ-ONLY" in app.sub_title
        for key in ("c", "r", "n", "R"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.jobs_screen, key
        assert (await store.get(job.id)).status is Status.ENQUEUED  # type: ignore[union-attr]
        footer_keys = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert not footer_keys & {"cancel", "requeue", "enqueue", "requeue_failed"}
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Enqueue a job" not in titles


async def test_small_terminal_and_resize(target: StoreTarget, store) -> None:
    for i in range(30):
        await enqueue(store, f"task-{i % 3}", label="", data={"i": i})
    app = make_app(target)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, rows=30)
        t = table(app)
        assert t.region.height >= 8 and t.region.width == 80
        for id in ("#summary", "#filters"):
            region = app.screen.query_one(id).region
            assert region.height >= 1 and region.right <= 80
        await pilot.press("down", "down")
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert table(app).region.height >= 4
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        assert table(app).region.width == 140
        assert table(app).cursor_row == 2


async def test_bars_use_short_names_on_a_narrow_terminal(target: StoreTarget, store) -> None:
    """At 80 columns every count and the connection indicator still fit on the summary line
    (short names, no overlap) and the filter bar stays on one line; widened, full names."""
    await enqueue(store, "send-mail")
    app = make_app(target)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, rows=1)
        screen = app.jobs_screen
        assert screen is not None
        counts = screen.query_one("#summary-counts", Static)
        connection = screen.query_one("#summary-connection", Static)
        state = screen.query_one("#filter-state", Static)
        await wait_for(pilot, lambda: "enq 1" in counts.content.plain)  # type: ignore[union-attr]
        assert counts.content.plain.split() == [  # type: ignore[union-attr]
            *("enq", "1", "run", "0", "done", "0", "fail", "0", "canc", "0", "stall", "0")
        ]
        assert counts.content.cell_len <= counts.region.width  # type: ignore[union-attr]
        assert counts.region.right <= connection.region.x and connection.region.right <= 80
        assert "live" in connection.content.plain or "polling" in connection.content.plain  # type: ignore[union-attr]
        assert state.content.plain.startswith("1:enq 2:run")  # type: ignore[union-attr]
        assert state.content.cell_len <= state.region.width and state.region.height == 1  # type: ignore[union-attr]
        await pilot.resize_terminal(140, 30)
        await wait_for(pilot, lambda: counts.content.plain.startswith("enqueued 1  running 0"))  # type: ignore[union-attr]
        await wait_for(pilot, lambda: state.content.plain.startswith("1:enqueued 2:running"))  # type: ignore[union-attr]


async def test_an_empty_table_says_what_to_do(target: StoreTarget, store) -> None:
    app = make_app(target)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, rows=0)
        hint = app.screen.query_one("#empty-hint", Static)
        await wait_for(pilot, lambda: hint.display)
        assert "No jobs yet" in str(hint.content) and "n enqueues" in str(hint.content)
        job = await enqueue(store, "send-mail")
        await wait_for(pilot, lambda: table(app).keys() == [str(job.id)])
        assert not hint.display
        await pilot.press("4")  # only failed jobs: there are none
        await wait_for(pilot, lambda: hint.display and "matches this filter" in str(hint.content))
        assert "0 shows every status" in str(hint.content)
        await pilot.press("0")
        await wait_for(pilot, lambda: not hint.display and table(app).row_count == 1)
        # no status is filtered: the hint names what is (it said "0 shows every status")
        await pilot.press("t", *"nope", "enter")
        await wait_for(pilot, lambda: hint.display and "matches this filter" in str(hint.content))
        assert "0 shows" not in str(hint.content) and "x clears every filter" in str(hint.content)
        await pilot.press("x")
        await wait_for(pilot, lambda: not hint.display and table(app).row_count == 1)


async def test_enqueue_form_fits_a_small_terminal(target: StoreTarget, store) -> None:
    """At 80×24 the whole enqueue form, buttons included, is on screen, and it works."""
    from textual.widgets import Button, Input

    from jobtui.tui.screens import EnqueueScreen

    app = make_app(target)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.pause()
        ok = app.screen.query_one("#enqueue-ok", Button)
        assert ok.region.height >= 1 and ok.region.bottom <= 24
        assert app.screen.query_one("#enqueue-delay", Input).region.bottom <= ok.region.y
        await pilot.click("#enqueue-name")
        await pilot.press(*"report")
        await pilot.click("#enqueue-ok")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        await wait_store(pilot, lambda: _has_job(store, "report"))


async def _has_job(store: queuecore.Store, name: str) -> bool:
    return bool(await store.find(name=name))


async def test_help_fits_80_columns_and_shows_binding_ids_when_wide(target: StoreTarget) -> None:
    from jobtui.tui.screens.help import sections

    ids = [b.id for _, bindings in sections() for b in bindings]
    for width, with_ids in ((80, False), (140, True)):
        app = make_app(target)
        async with app.run_test(size=(width, 40)) as pilot:
            await started(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda app=app: isinstance(app.screen, HelpScreen))
            keys = app.screen.query_one("#help-keys", Static)
            text = static_text(keys, width=keys.content_region.width)
            assert "Cancel marked/filter" in text  # descriptions are readable, not squeezed
            assert [c.header for c in keys.content.columns] == (  # type: ignore[union-attr]
                ["key", "what", "id"] if with_ids else ["key", "what"]
            )
            if with_ids:  # what [keys] of the config file remaps
                assert all(i in text for i in ids if i)
                await pilot.resize_terminal(80, 40)  # narrowed while open: laid out again
                await wait_for(pilot, lambda keys=keys: len(keys.content.columns) == 2)  # type: ignore[union-attr]


async def test_keys_typed_in_one_burst_with_slash_land_in_the_filter(target: StoreTarget, store) -> None:
    """``/`` then text and enter, all queued before the app handles any of them (a fast
    typist, tmux, a macro): the text goes into the filter input — not to the table, where
    ``n`` would open the enqueue form — and ``t``, ``:`` and ``/`` inside it are typed."""
    from textual import events

    wanted = await enqueue(store, "beta")
    await enqueue(store, "alpha")
    app = make_app(target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=2)
        names = {"/": "slash", ":": "colon", " ": "space", "\r": "enter"}
        for char in "/name:beta !reason:~t/x:\r":
            app.post_message(events.Key(names.get(char, char), char))
        await wait_for(pilot, lambda: table(app).keys() == [str(wanted.id)])
        assert app.model is not None and app.model.filter.text == "name:beta !reason:~t/x:"
        assert app.screen is app.jobs_screen and isinstance(app.focused, type(table(app)))


async def test_a_feed_that_keeps_failing_after_reopening_backs_off_further(
    quick_target: StoreTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed reopens, loads its snapshot, and fails again at once: each retry waits
    longer (0.5 s, 1 s, 2 s …) instead of reloading and notifying every half second."""

    async def failing_watch(self):  # type: ignore[no-untyped-def]
        yield queuecore.Change("reset")
        raise RuntimeError("feed fault")

    attempts: list[int] = []
    real_backoff = queuecore.backoff

    def spy(low, high, factor, attempt):  # type: ignore[no-untyped-def]
        attempts.append(attempt)
        return real_backoff(low, high, factor, attempt)

    async with await queuecore.connect(quick_target.uri, collection=quick_target.collection) as store:
        engine_store = type(store)  # the engine's store class: its every feed fails
    monkeypatch.setattr(engine_store, "watch", failing_watch)
    monkeypatch.setattr(queuecore, "backoff", spy)
    app = make_app(quick_target)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(attempts) >= 3)
        assert attempts[:3] == [1, 2, 3]
        assert any("Live updates interrupted: feed fault" in n for n in notes(app))


async def test_detail_timeline_shows_whole_times_on_an_80_column_terminal(quick_target: StoreTarget) -> None:
    """The timeline's five times side by side need ~115 columns; on 80 they were cut to
    "2026-11-29…" (the time of day lost). A narrow terminal lists them one per line."""
    async with await queuecore.connect(quick_target.uri, collection=quick_target.collection) as store:
        job = await fail(store, await enqueue(store, "resize"), "decoder crashed")
    app = make_app(quick_target)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        body = app.screen.query_one("#detail-body", Static)
        await wait_for(pilot, lambda: "decoder crashed" in static_text(body))
        text = static_text(body, width=body.content_size.width)
        for at in (job.created, job.available, job.started, job.ended, job.finished):
            assert fmt.when(at) in text, text
        assert "…" not in text


async def test_the_counts_show_a_job_that_stalls_without_any_change_event(quick_target: StoreTarget) -> None:
    """A worker dies: its job stalls when the claim times out, and nothing writes to the store.
    The summary kept saying "running 1 · stalled 0" for ever (the row said stalled)."""
    app = make_app(quick_target, refresh=0.1)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, rows=0)
        async with await queuecore.connect(quick_target.uri, collection=quick_target.collection) as store:
            job = await enqueue(store, "import")
            assert await queuecore.dequeue(store, job.id, 1.5, worker="dies-now") is not None
        await wait_for(pilot, lambda: "running 1" in summary(app))
        await wait_for(pilot, lambda: "stalled 1" in summary(app) and "running 0" in summary(app))
        assert cell(app, job, "status") == "stalled"


async def test_brackets_in_job_fields_are_shown_as_typed_never_as_markup(quick_target: StoreTarget) -> None:
    """Any producer may name a job "[/oops]": the table, the detail, the audit log and the
    notifications read such text as markup, and a closing tag that matches nothing crashed
    the dashboard (MarkupError); "[keys]" in a message vanished."""
    from jobtui.tui.screens import AuditScreen, EnqueueScreen

    async with await queuecore.connect(quick_target.uri, collection=quick_target.collection) as store:
        job = await fail(store, await enqueue(store, "[/oops]", label="[b]x[/b]"), "[/reason] [red]")
    app = make_app(quick_target)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.pause(0.1)
        assert cell(app, job, "task") == "[/oops]" and cell(app, job, "label") == "[b]x[/b]"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        body = app.screen.query_one("#detail-body", Static)
        await wait_for(pilot, lambda: "[/reason] [red]" in static_text(body))
        await pilot.pause(0.1)
        assert "[/oops]" in static_text(body) and "[b]x[/b]" in static_text(body)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "cancelled" in static_text(body))
        await pilot.press("escape", "A")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen) and len(app.screen.entries) == 1)
        await pilot.pause(0.1)
        assert "[/oops] (failed)" in app.screen.detail_plain()
        await pilot.press("escape", "n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press(*"[/new]", "ctrl+s")
        await wait_for(pilot, lambda: any("([/new])" in n for n in notes(app)))
        app.notify("config file: [keys] help takes the key of cancel")
        await pilot.press("ctrl+c")  # Textual's own hint: no markup left in it either
        await wait_for(pilot, lambda: any(n.endswith(" to quit the app") for n in notes(app)))
        assert not any("[b]" in n for n in notes(app))
        await pilot.pause(0.2)
        assert app.is_running and not any(n.markup for n in app._notifications)


async def test_the_cursor_row_stays_on_screen_when_the_terminal_shrinks(quick_target: StoreTarget) -> None:
    """The selected row was left below the fold after a resize from 120x40 to 80x24: the
    operator could not see which job c or r would act on."""
    async with await queuecore.connect(quick_target.uri, collection=quick_target.collection) as store:
        jobs = [await enqueue(store, "resize", data={"n": i}) for i in range(40)]
    app = make_app(quick_target)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, rows=40)
        await pilot.press(*["down"] * 20)
        t = table(app)
        assert t.current_id == str(jobs[-21].id)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: t.size.height < 20)

        def cursor_visible() -> bool:
            top = t.scroll_y
            return top <= t.cursor_row < top + t.scrollable_content_region.height - t.header_height

        await wait_for(pilot, cursor_visible)
        assert t.current_id == str(jobs[-21].id)
