"""Bad input (issue 6): one clear message, nothing lost, a non-zero exit, on every engine.
A bad MongoDB URI: engines/mongo/test_connect_errors.py; another program's SQLite table:
engines/sqlite/test_other_programs_tables.py. Documents in the jobs collection that are not
valid jobs: ``contract/test_malformed_documents.py``.

Already covered elsewhere, not repeated: non-JSON and non-object ``--data``, a 5 MB inline
``--data``, unknown and invalid ids, unreachable and invalid URIs with a password in the user
info (test_cli.py); a 10 MB payload through the API (contract/test_transitions.py); unknown task names left
enqueued and data failing the task's model cancelled (test_queue.py); one malformed document
per engine in reads, the live model and the jobs screen (contract/test_store.py, test_tui_live.py,
test_tui_app.py).

``jobtui enqueue`` loads no tasks unless told (they live in the worker processes): without
``--tasks MODULE`` a task name no worker knows, or data that fails the task's model, is
accepted (exit 0). Nothing is lost either way: the job waits for a worker of that name, or the
worker cancels it with a reason that names the field, its data kept for a fix and a requeue.
With ``--tasks`` both are refused before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import pytest
from bson import ObjectId
from support.cli import Cli, assert_one_line_error, in_store
from support.waits import wait_all

import queuecore
from jobtui.workers import build_queue
from queuecore import Job, Store

T = TypeVar("T")


def finished(job: Job) -> bool:
    return job.status in queuecore.FINISHED


# -- enqueue: bad --data and --delay ----------------------------------------------------------


BAD_DATA = {
    "not UTF-8": (b'{"name": "caf\xe9"}', "is not UTF-8 text"),
    "nested too deeply": (
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested deeper than the limit of 64",
    ),
    "NaN is not JSON": (b'{"ratio": NaN}', "not JSON-compatible"),
    "an integer over 64 bits": (b'{"ids": [1, {"n": 18446744073709551616}]}', "outside the 64-bit range"),
    "10 MB": (json.dumps({"blob": "x" * (10 * 1024 * 1024)}).encode(), "10.0 MiB; the limit is 4 MiB"),
    # SQLite stored these and MongoDB refused them (or raised): one message on both engines
    "a lone surrogate": (b'{"s": "\\ud800 via cli"}', "a string '\\ud800 via cli' holds the lone surrogate"),
    "a NUL in a key": (b'{"a\\u0000b": 1}', "the key 'a\\x00b' holds NUL (\\u0000)"),
}


#: (case, inline): bytes that are not UTF-8 can only come from a file (an argument is text).
BAD_DATA_CASES = [
    (case, inline) for case in BAD_DATA for inline in (False, True) if not (inline and case == "not UTF-8")
]


@pytest.mark.parametrize(("case", "inline"), BAD_DATA_CASES)
def test_bad_data_is_one_line_and_nothing_is_enqueued(
    cli: Cli, tmp_path: Path, case: str, inline: bool
) -> None:
    raw, needle = BAD_DATA[case]
    path = tmp_path / "data.json"
    path.write_bytes(raw)
    data = raw.decode() if inline else f"@{path}"
    assert_one_line_error(cli("enqueue", "import", "--data", data), "invalid --data:", needle)
    assert sum(cli.counts().values()) == 0


@pytest.mark.parametrize("delay", ["inf", "1e300", "4e9"])
def test_out_of_range_delay_is_one_line_and_nothing_is_enqueued(cli: Cli, delay: str) -> None:
    assert_one_line_error(cli("enqueue", "later", "--delay", delay), "out of range")
    assert sum(cli.counts().values()) == 0


def test_job_data_is_stored_as_given_never_interpreted(cli: Cli) -> None:
    data = {
        "$where": "sleep(100000)",
        "$set": {"status": "completed"},
        "a.b": "dotted key",
        "code": "__import__('os').system('touch /tmp/pwned')",
        "nul": "a\u0000b",
    }
    job_id = cli.ok("enqueue", "careful", "--data", json.dumps(data)).stdout.strip()
    shown = cli.json("show", job_id)
    assert shown["data"] == data and shown["status"] == "enqueued"


def test_unknown_task_and_data_failing_the_model_lose_nothing(cli: Cli) -> None:
    unknown = cli.ok("enqueue", "no-such-task", "--data", '{"keep": "me"}').stdout.strip()
    invalid = cli.ok("enqueue", "send-mail", "--data", '{"to": 5, "subject": "hi"}').stdout.strip()
    valid = cli.ok("enqueue", "send-mail", "--data", '{"to": "ada@example.com"}').stdout.strip()
    reports: list[BaseException] = []

    async def work(store: Store) -> None:
        queue = build_queue(store, "examples.tasks", reporter=reports.append)
        async with queue:
            await wait_all(store, [ObjectId(invalid), ObjectId(valid)], finished)

    in_store(cli.target, work)
    assert cli.json("show", valid)["status"] == "completed"
    rejected = cli.json("show", invalid)
    assert rejected["status"] == "cancelled" and rejected["attempts"] == 1
    assert rejected["reason"].startswith("invalid data for task 'send-mail': to:"), rejected["reason"]
    assert rejected["data"] == {"to": 5, "subject": "hi"}  # kept: fix it and requeue
    assert any("invalid data for task 'send-mail'" in str(r) for r in reports)
    waiting = cli.json("show", unknown)
    assert waiting["status"] == "enqueued" and waiting["attempts"] == 0 and waiting["data"] == {"keep": "me"}
    assert [j["id"] for j in cli.json("ls", "--status", "cancelled")] == [invalid]


def test_enqueue_with_tasks_refuses_unknown_names_and_bad_data(cli: Cli) -> None:
    """``--tasks MODULE`` (as ``jobtui work`` loads it) lets a script check before enqueuing:
    an unknown task or data failing the model is one line, exit 1, and nothing is written."""
    for args, needle in (
        (("no-such-task",), "unknown task 'no-such-task': examples.tasks defines doomed, flaky,"),
        (("send-mail", "--data", '{"to": 5}'), "invalid data for task 'send-mail': to:"),
        (("quick", "--tasks", "examples.nowhere"), "no module named 'examples.nowhere'"),
    ):
        result = cli("enqueue", *args, *(() if "--tasks" in args else ("--tasks", "examples.tasks")))
        assert_one_line_error(result, needle)
    assert sum(cli.counts().values()) == 0
    job = cli.ok("enqueue", "send-mail", "--data", '{"to": "ada@example.com"}', "--tasks", "examples.tasks")
    assert cli.json("show", job.stdout.strip())["name"] == "send-mail"
