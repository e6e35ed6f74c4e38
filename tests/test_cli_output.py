"""What ``jobtui`` prints and accepts from an operator at a shell: short ids for ``show``,
``cancel`` and ``requeue``; ``ls`` piped (whole cells), within ``$COLUMNS``/``--width`` (every
column kept) and ``--sort`` (server-side); ``--help`` without ``<bool>`` after a flag. What
reads or orders the store runs on every engine (``cli``); formatting alone, on the quickest
(``quick_cli``)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import ObjectId
from support.cli import Cli, assert_one_line_error, in_store, store_args
from support.engines import insert_raw
from typer.testing import CliRunner

import queuecore
from jobtui.cli import app
from queuecore import Blueprint, Status, Store
from queuecore.store.changes import Changes, Guard

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ("enqueue", "ls", "show", "cancel", "requeue", "stats", "audit", "work", "demo")


# -- --help ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)])
def test_help_shows_no_bool_metavar_after_a_flag(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stdout
    assert "<bool>" not in result.stdout and "BOOL" not in result.stdout, result.stdout
    flags = [line for line in result.stdout.splitlines() if "--help" in line]
    assert flags and "Show this message and exit." in flags[0]


# -- short ids ---------------------------------------------------------------------------


async def insert_job(store: Store, oid: ObjectId, name: str, status: str = "enqueued") -> None:
    """A well-formed job with an id chosen by the test (two can share a short id)."""
    now = datetime.now(UTC)
    await insert_raw(
        store,
        {
            "_id": oid,
            "name": name,
            "label": "",
            "data": {},
            "status": status,
            "created_at": now,
            "available_at": now,
            "attempts": 0,
        },
    )


TWINS = (ObjectId("aaaaaaaa00000000f0fc917e"), ObjectId("bbbbbbbb00000000f0fc917e"))
SINGLE = ObjectId("cccccccc0000000012345678")


def seed_ids(cli: Cli) -> None:
    async def seed(store: Store) -> None:
        await insert_job(store, TWINS[0], "twin-\x1b[2J-one")  # a hostile name: shown inert
        await insert_job(store, TWINS[1], "twin-two")
        await insert_job(store, SINGLE, "single", status="failed")

    in_store(cli.target, seed)


def test_short_ids_find_their_job_for_show_cancel_and_requeue(cli: Cli) -> None:
    seed_ids(cli)
    assert cli.json("show", "12345678")["id"] == str(SINGLE)  # the short id (a suffix)
    assert cli.json("show", "cccccccc")["id"] == str(SINGLE)  # a prefix
    assert cli.json("show", "CCCC0000000012345678")["id"] == str(SINGLE)  # any case
    assert cli.ok("requeue", "12345678").stdout.strip() == f"re-enqueued {SINGLE}"
    assert cli.ok("cancel", "2345678", "--reason", "dup").stdout.strip() == f"cancelled {SINGLE}"
    job = in_store(cli.target, lambda s: s.get(SINGLE))
    assert job is not None and job.status is Status.CANCELLED and job.reason == "dup"
    [entry, _] = in_store(cli.target, lambda s: s.find_audit(2))
    assert entry.action == "cancel" and entry.ids == [str(SINGLE)]  # the full id is recorded


@pytest.mark.parametrize("command", [["show"], ["show", "--json"], ["cancel"], ["requeue"]])
def test_an_ambiguous_short_id_lists_the_candidates_and_changes_nothing(cli: Cli, command: list[str]) -> None:
    seed_ids(cli)
    result = cli(command[0], "f0fc917e", *command[1:])
    assert result.exit_code == 1 and result.stdout == ""
    first, *candidates = result.stderr.splitlines()
    assert first == "error: 2 jobs have 'f0fc917e' in their id; give more digits:"
    assert sorted(line.split()[0] for line in candidates) == sorted(str(t) for t in TWINS)
    assert "\x1b" not in result.stderr and "twin-␛[2J-one" in result.stderr
    counts = cli.counts()
    assert counts["enqueued"] == 2 and counts["cancelled"] == 0 and counts["failed"] == 1


@pytest.mark.parametrize("command", ["show", "cancel", "requeue"])
def test_a_short_id_of_no_job_is_one_error_line(quick_cli: Cli, command: str) -> None:
    seed_ids(quick_cli)
    assert_one_line_error(quick_cli(command, "0123abcd"), "no job 0123abcd")
    assert_one_line_error(quick_cli(command, "f0fc917g"), "not a job id: 'f0fc917g'")
    assert_one_line_error(quick_cli(command, "f0fc 917e"), "not a job id")


def test_many_candidates_are_listed_up_to_ten(quick_cli: Cli) -> None:
    async def seed(store: Store) -> None:
        for n in range(12):
            await insert_job(store, ObjectId(f"{n:08x}0000000077777777"), f"job{n}")

    in_store(quick_cli.target, seed)
    result = quick_cli("show", "77777777")
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and lines[0].startswith("error: 12 jobs have '77777777'")
    assert len(lines) == 12 and lines[-1] == "  … and 2 more"


# -- ls: piped, widths -------------------------------------------------------------------

LONG_NAME = "send-the-quarterly-report-to-every-subscriber"
LONG_LABEL = "customer-" + "x" * 50
LONG_REASON = "upstream timed out after 30s; " * 8
HEADERS = ("ID", "NAME", "LABEL", "STATUS", "ATT", "AGE", "WAIT", "PROG", "REASON")


def seed_long(cli: Cli) -> ObjectId:
    async def seed(store: Store) -> ObjectId:
        job = await queuecore.enqueue(store, Blueprint(LONG_NAME, label=LONG_LABEL))
        assert job is not None and await queuecore.dequeue(store, job.id, 60) is not None
        await queuecore.fail(store, job.id, LONG_REASON.strip(), 0)
        await queuecore.enqueue(store, Blueprint("short"))
        return job.id

    return in_store(cli.target, seed)


def test_ls_piped_prints_every_column_and_whole_cells(quick_cli: Cli) -> None:
    job_id = seed_long(quick_cli)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "jobtui.cli", "ls", *store_args(quick_cli.target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    header, *rows = proc.stdout.splitlines()
    assert header.split() == list(HEADERS)
    [row] = [r for r in rows if r.startswith(str(job_id))]
    for whole in (LONG_NAME, LONG_LABEL, LONG_REASON.strip(), "failed"):
        assert whole in row
    assert "…" not in proc.stdout and "\x1b" not in proc.stdout
    assert all(line == line.rstrip() for line in proc.stdout.splitlines())


@pytest.mark.parametrize("how", ["--width", "COLUMNS"])
def test_ls_within_a_width_keeps_every_column(quick_cli: Cli, how: str) -> None:
    job_id = seed_long(quick_cli)
    if how == "--width":
        result = quick_cli("ls", "--width", "120", env={"COLUMNS": "60"})  # the option wins
    else:
        result = quick_cli("ls", env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == list(HEADERS)
    assert all(len(line) <= 120 for line in lines), lines
    [row] = [r for r in lines if r.startswith(str(job_id))]
    assert "failed" in row and "…" in row  # cut, not dropped


def test_ls_narrower_than_its_columns_runs_past_the_width_rather_than_drop_one(quick_cli: Cli) -> None:
    seed_long(quick_cli)
    result = quick_cli("ls", "--width", "40")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == list(HEADERS)


def test_ls_width_zero_is_no_limit(quick_cli: Cli) -> None:
    seed_long(quick_cli)
    out = quick_cli("ls", "--width", "0", env={"COLUMNS": "60"}).stdout
    assert LONG_REASON.strip() in out and "…" not in out


def test_ls_shows_progress_only_while_a_job_runs(quick_cli: Cli) -> None:
    async def seed(store: Store) -> tuple[ObjectId, ObjectId]:
        ids = []
        for name in ("finished", "running"):
            job = await queuecore.enqueue(store, Blueprint(name))
            assert job is not None and await queuecore.dequeue(store, job.id, 60) is not None
            # as a worker's ctx.update(progress=0.5) writes it
            await store.update(job.id, Guard.status(Status.DEQUEUED), Changes(progress=0.5))
            ids.append(job.id)
        await queuecore.complete(store, ids[0], {})
        return ids[0], ids[1]

    finished, running = in_store(quick_cli.target, seed)
    rows = {line.split()[0]: line for line in quick_cli.ok("ls").stdout.splitlines()[1:]}
    assert "50%" in rows[str(running)]
    assert "50%" not in rows[str(finished)]


# -- ls --sort ------------------------------------------------------------------------------


def test_ls_sort_orders_in_the_database_before_the_limit(cli: Cli) -> None:
    async def seed(store: Store) -> None:
        for name in ("a", "k", "z", "m"):  # the two newest (z, m) are not the first by name
            await queuecore.enqueue(store, Blueprint(name))
        job = (await store.find(name="k"))[0]
        assert await queuecore.dequeue(store, job.id, 60) is not None
        await queuecore.fail(store, job.id, "x", 0)

    in_store(cli.target, seed)

    def names(*sort: str) -> list[str]:
        return [j["name"] for j in cli.json("ls", "--limit", "2", *sort)]

    assert names() == ["m", "z"]  # newest first
    assert names("--sort", "name") == ["a", "k"]
    assert names("--sort", "-name") == ["z", "m"]
    assert names("--sort", "name desc") == ["z", "m"]
    assert names("--sort", "+name") == ["a", "k"]
    assert names("--sort", "age desc") == ["a", "k"]  # oldest first
    assert names("--sort", "created") == ["m", "z"]
    assert names("--sort", "attempts desc") == ["k", "m"]  # ties: newest id first
    assert names("--sort=-att") == ["k", "m"]
    table = cli.ok("ls", "--sort", "name", "--width", "0").stdout.splitlines()
    assert [line.split()[1] for line in table[1:]] == ["a", "k", "m", "z"]


def test_ls_sort_refuses_an_unknown_field(quick_cli: Cli) -> None:
    assert_one_line_error(quick_cli("ls", "--sort", "colour"), "invalid --sort", "cannot sort by 'colour'")
    assert_one_line_error(quick_cli("ls", "--sort", "name up"), "invalid --sort", "asc or desc")
