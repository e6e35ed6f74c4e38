"""A bad or refused MongoDB URI: one clear line, never a password (issue 6). Invalid option
values are refused at once; a server that says no (wrong password, no rights) is told from no
server; whatever the driver raises from inside itself while the store opens is one masked
``ConnectError``; the dashboard shows the masked URI on its connection screen."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure
from support.cli import assert_one_line_error
from support.tui import static_text, wait_for
from textual.widgets import Static
from typer.testing import CliRunner

import queuecore
from jobtui.cli import app
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import ConnectionScreen

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


async def connect_failing(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> tuple[str, str]:
    """Open a store (with a password in its URI) whose every server command raises ``error``;
    returns the URI and the ConnectError's message."""
    from pymongo.asynchronous.database import AsyncDatabase

    async def answer(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(AsyncDatabase, "command", answer)
    uri = mongo_uri if "@" in mongo_uri else mongo_uri.replace("mongodb://", f"mongodb://bob:{SECRET}@", 1)
    with pytest.raises(queuecore.ConnectError) as refused:
        await queuecore.connect(uri)
    return uri, str(refused.value)


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
    _, message = await connect_failing(mongo_uri, monkeypatch, error)
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
    uri, message = await connect_failing(mongo_uri, monkeypatch, error)
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


URIS_WITH_PASSWORDS = [
    ("mongodb://bob:s3cr3t-pw@127.0.0.1:1/db", "cannot reach MongoDB"),
    ("mongodb://bob:s3cr3t-pw@[bad/db", "invalid MongoDB URI"),
    ("ftp://bob:s3cr3t-pw@example.com/jobs", "--mongo expects a mongodb://"),
]


@pytest.mark.parametrize(("uri", "needle"), URIS_WITH_PASSWORDS)
@pytest.mark.parametrize("command", [["ls"], ["stats", "--json"], ["enqueue", "x"]])
def test_bad_store_uri_is_one_line_with_the_password_masked(
    uri: str, needle: str, command: list[str]
) -> None:
    env = {"JOBTUI_CONNECT_TIMEOUT": "0.5"}
    result = CliRunner().invoke(app, [*command, "--mongo", uri], env=env)
    line = assert_one_line_error(result, needle, "bob:***@")
    assert "s3cr3t" not in line


def test_bad_uri_from_the_environment_is_masked_too() -> None:
    env = {"JOBTUI_MONGO_URI": "mongodb://bob:s3cr3t-pw@127.0.0.1:1/db", "JOBTUI_CONNECT_TIMEOUT": "0.5"}
    result = CliRunner().invoke(app, ["stats"], env=env)
    line = assert_one_line_error(result, "cannot reach MongoDB", "bob:***@")
    assert "s3cr3t" not in line


UNREACHABLE = "mongodb://operator:s3cret-pw@127.0.0.1:1/?serverSelectionTimeoutMS=300"


def problem_text(app: JobTUI) -> str:
    screen = app.screen
    assert isinstance(screen, ConnectionScreen)
    return "\n".join(static_text(w) for w in screen.query(Static))


async def test_unreachable_mongodb_shows_the_problem_masked_with_retry() -> None:
    app = JobTUI(UNREACHABLE)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ConnectionScreen) and bool(app.screen.query("#connection-problem"))
            ),
        )
        text = problem_text(app)
        assert "Cannot open the job store" in text
        assert "cannot reach MongoDB" in text
        assert "operator:***@127.0.0.1:1" in text
        assert "s3cret-pw" not in text and "s3cret-pw" not in app.sub_title
        await pilot.press("r")
        await wait_for(pilot, lambda: any("Still cannot connect" in n.message for n in app._notifications))
        assert isinstance(app.screen, ConnectionScreen)
        assert "s3cret-pw" not in problem_text(app)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
