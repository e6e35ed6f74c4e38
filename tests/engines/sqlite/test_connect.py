"""Opening SQLite stores: the URI forms, an invalid one, and a path that cannot be opened."""

from __future__ import annotations

import pytest
from support.cli import assert_one_line_error
from typer.testing import CliRunner

import queuecore
from jobtui.cli import app
from queuecore import Blueprint


async def test_connect_uri_forms(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for uri, path in [
        ("sqlite:///rel/a.db", tmp_path / "rel" / "a.db"),
        (f"sqlite:///{tmp_path}/abs.db", tmp_path / "abs.db"),
        ("plain.db", tmp_path / "plain.db"),
    ]:
        store = await queuecore.connect(uri)
        await queuecore.enqueue(store, Blueprint("x"))
        await store.close()
        assert path.exists(), uri


async def test_connect_to_an_unopenable_sqlite_file(tmp_path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(queuecore.ConnectError, match="cannot open SQLite database"):
        await queuecore.connect(str(tmp_path / "dir.db"))


def test_invalid_sqlite_uri_is_one_line() -> None:
    assert_one_line_error(
        CliRunner().invoke(app, ["ls", "--sqlite", "sqlite://relative.db"]), "invalid SQLite URI"
    )
