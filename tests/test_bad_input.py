"""Bad input (issue 6): one clear message, nothing lost, a non-zero exit. On both engines
where the engine matters. Documents in the jobs collection that are not valid jobs:
``contract/test_malformed_documents.py``.

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

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect, OperationFailure
from support.cli import Cli, assert_one_line_error, in_store
from support.tui import static_text, wait_for
from support.waits import wait_all
from textual.widgets import Static
from typer.testing import CliRunner

import queuecore
from jobtui.cli import app
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import ConnectionScreen
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


# -- URIs: one line, never a password ---------------------------------------------------------

SECRET = "s3cr3t-pw"
BAD_URIS = [
    # a secret only in the query string: the host must not be garbled by the masking
    (
        f"mongodb://127.0.0.1:1/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:{SECRET}",
        "cannot reach MongoDB at mongodb://127.0.0.1:1/?",
    ),
    (
        f"mongodb://bob:{SECRET}@127.0.0.1:1/db?tlsCertificateKeyFilePassword={SECRET}",
        "bob:***@127.0.0.1:1/db",
    ),
    # invalid option values: refused at once (pymongo only warns, and would wait 30 s for the first)
    (f"mongodb://bob:{SECRET}@127.0.0.1:1/db?serverSelectionTimeoutMS=abc", "invalid MongoDB URI"),
    (f"mongodb://bob:{SECRET}@127.0.0.1:1/db?w=1&wtimeoutMS=soon", "invalid MongoDB URI"),
    (f"mongodb://bob:{SECRET}@127.0.0.1:1/db?authMechanism=BOGUS", "invalid MongoDB URI"),
    (f"mongodb://bob:{SECRET}@127.0.0.1:99999/db", "invalid MongoDB URI"),
    (f"mongodb://bob:{SECRET}@/db", "invalid MongoDB URI"),
    (f"mongodb://:{SECRET}@127.0.0.1:1/", "invalid MongoDB URI"),
    (f"mongodb://bob:{SECRET}@127.0.0.1:1/db name", "invalid MongoDB URI"),
    (f"mongodb://b%zzob:{SECRET}@127.0.0.1:1/db", "invalid MongoDB URI"),
    # an unescaped "?" in the password: hidden whole, not taken for the query string
    (f"mongodb://bob:pa?{SECRET}@127.0.0.1:1/db", "invalid MongoDB URI mongodb://bob:***@127.0.0.1:1/db"),
]


@pytest.mark.parametrize(("uri", "needle"), BAD_URIS)
def test_bad_mongodb_uri_is_one_line_without_the_password(uri: str, needle: str) -> None:
    env = {"JOBTUI_CONNECT_TIMEOUT": "0.5"}
    for command in (["stats"], ["enqueue", "x", "--data", '{"a": 1}']):
        result = CliRunner().invoke(app, [*command, "--mongo", uri], env=env)
        line = assert_one_line_error(result, needle)
        assert SECRET not in line and "UserWarning" not in result.stderr


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        (OperationFailure("Authentication failed.", code=18), "authentication failed for MongoDB at "),
        (OperationFailure("not authorized on db", code=13), "refused: the user may not use this database"),
        (AutoReconnect("connection reset"), "cannot reach MongoDB at "),
    ],
)
async def test_a_server_that_refuses_is_not_called_unreachable(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch, error: Exception, needle: str
) -> None:
    """Opening the store tells "the server said no" (wrong password, no rights) from "no
    server": the operator fixes the credentials, not the network. No password is shown."""
    from pymongo.asynchronous.database import AsyncDatabase

    async def answer(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(AsyncDatabase, "command", answer)
    uri = mongo_uri if "@" in mongo_uri else mongo_uri.replace("mongodb://", f"mongodb://bob:{SECRET}@", 1)
    with pytest.raises(queuecore.ConnectError) as refused:
        await queuecore.connect(uri)
    message = str(refused.value)
    assert message.startswith(needle) or needle in message, message
    assert SECRET not in message and "\n" not in message


@pytest.mark.parametrize(
    "error",
    [
        KeyError("payload"),  # pymongo's SCRAM code on a server that answers without a payload
        KeyError(f"payload {SECRET}"),  # a driver message quoting the password
        AttributeError("'NoneType' object has no attribute 'get'"),
        RuntimeError(f"mongodb://bob:{SECRET}@h: handshake broke"),
    ],
)
async def test_a_driver_internal_failure_on_connect_is_one_masked_connect_error(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """Whatever the driver raises from inside itself while the store opens: a ConnectError
    naming the store (password masked), for the API; one ``error:`` line for the CLI."""
    from pymongo.asynchronous.database import AsyncDatabase

    async def answer(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(AsyncDatabase, "command", answer)
    uri = mongo_uri if "@" in mongo_uri else mongo_uri.replace("mongodb://", f"mongodb://bob:{SECRET}@", 1)
    with pytest.raises(queuecore.ConnectError) as refused:
        await queuecore.connect(uri)
    message = str(refused.value)
    assert message.startswith("cannot open MongoDB at ") and type(error).__name__ in message, message
    assert SECRET not in message and "\n" not in message
    result = await asyncio.to_thread(CliRunner().invoke, app, ["stats", "--mongo", uri])
    assert SECRET not in assert_one_line_error(result, "cannot open MongoDB at ", type(error).__name__)


def test_a_failed_authentication_handshake_is_one_line(mongo_uri: str) -> None:
    """A user name the server cannot authenticate (nx-27017 breaks pymongo's SCRAM handshake
    with ``KeyError: 'payload'``; a real server refuses): one line, no password, exit 1."""
    uri = (
        mongo_uri.replace("mongodb://", f"mongodb://bob:{SECRET}@", 1) if "@" not in mongo_uri else mongo_uri
    )
    for command in (["stats"], ["ls"], ["enqueue", "x"]):
        result = CliRunner().invoke(app, [*command, "--mongo", uri], env={"JOBTUI_CONNECT_TIMEOUT": "2"})
        assert SECRET not in assert_one_line_error(result, "MongoDB at ")


async def test_dashboard_shows_a_bad_uri_masked_not_garbled() -> None:
    app_ = JobTUI(BAD_URIS[0][0] + "&serverSelectionTimeoutMS=300")
    async with app_.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app_.screen, ConnectionScreen))
        text = "\n".join(static_text(w) for w in app_.screen.query(Static))
        assert "cannot reach MongoDB" in text and "127.0.0.1:1" in text
        assert SECRET not in text and SECRET not in app_.sub_title


@pytest.mark.parametrize("collection", ["people", "jobs"])
def test_another_programs_sqlite_table_is_refused_and_left_untouched(tmp_path: Path, collection: str) -> None:
    """``--sqlite app.db`` (a wrong file) or ``--collection people`` (a wrong table): one line, and
    no change-feed trigger is put on that program's table, which would break its every insert."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.execute("CREATE TABLE jobs (title TEXT, salary INTEGER)")
    result = CliRunner().invoke(app, ["ls", "--sqlite", str(path), "--collection", collection])
    assert_one_line_error(result, f"table '{collection}' is not a queuecore jobs table", "no column id")
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
        assert tables == ["jobs", "people"]
        conn.execute("INSERT INTO people VALUES ('ada')")  # still works
        conn.execute("INSERT INTO jobs VALUES ('engineer', 1)")
