"""Which engine ``connect()`` opens: by the URI's scheme, one a package adds with an entry point
(``queuecore.engines``), and one clear error for a scheme no engine is known for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import queuecore
from queuecore import Blueprint
from queuecore.store import registry

SECRET = "hunter2pw"

#: A package that adds the ``fakeq://`` scheme: it opens the SQLite file named by the rest of
#: the URI, and records how it was called. It also claims ``sqlite``, which it may not take.
ENGINE = """
import queuecore

CALLS = []


async def open_store(uri, **options):
    CALLS.append((uri, options))
    return await queuecore.connect(uri.split("://", 1)[1], collection=options["collection"])
"""


@pytest.fixture
def fake_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the ``fakeq`` engine package (a module and its dist-info) on ``sys.path``."""
    site = tmp_path / "site"
    info = site / "fakeq_engine-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "fakeq_engine.py").write_text(ENGINE)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeq-engine\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[queuecore.engines]\nfakeq = fakeq_engine:open_store\nsqlite = fakeq_engine:open_store\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "fakeq_engine", raising=False)
    return site


@pytest.mark.parametrize(
    "uri",
    [
        f"cassandra://user:{SECRET}@localhost/jobs",
        f"redis://:{SECRET}@localhost:6379/0",
        f"ftp://user:{SECRET}@host/db",
    ],
)
async def test_an_unknown_scheme_is_one_error_naming_the_known_ones(
    uri: str, fake_engine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(queuecore.ConnectError) as info:
        await queuecore.connect(uri)
    message = str(info.value)
    scheme = uri.split("://")[0]
    assert message.startswith(f"unsupported URI scheme {scheme!r} in '{scheme}://")
    assert SECRET not in message and ":***@" in message
    # every engine that could open a store, the built-in ones in the registry's order, then the
    # installed one
    builtin = ["sqlite:///" if s == "sqlite" else f"{s}://" for s in registry.BUILTIN]
    assert ", ".join([*builtin, "fakeq://"]) in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # noqa: ASYNC240 - no file made
    assert "fakeq_engine" not in sys.modules  # listing the schemes loads no engine


async def test_an_engine_registered_by_an_entry_point_is_used_by_connect(
    fake_engine: Path, tmp_path: Path
) -> None:
    assert "fakeq_engine" not in sys.modules
    uri = f"fakeq://{tmp_path}/jobs.db"
    store = await queuecore.connect(uri, collection="work", timeout=2.0, query_timeout=7.0, create=True)
    try:
        calls = sys.modules["fakeq_engine"].CALLS
        assert calls == [(uri, {"collection": "work", "timeout": 2.0, "create": True})]
        assert store.query_timeout == 7.0  # connect's own options still apply
        job = await queuecore.enqueue(store, Blueprint("mail"))
        assert job is not None and (await store.get(job.id)) is not None
    finally:
        await store.close()
    assert (tmp_path / "jobs.db").exists()


async def test_only_its_own_scheme_goes_to_an_installed_engine(
    fake_engine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its package also claims ``sqlite``: a built-in scheme cannot be taken over, and a plain
    path (a Windows-like drive too) stays a SQLite file."""
    monkeypatch.chdir(tmp_path)
    await (await queuecore.connect(f"fakeq://{tmp_path}/theirs.db")).close()
    for uri in [f"sqlite:///{tmp_path}/own.db", "plain.db", "C:\\drive.db", str(tmp_path / "abs.db")]:
        store = await queuecore.connect(uri)
        await store.close()
        assert store.engine == "sqlite", uri
    assert len(sys.modules["fakeq_engine"].CALLS) == 1
    assert {"own.db", "plain.db", "C:\\drive.db", "abs.db"} <= {p.name for p in tmp_path.iterdir()}  # noqa: ASYNC240


async def test_an_engine_that_cannot_be_loaded_is_one_connect_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "broken_engine-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-engine\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[queuecore.engines]\nbroken = no_such_module_xyz:open_store\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        queuecore.ConnectError, match=r"cannot load the engine for broken:// .*ModuleNotFound"
    ):
        await queuecore.connect(f"broken://user:{SECRET}@h/db")


def test_a_sqlite_store_does_not_import_pymongo(tmp_path: Path) -> None:
    """The MongoDB engine (and its driver) is imported only for a ``mongodb`` URI."""
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        import queuecore

        async def main():
            async with await queuecore.connect({str(tmp_path / "jobs.db")!r}) as store:
                await queuecore.enqueue(store, queuecore.Blueprint("mail"))
                await store.find(query=queuecore.parse("status:enqueued mail"))

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.split(".")[0] == "pymongo"
                     or m.startswith("queuecore.store.mongo"))[:3])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
