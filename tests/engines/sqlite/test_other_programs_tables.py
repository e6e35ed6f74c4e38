"""A SQLite file of another program (``--sqlite app.db``) or a table of its own
(``--collection people``): refused in one line, and left exactly as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support.cli import assert_one_line_error
from typer.testing import CliRunner

from jobtui.cli import app


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
