"""The ``jobtui`` command line (typer's runner, in-process) against real stores on both engines.

Every command, the ``--json`` shapes scripts parse, and every error path: one line
on stderr starting with ``error:``, a non-zero exit, nothing changed, no password.
The headless worker host ``jobtui work`` runs as a real subprocess and is stopped
with SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from bson import ObjectId
from support.cli import Cli, assert_one_line_error, in_store, store_args
from support.engines import insert_raw
from support.targets import StoreTarget
from support.waits import wait_job
from typer.testing import CliRunner

import queuecore
from jobtui import __version__
from jobtui.cli import app
from jobtui.demo import blueprints
from queuecore import Blueprint, Status, Store

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


# -- helpers ---------------------------------------------------------------------


async def make_mix(store: Store) -> dict[str, ObjectId]:
    """One job in each status (and a delayed, labeled one); returns their ids by status."""
    ids: dict[str, ObjectId] = {}
    for name in ("done", "broken", "dropped", "running", "waiting"):
        job = await queuecore.enqueue(store, Blueprint(name, label=f"lbl-{name}", data={"k": name}))
        assert job is not None
        ids[name] = job.id
    for name in ("done", "broken", "running"):
        assert await queuecore.dequeue(store, ids[name], 60) is not None
    await queuecore.complete(store, ids["done"], {"ok": True})
    await queuecore.fail(store, ids["broken"], "boom: upstream down", 3600)
    await queuecore.cancel_job(store, ids["dropped"], "no longer needed")
    return {
        "completed": ids["done"],
        "failed": ids["broken"],
        "cancelled": ids["dropped"],
        "dequeued": ids["running"],
        "enqueued": ids["waiting"],
    }


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    return parsed


# -- enqueue, show ---------------------------------------------------------------


def test_enqueue_prints_the_id_and_show_json_has_the_job(cli: Cli) -> None:
    result = cli.ok(
        "enqueue", "send-mail", "--data", '{"to": "ada@example.com"}', "--label", "ada", "--delay", "30"
    )
    job_id = result.stdout.strip()
    assert ObjectId.is_valid(job_id)

    shown = cli.json("show", job_id)
    assert shown["id"] == job_id
    assert shown["short_id"] == job_id[-8:]
    assert (shown["name"], shown["label"], shown["status"]) == ("send-mail", "ada", "enqueued")
    assert shown["data"] == {"to": "ada@example.com"}
    assert shown["attempts"] == 0
    delay = parse_time(shown["available"]) - parse_time(shown["created"])
    assert timedelta(seconds=29) < delay < timedelta(seconds=31)
    assert shown["started"] is None and shown["result"] is None and shown["malformed"] is None
    assert [e["status"] for e in shown["events"]] == ["enqueued"]
    parse_time(shown["events"][0]["at"])

    stored = in_store(cli.target, lambda s: s.get(job_id))
    assert stored is not None and stored.data == {"to": "ada@example.com"} and stored.label == "ada"


def test_enqueue_json_and_label_deduplication(cli: Cli) -> None:
    first = cli.json("enqueue", "report", "--label", "2024-01")
    assert first["status"] == "enqueued" and first["label"] == "2024-01" and first["data"] == {}

    again = cli("enqueue", "report", "--label", "2024-01", "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {"skipped": True, "name": "report", "label": "2024-01"}
    assert "already active" in again.stderr
    plain = cli("enqueue", "report", "--label", "2024-01")
    assert plain.exit_code == 0 and plain.stdout == ""
    assert in_store(cli.target, lambda s: s.counts())["enqueued"] == 1


def test_enqueue_data_from_a_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{"rows": [1, 2, 3]}')
    job = cli.json("enqueue", "import", "--data", f"@{path}")
    assert job["data"] == {"rows": [1, 2, 3]}


def test_show_renders_fields_data_result_and_history(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)
    out = cli.ok("show", str(ids["completed"])).stdout
    for needle in (
        str(ids["completed"]),
        "done",
        "lbl-done",
        "completed",
        '"ok": true',
        '"k": "done"',
        "history",
    ):
        assert needle in out, out
    failed = cli.ok("show", str(ids["failed"])).stdout
    assert "boom: upstream down" in failed and "failed" in failed


# -- ls, stats -------------------------------------------------------------------


def test_ls_filters_combine_and_json_is_newest_first(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)

    everything = cli.json("ls")
    assert [j["id"] for j in everything] == [str(i) for i in sorted(ids.values(), reverse=True)]
    assert {j["id"]: j["status"] for j in everything} == {str(v): k for k, v in ids.items()}

    def listed(*args: str) -> set[str]:
        return {j["id"] for j in cli.json("ls", *args)}

    assert listed("--status", "failed,cancelled") == {str(ids["failed"]), str(ids["cancelled"])}
    assert listed("--status", "failed", "--status", "completed") == {
        str(ids["failed"]),
        str(ids["completed"]),
    }
    assert listed("--status", "running") == {str(ids["dequeued"])}
    assert listed("--name", "broken") == {str(ids["failed"])}
    assert listed("--text", "UPSTREAM") == {str(ids["failed"])}  # reason, case-insensitive
    assert listed("--text", "lbl-wait") == {str(ids["enqueued"])}  # label
    assert listed("--status", "enqueued", "--name", "done") == set()
    assert len(cli.json("ls", "--limit", "2")) == 2

    failed = next(j for j in everything if j["status"] == "failed")
    assert failed["reason"] == "boom: upstream down" and failed["attempts"] == 1
    assert parse_time(failed["available"]) > parse_time(failed["ended"])


def test_ls_table_shows_ids_statuses_and_reasons(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)
    out = cli.runner.invoke(app, ["ls", *store_args(cli.target)], env={"COLUMNS": "160"}).stdout
    for job_id in ids.values():
        assert str(job_id) in out
    for word in ("completed", "failed", "cancelled", "running", "enqueued", "boom: upstream down"):
        assert word in out, out
    empty = cli("ls", "--name", "nothing-like-this")
    assert empty.exit_code == 0 and empty.stdout == "" and "no jobs match" in empty.stderr


def test_ls_shows_malformed_documents_instead_of_crashing(cli: Cli) -> None:
    async def insert(store: Store) -> ObjectId:
        oid = ObjectId()
        now = datetime.now().astimezone()
        await insert_raw(
            store,
            {"_id": oid, "name": "legacy", "status": "exploded", "created_at": now, "available_at": now},
        )
        return oid

    oid = in_store(cli.target, insert)
    [job] = cli.json("ls")
    assert job["id"] == str(oid) and job["status"] == "exploded" and job["malformed"]
    assert "malformed" in cli.ok("ls").stdout
    assert cli.json("show", str(oid))["malformed"]


def test_stats_counts_every_status(cli: Cli) -> None:
    in_store(cli.target, make_mix)
    stats = cli.json("stats")
    assert stats["counts"] == {s.value: 1 for s in Status}
    assert stats["total"] == 5
    assert stats["engine"] == cli.target.engine and stats["collection"] == cli.target.collection
    table = cli.ok("stats").stdout
    assert "total" in table and "5" in table


# -- cancel, requeue -------------------------------------------------------------


def test_cancel_and_requeue(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)
    waiting, running, done = str(ids["enqueued"]), str(ids["dequeued"]), str(ids["completed"])

    assert cli.ok("cancel", waiting, "--reason", "duplicate order").stdout.strip() == f"cancelled {waiting}"
    job = in_store(cli.target, lambda s: s.get(waiting))
    assert job is not None and job.status == Status.CANCELLED and job.reason == "duplicate order"

    assert "cancellation requested" in cli.ok("cancel", running).stdout
    job = in_store(cli.target, lambda s: s.get(running))
    assert job is not None and job.status == Status.DEQUEUED and job.cancel_reason == "cancelled by operator"

    assert cli.ok("requeue", done).stdout.strip() == f"re-enqueued {done}"
    assert cli.json("show", done)["status"] == "enqueued"
    delayed = cli.ok("requeue", waiting, "--delay", "60")
    assert delayed.exit_code == 0
    shown = cli.json("show", waiting)
    assert shown["status"] == "enqueued"
    assert parse_time(shown["available"]) > datetime.now().astimezone() + timedelta(seconds=50)


def test_impossible_transitions_are_one_line_errors(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)
    done, waiting = str(ids["completed"]), str(ids["enqueued"])
    assert_one_line_error(cli("cancel", done), "cannot cancel", "completed")
    assert_one_line_error(cli("requeue", waiting), "cannot re-enqueue", "enqueued")
    assert cli.json("show", done)["status"] == "completed"
    assert cli.json("show", waiting)["status"] == "enqueued"


# -- error paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("not json", "invalid --data: Expecting value: line 1 column 1 (char 0)"),
        ("[1, 2]", "invalid --data: expected a JSON object, got list"),
        ('{"a": ', "invalid --data:"),
        ("@/no/such/file.json", "invalid --data: cannot read /no/such/file.json"),
    ],
)
def test_invalid_data_is_refused_and_nothing_is_enqueued(cli: Cli, data: str, needle: str) -> None:
    assert_one_line_error(cli("enqueue", "x", "--data", data), needle)
    assert in_store(cli.target, lambda s: s.counts())["enqueued"] == 0


def test_oversized_data_is_refused(cli: Cli) -> None:
    big = json.dumps({"blob": "x" * (5 * 1024 * 1024)})
    assert_one_line_error(cli("enqueue", "x", "--data", big), "MiB", "limit")
    assert in_store(cli.target, lambda s: s.counts())["enqueued"] == 0


@pytest.mark.parametrize("command", ["show", "cancel", "requeue"])
def test_unknown_and_invalid_ids(cli: Cli, command: str) -> None:
    in_store(cli.target, lambda s: s.count())  # the store exists (show never creates one)
    missing = str(ObjectId())
    assert_one_line_error(cli(command, missing), f"no job {missing}")
    assert_one_line_error(cli(command, "abc123"), "no job abc123")  # a part of an id: none has it
    assert_one_line_error(cli(command, "abc12z"), "not a job id: 'abc12z'")


def test_unknown_status_and_conflicting_options(cli: Cli) -> None:
    assert_one_line_error(cli("ls", "--status", "failed,exploded"), "unknown status 'exploded'")
    both = cli.raw("ls", "--sqlite", "x.db", "--mongo", "mongodb://localhost/db")
    assert_one_line_error(both, "give one of --store, --mongo, --sqlite, not --mongo and --sqlite")


def test_workers_error_is_one_line(cli: Cli) -> None:
    assert_one_line_error(cli("work", "no_such_module_here"), "no module named 'no_such_module_here'")
    assert_one_line_error(cli("work", "examples.tasks:nothing"), "has no attribute 'nothing'")
    assert_one_line_error(cli.raw("--workers", "no_such_module_here", "--sqlite", "x.db"), "no module named")


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "--sqlite", ""],
        ["ls", "--mongo", ""],
        ["ls", "--collection", " "],
        ["--sqlite", "", "stats"],
        ["cancel", "6b0c1aedb46efce255319831", "--sqlite", ""],
    ],
)
def test_an_empty_store_option_is_refused_not_the_default_store(tmp_path: Path, args: list[str]) -> None:
    """``--sqlite "$DB"`` with ``$DB`` unset must not fall back to the default store."""
    default = tmp_path / "default.db"
    result = CliRunner().invoke(app, args, env={"JOBTUI_SQLITE": str(default)})
    assert_one_line_error(result, "was given an empty value")
    assert not default.exists()


def test_a_limit_beyond_64_bits_lists_everything(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)
    huge = str(10**20)
    assert len(cli.json("ls", "--limit", huge)) == len(ids)
    assert len(cli.json("audit", "--limit", huge)) == 0
    cli.ok("cancel", str(ids["enqueued"]))
    assert len(cli.json("audit", "--limit", huge)) == 1

    async def api(store: Store) -> tuple[int, int, int]:
        everything = await store.find(limit=10**30)
        return len(everything), len(await store.find(skip=10**30)), await store.count(cap=10**30)

    assert in_store(cli.target, api) == (5, 0, 5)


def test_stats_and_audit_print_odd_values_from_other_programs_as_text(cli: Cli) -> None:
    async def insert(store: Store) -> None:
        now = datetime.now().astimezone()
        doc = {"_id": ObjectId(), "name": "legacy", "status": "[/x]", "created_at": now, "available_at": now}
        await insert_raw(store, doc)

    in_store(cli.target, insert)
    result = cli.ok("stats")
    assert "[/x]" in result.stdout and "total" in result.stdout
    assert cli.json("stats")["counts"]["[/x]"] == 1


# -- read-only, options before the subcommand, version ---------------------------------


def test_read_only_refuses_mutating_commands(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)
    env = {"JOBTUI_READ_ONLY": "1"}
    assert_one_line_error(cli("enqueue", "x", env=env), "read-only")
    assert_one_line_error(cli("cancel", str(ids["enqueued"]), env=env), "read-only")
    assert_one_line_error(cli("requeue", str(ids["failed"]), env=env), "read-only")
    assert_one_line_error(cli("work", "examples.tasks", env=env), "read-only")
    flag = cli.raw("--read-only", "enqueue", "x", *store_args(cli.target))
    assert_one_line_error(flag, "read-only")
    assert in_store(cli.target, lambda s: s.counts()) == {
        **{s.value: 1 for s in Status},
        "running": 1,
        "stalled": 0,
    }
    assert len(json.loads(cli("ls", "--json", env=env).stdout)) == 5  # reading still works


def test_store_options_may_come_before_the_subcommand(cli: Cli) -> None:
    job_id = cli.raw(*store_args(cli.target), "enqueue", "early").stdout.strip()
    assert ObjectId.is_valid(job_id)
    listed = cli.raw(*store_args(cli.target), "ls", "--json")
    assert [j["id"] for j in json.loads(listed.stdout)] == [job_id]


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (
        result.exit_code == 0 and result.stdout.strip() == f"jobtui {__version__} (queuecore {__version__})"
    )


def test_help_names_the_profile_table() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Connect with [profiles.NAME] of the config file" in result.stdout


# -- demo ------------------------------------------------------------------------------


def test_demo_seed_only_seeds_every_example_task(cli: Cli) -> None:
    result = cli("demo", "--seed-only")
    assert result.exit_code == 0, result.stderr
    expected = blueprints()
    assert f"seeded {len(expected)} demo jobs" in result.stderr
    jobs = cli.json("ls", "--limit", "500")
    assert len(jobs) == len(expected)
    assert {j["name"] for j in jobs} >= {"quick", "slow", "flaky", "doomed", "reject", "send-mail"}
    now = datetime.now().astimezone()
    assert any(parse_time(j["available"]) > now + timedelta(seconds=30) for j in jobs)  # delayed ones
    assert any(j["label"] for j in jobs)


def test_demo_seeds_the_store_of_a_profile(quick_cli: Cli, tmp_path: Path) -> None:
    target = quick_cli.target
    config = tmp_path / "config.toml"
    store = f'store = "{target.uri}"\ncollection = "{target.collection}"'
    config.write_text(f"[profiles.local]\n{store}\n")
    env = {"JOBTUI_CONFIG": str(config)}
    result = CliRunner().invoke(app, ["--profile", "local", "demo", "--seed-only"], env=env)
    assert result.exit_code == 0, result.stderr
    assert f"seeded {len(blueprints())} demo jobs into {target.uri}" in result.stderr


# -- the headless worker host (a real process, stopped by SIGINT) -------------------


def start_worker(target: StoreTarget, *extra: str) -> subprocess.Popen[str]:
    return start_work("examples.tasks", *store_args(target), *extra)


def start_work(*args: str) -> subprocess.Popen[str]:
    """``jobtui work ARGS`` as a real process (stop it with :func:`stop_worker`)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", "work", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_worker(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    """Send ``sig``, then wait (bounded) for the graceful exit; returns (exit code, stderr)."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"jobtui work did not stop within 30 s after {sig.name}:\n{err}") from None
    return proc.returncode, err


async def _drop(target: StoreTarget, store: Store) -> None:
    await target.support.drop(store)


@pytest.mark.parametrize(
    ("sig", "grace", "steps", "expected"),
    [
        # Ctrl-C: a long job does not finish within the grace period: it fails for retry (not lost)
        (signal.SIGINT, "0.5", 150, Status.FAILED),
        # SIGTERM (service managers): a short job is allowed to finish
        (signal.SIGTERM, "30", 30, Status.COMPLETED),
    ],
)
async def test_work_processes_jobs_and_stops_gracefully_on_a_signal(
    target: StoreTarget, sig: signal.Signals, grace: str, steps: int, expected: Status
) -> None:
    store = await queuecore.connect(target.uri, collection=target.collection)
    proc = start_worker(target, "--grace", grace)
    try:
        quick = await queuecore.enqueue(store, Blueprint("quick", data={"n": 1}))
        slow = await queuecore.enqueue(store, Blueprint("slow", data={"steps": steps, "pause": 0.2}))
        assert quick is not None and slow is not None
        done = await wait_job(store, quick.id, lambda j: j.status == Status.COMPLETED, timeout=30)
        assert done.result == {"echo": {"n": 1}}
        running = await wait_job(store, slow.id, lambda j: (j.progress or 0) > 0, timeout=30)
        assert running.status == Status.DEQUEUED

        code, err = await asyncio.to_thread(stop_worker, proc, sig)
        assert code == 0, err
        after = await store.get(slow.id)
        assert after is not None
        assert after.status == expected, after
        if expected == Status.FAILED:
            assert after.reason == "queue closed while the job was running"
            assert after.attempts == 1
            assert f"failed     slow {slow.id} (attempt 1)" in err
        else:
            assert f"completed  slow {slow.id} (attempt 1)" in err
        assert await store.find(status=Status.DEQUEUED) == []  # nothing left claimed
        assert f"completed  quick {quick.id}" in err
        assert f"started    slow {slow.id}" in err
        assert "stopped" in err.splitlines()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        await _drop(target, store)
        await store.close()


@pytest.mark.parametrize("code", [0, 1])
def test_the_dashboards_exit_code_reaches_the_shell(
    quick_target: StoreTarget, monkeypatch, code: int
) -> None:
    """A dashboard that ended on an error exits non-zero (scripts and supervisors see it)."""
    from jobtui.tui.app import JobTUI

    def run(self: JobTUI, *args: object, **kwargs: object) -> None:
        self._return_code = code  # what Textual sets when the app quits (0) or an error ends it (1)

    monkeypatch.setattr(JobTUI, "run", run)
    result = CliRunner().invoke(app, store_args(quick_target))
    assert result.exit_code == code, result.output


# -- loading the tasks `jobtui work` hosts ---------------------------------------------

TASKS_FILE = """
import queue  # a module attribute named like the defaults must not be taken for the tasks

from queuecore import Task


def handler(ctx):
    pass


one = Task("from-file", handler)
"""


async def test_work_hosts_a_tasks_file_named_like_a_standard_module(
    quick_target: StoreTarget, tmp_path: Path
) -> None:
    """``jobtui work ./queue.py`` hosts that file's tasks (found among its module-level
    Tasks, next to an ``import queue``) and runs until stopped — the file never takes
    the place of the standard library's ``queue``, which the process itself needs."""
    (tmp_path / "queue.py").write_text(TASKS_FILE)
    proc = start_work(str(tmp_path / "queue.py"), *store_args(quick_target))
    try:
        assert proc.stderr is not None
        # the first line is "working: …" once running (or the error, or "" when it exits)
        first = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), timeout=30)
        assert f"working: from-file on {quick_target.uri}" in first, first + proc.communicate(timeout=30)[1]
        code, err = await asyncio.to_thread(stop_worker, proc, signal.SIGTERM)
        assert code == 0, err
        assert "Traceback" not in err and "stopped" in err.splitlines()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_work_spec_errors_are_one_line(
    quick_target: StoreTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec that names a handler instead of its tasks, or a module whose own import of
    another module fails, is explained in one line (and the module is not said missing)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "shop_tasks.py").write_text("import shop\n")
    db = store_args(quick_target)
    runner = CliRunner()
    result = runner.invoke(app, ["work", "examples.tasks:quick", *db])
    assert_one_line_error(result, "examples.tasks:quick", "missing 1 required positional argument")
    result = runner.invoke(app, ["work", "shop_tasks", *db])
    assert_one_line_error(result, "cannot import 'shop_tasks'", "No module named 'shop'")
    (tmp_path / "no_tasks.py").write_text("import queue\ntasks = []\n")
    result = runner.invoke(app, ["work", "no_tasks", *db])
    assert_one_line_error(result, "'no_tasks' defines no queuecore.Task")
    twice = "from queuecore import Task\ntasks = [Task('a', print), Task('b', print), Task('a', print)]\n"
    (tmp_path / "twice.py").write_text(twice)
    result = runner.invoke(app, ["work", str(tmp_path / "twice.py"), *db])
    assert_one_line_error(result, "task names twice: a")
    missing = str(tmp_path / "missing.py")
    assert_one_line_error(runner.invoke(app, ["work", missing, *db]), f"no such file: {missing}")


SYNC_TASKS = """
import time

from queuecore import Task


def stuck(ctx):  # a plain `def` handler runs in a thread, which cannot be stopped
    time.sleep(600)


tasks = [Task("stuck", stuck, workers=1)]
"""


async def test_work_exits_after_the_grace_period_though_a_thread_handler_still_runs(
    quick_target: StoreTarget, tmp_path: Path
) -> None:
    """A plain ``def`` handler's thread cannot be stopped: on SIGTERM its job fails for retry
    after ``--grace`` (as documented) — and the process then exits, rather than waiting for
    the thread and outliving its service manager's stop timeout."""
    (tmp_path / "sync_tasks.py").write_text(SYNC_TASKS)
    store = await queuecore.connect(quick_target.uri, collection=quick_target.collection)
    proc = start_work(str(tmp_path / "sync_tasks.py"), *store_args(quick_target), "--grace", "0.2")
    try:
        job = await queuecore.enqueue(store, Blueprint("stuck"))
        assert job is not None
        await wait_job(store, job.id, lambda j: j.status == Status.DEQUEUED, timeout=30)
        code, err = await asyncio.to_thread(stop_worker, proc, signal.SIGTERM)  # bounded: 30 s of 600
        assert code == 0, err
        after = await store.get(job.id)
        assert after is not None and after.status == Status.FAILED
        assert after.reason == "queue closed while the job was running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        await store.close()


@pytest.mark.parametrize("command", ["work", "ls"])
def test_the_dashboards_workers_option_before_a_command_is_refused(
    quick_target: StoreTarget, command: str
) -> None:
    """`jobtui --workers X work Y` used to drop --workers without a word."""
    args = [*store_args(quick_target), "--workers", "examples.tasks", command] + (
        ["examples.tasks"] if command == "work" else []
    )
    line = assert_one_line_error(
        CliRunner().invoke(app, args), f"--workers is an option of the dashboard, not of {command}"
    )
    assert ("jobtui work MODULE" in line) == (command == "work")


def test_the_work_commands_handler_threads_are_reused_daemons_that_never_block_each_other() -> None:
    import threading

    from jobtui.workers import HandlerThreads

    pool = HandlerThreads()
    one_by_one = [pool.submit(threading.get_ident).result(timeout=5) for _ in range(5)]
    assert len(set(one_by_one)) == 1  # an idle thread takes the next call (no thread per call)
    gate = threading.Event()
    blocked = pool.submit(gate.wait, 10)  # a handler that hangs blocks no other call
    assert pool.submit(lambda: threading.current_thread().daemon).result(timeout=5) is True
    gate.set()
    assert blocked.result(timeout=5) is True
    failing = pool.submit(int, "x")
    assert isinstance(failing.exception(timeout=5), ValueError)
    pool.shutdown(wait=True)  # returns at once: nothing is joined


def test_python_dash_m_jobtui_is_the_jobtui_command() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "jobtui", "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout and "ls" in done.stdout
