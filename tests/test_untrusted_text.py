"""Untrusted job text never reaches the operator's terminal raw (issue 11, terminal escapes).

Jobs whose name, label, data (keys and values), reason, note, worker, cancel reason and
audit entries (who, action, ids, detail) carry each kind of hostile sequence — OSC 52
(clipboard), an OSC title ended by BEL, ``ESC[2J``, a C1 CSI (U+009B), bidi overrides and
isolates (U+202E, U+2066), DEL and NUL — are read back through every output path: ``ls``,
``show``, ``audit`` and ``stats`` (text and ``--json``), the dashboard (the jobs table, the
detail screen, the audit screen, a confirmation, a notification, the workers panel, the
suggestions of the forms) and the ``jobtui work`` log. None of them may write a raw control
character (other than the newlines of its own layout), DEL, C1 or bidi control; each shows
the sequence visibly instead, and ``--json`` still decodes to the stored values.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from rich.console import Console
from support.cli import Cli, in_store
from support.engines import insert_raw
from support.targets import StoreTarget
from support.tui import enqueue, notes, started, table, wait_for
from textual.widgets import Input

import queuecore
from jobtui import format as fmt
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import AuditScreen, ConfirmScreen, EnqueueScreen, JobDetailScreen
from jobtui.tui.screens.detail import render_job
from jobtui.tui.widgets import FilterBar, WorkersPanel
from jobtui.tui.widgets.jobs_table import render_row
from queuecore import Blueprint, Job, Status, Store
from queuecore.audit import record
from queuecore.store.changes import Changes, Guard

REPO = Path(__file__).resolve().parent.parent

#: One of each kind of sequence a hostile producer can put into a stored string.
HOSTILE = {
    "osc52": "\x1b]52;c;aGVsbG8=\x1b\\",
    "title": "\x1b]0;pwned\x07",
    "clear": "\x1b[2J\x1b[H",
    "c1": "\x9b31m",
    "rlo": "\u202egpj.exe",
    "isolate": "\u2066x\u2069",
    "del": "\x7f",
    "nul": "\x00",
}
#: What the stores are seeded with: each kind alone, and all of them in one value.
SEEDS = {**HOSTILE, "all": "".join(HOSTILE.values())}
#: Characters no output may contain: C0 (but the newline of a layout), DEL, C1, bidi controls.
FORBIDDEN = frozenset(
    {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} - {"\n"}
    | {chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
    | {"\u2028", "\u2029"}
)


def raw_controls(text: str) -> list[str]:
    """The forbidden characters in ``text`` (empty when it is safe for a terminal)."""
    return sorted({repr(c) for c in text if c in FORBIDDEN})


def assert_inert(text: str, where: str) -> None:
    found = raw_controls(text)
    assert not found, f"{where}: raw {', '.join(found)} in {text!r}"


def data_of(kind: str) -> dict[str, Any]:
    hostile = SEEDS[kind]
    key = f"key-{kind}{hostile}".replace("\x00", "")  # a BSON key cannot hold NUL
    return {key: f"value{hostile}", "list": [f"item{hostile}"], "nested": {"deep": hostile}}


async def seed(store: Store) -> dict[str, dict[str, Job]]:
    """Per kind: a failed job (worker, note, reason, history) and a running job with a
    cancellation request (cancel reason); an audit entry with the sequence everywhere."""
    seeded: dict[str, dict[str, Job]] = {}
    for kind, hostile in SEEDS.items():
        jobs: dict[str, Job] = {}
        for what in ("failed", "cancelling"):
            job = await enqueue(
                store, f"mail-{kind}{hostile}", label=f"lab-{what}{hostile}", data=data_of(kind)
            )
            assert await queuecore.dequeue(store, job.id, 3600, worker=f"host{hostile}:1:w") is not None
            await store.update(
                job.id,
                Guard.status(Status.DEQUEUED, attempts=1),
                Changes(note=f"note{hostile}", progress=0.5),
            )
            if what == "failed":
                await queuecore.fail(store, job.id, f"smtp said {hostile} no", 3600)
            else:
                await queuecore.cancel_job(store, job.id, f"stop{hostile}it")
            found = await store.get(job.id)
            assert found is not None and not found.malformed, found
            jobs[what] = found
        # a document another program wrote: not a valid job, its problem quotes the status
        now = fmt.utcnow()
        raw = {"_id": ObjectId(), "name": f"raw-{kind}{hostile}", "status": f"bogus{hostile}"}
        await insert_raw(store, {**raw, "created_at": now, "available_at": now, "reason": f"r{hostile}"})
        malformed = await store.get(raw["_id"])
        assert malformed is not None and malformed.malformed, malformed
        jobs["malformed"] = malformed
        seeded[kind] = jobs
        await record(
            store,
            f"act{hostile}",
            [str(jobs["failed"].id), f"id{hostile}"],
            source="cli",
            detail=f"detail {hostile} end",
            who=f"eve{hostile}@host",
        )
    return seeded


@pytest.fixture
def seeded(target: StoreTarget, cli: Cli) -> dict[str, dict[str, Job]]:
    return in_store(target, seed)


# -- the CLI ---------------------------------------------------------------------------


def test_ls_show_audit_stats_print_no_raw_control(cli: Cli, seeded: dict[str, dict[str, Job]]) -> None:
    listing = cli.ok("ls", "--limit", "100")
    assert_inert(listing.stdout + listing.stderr, "ls")
    assert "␛]52;c;aGVsbG8=␛\\" in listing.stdout and "\\x9b31m" in listing.stdout  # shown, not dropped
    for kind, jobs in seeded.items():
        for job in jobs.values():
            shown = cli.ok("show", str(job.id))
            assert_inert(shown.stdout + shown.stderr, f"show ({kind})")
            assert ("malformed" if job.malformed else "history") in shown.stdout
    assert "\\u202egpj.exe" in cli.ok("show", str(seeded["rlo"]["failed"].id)).stdout
    audit = cli.ok("audit", "--limit", "100")
    assert_inert(audit.stdout + audit.stderr, "audit")
    assert "eve␛]0;pwned␇@host" in audit.stdout
    stats = cli.ok("stats")
    assert_inert(stats.stdout + stats.stderr, "stats")


def test_json_output_escapes_c1_and_bidi_and_decodes_to_the_stored_values(
    cli: Cli, seeded: dict[str, dict[str, Job]]
) -> None:
    listing = cli.ok("ls", "--limit", "100", "--json")
    assert_inert(listing.stdout, "ls --json")
    by_id = {entry["id"]: entry for entry in json.loads(listing.stdout)}
    for kind, jobs in seeded.items():
        for job in jobs.values():
            shown = cli.ok("show", str(job.id), "--json")
            assert_inert(shown.stdout, f"show --json ({kind})")
            if job.malformed:
                assert json.loads(shown.stdout)["name"] == job.name
                continue
            for entry in (by_id[str(job.id)], json.loads(shown.stdout)):
                assert entry["name"] == job.name and entry["label"] == job.label
                assert entry["data"] == job.data == data_of(kind)
                assert (entry["worker"], entry["note"]) == (job.worker, job.note)
                assert (entry["reason"], entry["cancel_reason"]) == (job.reason, job.cancel_reason)
                assert [e["reason"] for e in entry["events"]] == [e.reason for e in job.events]
    audit = cli.ok("audit", "--limit", "100", "--json")
    assert_inert(audit.stdout, "audit --json")
    entries = json.loads(audit.stdout)
    assert {e["who"] for e in entries} == {f"eve{h}@host" for h in SEEDS.values()}
    assert {e["detail"] for e in entries} == {f"detail {h} end" for h in SEEDS.values()}
    assert_inert(cli.ok("stats", "--json").stdout, "stats --json")


def test_error_lines_quoting_stored_values_are_inert(cli: Cli, seeded: dict[str, dict[str, Job]]) -> None:
    """`cancel` on a running job names its worker; a refused requeue quotes the store's error."""
    job = seeded["osc52"]["cancelling"]
    result = cli("cancel", str(job.id), "--reason", "again\x1b]0;x\x07")
    assert_inert(result.stdout + result.stderr, "cancel")
    assert "host␛]52;c;aGVsbG8=␛\\:1:w" in result.stdout
    result = cli("requeue", str(job.id))  # a running job cannot be re-enqueued: one error line
    assert result.exit_code == 1
    assert_inert(result.stdout + result.stderr, "requeue error")


#: Separators and controls that ``str.split()`` takes for whitespace, as printable shows them:
#: the CLI's tables and its list of ids sharing a short id printed them as plain spaces.
SEPARATORS = {"\x85": "\\x85", "\x1c": "␜", "\x1f": "␟", "\u2028": "\\u2028", "\u2029": "\\u2029", "\r": "␍"}


def test_cli_tables_and_the_id_list_show_separators_as_printable_does(cli: Cli) -> None:
    twins = [ObjectId(f"{n}00000000f0fc917e") for n in ("aaaaaaaa", "bbbbbbbb")]
    raw = "".join(SEPARATORS)

    async def seed(store: Store) -> None:
        now = fmt.utcnow()
        for n, oid in enumerate(twins):
            doc = {"_id": oid, "data": {}, "created_at": now, "available_at": now, "attempts": 1}
            name, label, reason = ("mail{}nel", "lab{}el", "smtp{}said") if n == 0 else ("x", "", "")
            await insert_raw(
                store,
                {
                    **doc,
                    "name": name.format(raw),
                    "label": label.format(raw),
                    "status": "failed",
                    "reason": reason.format(raw),
                },
            )
        await record(
            store, "cancel", [str(twins[0])], source="cli", detail="why{}not".format("".join(SEPARATORS))
        )

    in_store(cli.target, seed)
    shown = "".join(SEPARATORS.values())
    listing = cli.ok("ls", "--width", "0").stdout
    for part in ("mail{}nel", "lab{}el", "smtp{}said"):
        assert part.format(shown) in listing, listing
    assert "mail nel" not in listing and "mail " not in listing
    audit = cli("audit", env={"COLUMNS": "200"}).stdout
    assert f"why{shown}not" in audit, audit
    ambiguous = cli("show", "f0fc917e")
    assert ambiguous.exit_code == 1
    assert f"mail{shown}nel [lab{shown}el]" in ambiguous.stderr, ambiguous.stderr
    for output in (listing, audit, ambiguous.stderr):
        assert_inert(output, "the CLI")


# -- truncation --------------------------------------------------------------------------


def test_truncating_a_hostile_value_never_leaves_part_of_a_sequence() -> None:
    value = "".join(f"{kind}{hostile}" for kind, hostile in HOSTILE.items()) * 3
    for width in range(1, len(value) + 2):
        cut = fmt.truncate(value, width)
        assert_inert(cut, f"truncate at {width}")
        assert len(cut) <= width
    now = fmt.utcnow()
    job = Job.model_construct(
        id=ObjectId(),
        name=value,
        label=value,
        reason=value,
        worker=value,
        status=Status.FAILED,
        created=now,
        available=now,
    )
    for column, cell_value in render_row(job, now).items():
        assert_inert(getattr(cell_value, "plain", str(cell_value)), f"cell {column}")


# -- the dashboard -------------------------------------------------------------------------


def rendered(renderable: Any, width: int = 160) -> str:
    """What a Rich renderable prints (as the dashboard draws it), as plain text."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def screen_text(app: JobTUI) -> str:
    """Everything the app's current screen draws (notifications included), line by line."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def test_dashboard_table_detail_audit_confirm_and_notifications_are_inert(
    target: StoreTarget, store: Store
) -> None:
    seeded = await seed(store)
    await enqueue(store, "mail-clean")
    job = seeded["osc52"]["failed"]
    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(220, 50), notifications=True) as pilot:  # toasts are drawn
        await started(pilot, rows=3 * len(SEEDS) + 1)
        await pilot.pause()
        text = screen_text(app)
        assert_inert(text, "jobs table")
        # shown visibly (the name cut to its column with "…")
        assert "mail-osc52␛]5…" in text and "host␛]0;pwned␇:1:w" in text
        for key in table(app).keys():
            for column, value in table(app)._cells[key].items():
                assert_inert(getattr(value, "plain", str(value)), f"cell {column}")
        # the task filter's suggestions: never a raw control
        await pilot.press("t")
        await wait_for(pilot, lambda: app.screen.query_one(FilterBar).editing == "name")
        suggester = app.screen.query_one("#filter-name", Input).suggester
        assert suggester is not None
        # a suggestion is typed into the input: a hostile name is left out, not shown changed
        assert suggester._suggestions == ["mail-clean"]  # type: ignore[attr-defined]
        await pilot.press("escape")
        # the detail screen: of the jobs holding every kind at once on the screen, of each
        # job as the screen renders it
        for one in seeded["all"].values():
            app.open_detail(one.id)
            await wait_for(
                pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job is not None
            )
            await pilot.pause()
            text = screen_text(app)
            assert_inert(text, f"detail of {one.name!r}")
            assert ("malformed" if one.malformed else "history") in text
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        for jobs in seeded.values():
            for one in jobs.values():
                assert_inert(rendered(render_job(one)), f"detail of {one.name!r}")
        # the audit screen, and the selected entry's line under it
        await pilot.press("A")
        await wait_for(
            pilot, lambda: isinstance(app.screen, AuditScreen) and len(app.screen.entries) == len(SEEDS)
        )
        await pilot.pause()
        text = screen_text(app)
        assert_inert(text, "audit screen")
        assert "eve" in text and "detail" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        # a confirmation quoting the job's name
        t = table(app)
        t.move_cursor(row=t.get_row_index(str(seeded["clear"]["cancelling"].id)))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        assert_inert(screen_text(app), "confirmation")
        assert "mail-clear␛[2J␛[H" in screen_text(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        # the enqueue form: suggestions from the stored names; the notification of what it
        # enqueued names the job
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        name_input = app.screen.query_one("#enqueue-name", Input)
        assert name_input.suggester is not None
        assert name_input.suggester._suggestions == ["mail-clean"]  # type: ignore[attr-defined]
        assert_inert(screen_text(app), "enqueue form")
        app.screen.dismiss(Blueprint(job.name, data=job.data))  # what the form returns
        await wait_for(pilot, lambda: any("Enqueued job" in n for n in notes(app)))
        assert all(not raw_controls(n) for n in notes(app)), notes(app)
        await wait_for(pilot, lambda: "Enqueued job" in screen_text(app))  # the toast is drawn
        text = screen_text(app)
        assert_inert(text, "notification")
        assert "(mail-osc52␛]52;c;aGVsbG8=␛\\)" in text


HOSTILE_TASKS = f"""
from queuecore import Task

REASON = {"".join(HOSTILE.values())!r}


async def handler(ctx):
    raise RuntimeError("boom " + ctx.job.data["why"] + REASON)


tasks = [Task("mail" + REASON, handler, max_attempts=1, workers=1)]
"""


async def test_dashboard_workers_panel_shows_a_hostile_reason_inert(
    target: StoreTarget, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "hostile_tasks.py").write_text(HOSTILE_TASKS)
    name = "mail" + "".join(HOSTILE.values())
    job = await enqueue(store, name, data={"why": HOSTILE["osc52"]})
    app = JobTUI(target.uri, collection=target.collection, workers=str(tmp_path / "hostile_tasks.py"))
    async with app.run_test(size=(220, 40)) as pilot:
        await started(pilot, rows=1)
        await wait_for(pilot, lambda: (app.model.get(job.id) or job).status == Status.CANCELLED)  # type: ignore[union-attr]
        panel = app.screen.query_one("#workers", WorkersPanel)
        await wait_for(pilot, lambda: panel.display and panel.row_count == 1)
        await wait_for(pilot, lambda: "boom" in screen_text(app))
        text = screen_text(app)
        assert_inert(text, "workers panel")
        assert "boom ␛]52;c;aGVsbG8=␛\\" in text


# -- the `jobtui work` log -------------------------------------------------------------------


def start_work(target: StoreTarget, tasks: Path) -> subprocess.Popen[str]:
    """``jobtui work TASKS`` on the target, as a real process (its log on stderr)."""
    command = [sys.executable, "-m", "jobtui.cli", "work", str(tasks)]
    return subprocess.Popen(
        [*command, "--store", target.uri, "--collection", target.collection],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="surrogateescape",  # any byte at all is kept, and then found by the check
    )


async def test_work_log_is_inert(target: StoreTarget, store: Store, tmp_path: Path) -> None:
    (tmp_path / "hostile_tasks.py").write_text(HOSTILE_TASKS)
    name = "mail" + "".join(HOSTILE.values())
    proc = start_work(target, tmp_path / "hostile_tasks.py")
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        first = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), timeout=30)
        lines.append(first)
        assert "working: mail" in first, first
        job = await enqueue(store, name, data={"why": HOSTILE["title"]})
        deadline = time.monotonic() + 30
        while not any("cancelled  mail" in line for line in lines):  # the outcome of the one attempt
            assert time.monotonic() < deadline, lines
            line = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), timeout=30)
            assert line, [*lines, proc.communicate(timeout=30)[1]]
            lines.append(line)
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.to_thread(proc.communicate, timeout=30)
        lines.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    log = "".join(lines)
    assert_inert(log, "work log")
    assert f"{job.id}" in log and "boom ␛]0;pwned␇" in log
    assert "problem: boom" in log  # the reporter's line too


# -- queuecore's own log ---------------------------------------------------------------------


def test_queuecore_log_records_are_inert_and_keep_their_exception(caplog: pytest.LogCaptureFixture) -> None:
    """What the default reporter logs (a handler's exception, its message from job data) is made
    printable on the logger itself: every handler prints it inert; ``exc_info`` stays for
    handlers that send exceptions elsewhere."""
    from queuecore.queue import _default_reporter

    raised: BaseException | None = None
    try:
        raise RuntimeError("boom " + SEEDS["all"] + "\nforged line")
    except RuntimeError as exc:
        raised = exc
        with caplog.at_level(logging.ERROR, logger="queuecore"):
            _default_reporter(exc)
    (entry,) = caplog.records
    assert entry.exc_info is not None and entry.exc_info[1] is raised
    text = logging.Formatter("%(levelname)s %(message)s").format(entry)
    assert_inert(text, "queuecore log")
    first, *_ = text.splitlines()
    assert first.startswith("ERROR queuecore: boom ␛]52;c;aGVsbG8=␛\\") and first.endswith("␊forged line")
    assert "Traceback (most recent call last)" in text


def test_a_dashboard_cell_shows_separators_as_printable_does_not_as_spaces() -> None:
    # "mail\x85nel" must not read "mail nel", the same as a real space
    for char, shown in (("\x85", "\\x85"), ("\r", "␍"), ("\u2028", "\\u2028"), ("\x1e", "␞")):
        assert fmt.truncate(f"mail{char}nel", 40) == f"mail{shown}nel"
    assert fmt.truncate("  a \t\n b  ", 40) == "a b"  # layout blanks still collapse
