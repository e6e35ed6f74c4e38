"""``--sqlite``/``$JOBTUI_SQLITE`` given a URI of another scheme (``mongodb://user:pw@h/db``, also
with whitespace around it or without ``//``, or credentials without a scheme: ``user:pw@h/db``)
is refused with one masked line and a non-zero exit; nothing is created (it used to be taken
for a relative path: directories named after the URI, password and all, exit 0) (issue 11)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.cli import assert_one_line_error
from typer.testing import CliRunner

import queuecore
from jobtui.cli import app

SECRET = "hunter2pw"


NOT_SQLITE = [
    f"mongodb://user:{SECRET}@db.example.com/jobs",
    f"mongodb+srv://user:{SECRET}@cluster.example.com/",
    f"postgresql://user:{SECRET}@localhost/jobs",
    f"file://user:{SECRET}@host/jobs.db",
    f"http://h/x?token={SECRET}",
    # whitespace around a scheme, a scheme without "//", credentials without a scheme: each
    # used to become a file named after the URI, password and all
    f" mongodb://user:{SECRET}@db.example.com/jobs",
    f"\tmongodb://user:{SECRET}@h/db",
    " sqlite:///jobs.db",
    f"mongodb:user:{SECRET}@h",
    f"sqlite:user:{SECRET}@x.db",
    f"user:{SECRET}@h/db",
    f"sqlite:///user:{SECRET}@h/db",
]


@pytest.mark.parametrize("value", NOT_SQLITE)
def test_a_uri_of_another_scheme_is_no_sqlite_store(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before anything is opened: masked, exit ≠ 0, no file or directory anywhere."""
    work, home = tmp_path / "cwd", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    monkeypatch.chdir(work)
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "JOBTUI_MONGO_URI": ""}
    runner = CliRunner()
    for args, extra in [
        (["stats", "--sqlite", value], {}),
        (["--sqlite", value, "ls"], {}),
        (["enqueue", "mail", "--sqlite", value], {}),
        (["--sqlite", value], {}),  # the dashboard
        (["stats"], {"JOBTUI_SQLITE": value}),
        (["enqueue", "mail"], {"JOBTUI_SQLITE": value}),
    ]:
        result = runner.invoke(app, args, env={**env, **extra})
        source = "JOBTUI_SQLITE" if extra else "--sqlite"
        line = assert_one_line_error(result, f"{source} expects a file path or a sqlite:/// URI")
        assert SECRET not in line, line
        assert list(work.iterdir()) == [] and list(home.iterdir()) == [], args


@pytest.mark.parametrize(
    "value", [f"mongodb:user:{SECRET}@h", f"user:{SECRET}@h/db", f"sqlite:user:{SECRET}@x.db"]
)
def test_connect_refuses_a_plain_path_that_is_a_uri(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library too: a "path" that is a URI or credentials is refused, masked, nothing made."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(queuecore.ConnectError, match="a SQLite store is a file path") as caught:
        asyncio.run(queuecore.connect(value))
    assert SECRET not in str(caught.value)
    assert list(tmp_path.iterdir()) == []
