"""The store's identity (issue 11): a SQLite file deleted, replaced or truncated under running
processes is noticed (StoreGone), nothing is written into a file that took its place, and the
new file never shows the old one's pages; read-only commands never create a store; the WAL
is checkpointed by its size and truncated (on a full disk: test_full_disk.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from support.cli import Cli, assert_one_line_error
from support.targets import StoreTarget
from support.tui import started, static_text, wait_for
from textual.widgets import Static

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import ConnectionScreen
from queuecore import Blueprint, Context, Queue, StoreGone, Task
from queuecore.store.sqlite import WAL_LIMIT, SQLiteStore

REPO = Path(__file__).resolve().parents[3]
#: How long a test waits for a process to notice (it looks every second when idle).
NOTICE = 15.0


@pytest.fixture
async def old(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A store with a few jobs, as a running process has it open."""
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    assert isinstance(store, SQLiteStore)
    for n in range(5):
        await queuecore.enqueue(store, Blueprint("old", data={"n": n}))
    try:
        yield store
    finally:
        await store.close()


def names(path: Path) -> list[str]:
    """The job names in the file at ``path``, read by a plain SQLite connection."""
    conn = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in conn.execute("SELECT name FROM jobs"))
    finally:
        conn.close()


async def new_store_file(path: Path, name: str = "new") -> None:
    """A complete store file with one job named ``name`` (closed: no WAL of its own)."""
    store = await queuecore.connect(f"sqlite:///{path}")
    await queuecore.enqueue(store, Blueprint(name))
    await store.close()
    assert size(f"{path}-wal") == -1


def size(path: str | Path) -> int:
    """The size of the file at ``path`` (-1: there is none)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1


async def until(condition: Any, timeout: float = NOTICE) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - a file on disk has no event to await
            await asyncio.sleep(0.02)


# -- deleted, replaced, truncated --------------------------------------------------------


async def test_a_write_after_the_file_was_deleted_raises_store_gone(old: SQLiteStore) -> None:
    os.remove(old.path)
    with pytest.raises(StoreGone, match=rf"the store file {old.path} was deleted; stopped writing"):
        await queuecore.enqueue(old, Blueprint("lost"))
    with pytest.raises(StoreGone):  # reads too, from then on
        await old.find()
    with pytest.raises(StoreGone):
        await queuecore.enqueue_many(old, [Blueprint("lost")])
    # a new store made at the path is empty: it took up none of the old file's pages
    fresh = await queuecore.connect(f"sqlite:///{old.path}")
    try:
        assert await fresh.find() == []
        assert await queuecore.enqueue(fresh, Blueprint("fresh")) is not None
    finally:
        await fresh.close()
    await old.close()
    assert names(old.path) == ["fresh"]


async def test_a_replaced_file_gets_none_of_the_old_stores_writes(old: SQLiteStore, tmp_path: Path) -> None:
    """The file is replaced by another store (``mv``, its -wal and -shm left as they are) while
    the old store runs: the old store's later writes fail, and the new file shows its own
    jobs only — before and after the old store closes, and while it is written to."""
    await new_store_file(tmp_path / "other.db")
    os.replace(tmp_path / "other.db", old.path)
    for write in (
        lambda: queuecore.enqueue(old, Blueprint("after")),
        lambda: queuecore.enqueue_many(old, [Blueprint("after"), Blueprint("after")]),
        lambda: old.delete([ObjectId()]),
    ):
        with pytest.raises(StoreGone, match="was replaced; stopped writing"):
            await write()
    new = await queuecore.connect(f"sqlite:///{old.path}", create=False)
    try:
        assert [j.name for j in await new.find()] == ["new"]
        await old.close()  # abandons its connections: the new file's WAL stays where it is
        await queuecore.enqueue(new, Blueprint("newer"))
        assert sorted(j.name for j in await new.find()) == ["new", "newer"]
    finally:
        await new.close()
    assert names(old.path) == ["new", "newer"]


#: A producer that enqueues until its store's file goes (then prints why and exits).
PRODUCER = """
import asyncio, sys
import queuecore

async def main():
    store = await queuecore.connect(sys.argv[1])
    n = 0
    try:
        while True:
            await queuecore.enqueue(store, queuecore.Blueprint("old", data={"n": n}))
            n += 1
            if n == 20:
                print("writing", flush=True)
            await asyncio.sleep(0.002)
    except queuecore.StoreGone as exc:
        print("gone:", exc, flush=True)
    finally:
        await store.close()

asyncio.run(main())
"""


def test_a_file_replaced_under_a_writing_process_gets_none_of_its_writes(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, str(path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "writing\n"
        asyncio.run(new_store_file(tmp_path / "other.db"))
        os.replace(tmp_path / "other.db", path)  # its -wal and -shm are left as they are
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out == f"gone: the store file {path} was replaced; stopped writing\n", (out, err)
    assert names(path) == ["new"]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


#: A process that has the store open and reads it now and then, until its file goes.
READER = """
import asyncio, sys
import queuecore

async def main():
    store = await queuecore.connect(sys.argv[1])
    print("ready", flush=True)
    try:
        while True:
            await store.count()
            await asyncio.sleep(0.1)
    except queuecore.StoreGone:
        print("gone", flush=True)
    finally:
        await store.close()

asyncio.run(main())
"""


async def test_a_process_that_notices_late_leaves_the_new_file_alone(
    old: SQLiteStore, tmp_path: Path
) -> None:
    """Two processes have the store open; the file is replaced; this one notices at once, the
    other one a second later — by when a new store is in use at the path. The late one must
    not touch the new store's WAL (its jobs, not yet copied into the file, stay)."""
    late = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        READER,
        str(old.path),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert late.stdout is not None
        assert await late.stdout.readline() == b"ready\n"
        await new_store_file(tmp_path / "other.db")
        os.replace(tmp_path / "other.db", old.path)
        with pytest.raises(StoreGone):
            await queuecore.enqueue(old, Blueprint("after"))
        new = await queuecore.connect(f"sqlite:///{old.path}", create=False)
        try:
            for n in range(50):
                await queuecore.enqueue(new, Blueprint("newer", data={"n": n}))
            async with asyncio.timeout(30):
                assert await late.stdout.readline() == b"gone\n"
                await late.wait()
            assert await new.count() == 51
        finally:
            await new.close()
    finally:
        if late.returncode is None:
            late.kill()
            await late.wait()
    assert names(old.path) == ["new", *["newer"] * 50]


async def test_a_file_truncated_in_place_is_never_written_again(old: SQLiteStore) -> None:
    os.truncate(old.path, 0)
    with pytest.raises(StoreGone, match="was truncated; stopped writing"):
        await queuecore.enqueue(old, Blueprint("lost"))
    await old.close()
    assert old.path.stat().st_size == 0  # no page of the old store was written back into it


async def test_an_idle_store_notices_and_a_new_file_at_its_path_starts_clean(old: SQLiteStore) -> None:
    """Nobody calls the store: it still notices the deletion by itself and takes its -wal and
    -shm away (they were left there), so a store created at the path afterwards is clean."""
    wal = f"{old.path}-wal"
    assert size(wal) > 0
    os.remove(old.path)
    await until(lambda: size(wal) == -1)
    fresh = await queuecore.connect(f"sqlite:///{old.path}")
    try:
        assert await fresh.count() == 0
    finally:
        await fresh.close()


async def test_an_idle_queue_reports_it_once_and_stops(tmp_path: Path) -> None:
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    reports: list[BaseException] = []
    handled = asyncio.Event()

    async def handler(ctx: Context) -> None:
        handled.set()

    queue = Queue(store, reporter=reports.append)
    queue.add(Task("t", handler, workers=3))
    try:
        await queue.run()
        await queue.enqueue(Blueprint("t"))
        await handled.wait()  # then nothing happens: the queue idles
        os.remove(store.path)
        await until(lambda: queue.gone is not None)
        assert not queue.ready
        await queue.close()  # the workers have stopped: nothing is reported any more
        gone = [r for r in reports if isinstance(r, StoreGone)]
        assert len(gone) == 1 and "was deleted; stopped writing" in str(gone[0])
        assert reports == gone
    finally:
        await queue.close()
        await store.close()


def test_work_exits_with_one_line_when_its_file_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", "work", "examples.tasks", "--sqlite", str(path)],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = []
        while not any("working:" in line for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)  # the process ended before it was working
            lines.append(line)
        os.remove(path)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, rest
    outcomes = ("started", "completed")  # of the periodic example task, until the file went
    after = [line for line in rest.splitlines() if not line.split(" ", 1)[-1].startswith(outcomes)]
    assert after == [f"error: the store file {path} was deleted; stopped writing"], rest
    assert not path.exists()


def shown(app: JobTUI) -> str:
    """The text of the screen on top (its Static widgets), on one line."""
    return " ".join(static_text(w, width=500) for w in app.screen.query(Static))


async def test_the_dashboard_says_the_file_went_and_retry_never_recreates_it(old: SQLiteStore) -> None:
    app = JobTUI(f"sqlite:///{old.path}", workers="examples.tasks")
    async with app.run_test(size=(110, 30)) as pilot:
        await started(pilot)
        hosted = app.queue
        assert hosted is not None and hosted.ready
        os.remove(old.path)
        gone = f"the store file {old.path} was deleted; stopped writing"
        await wait_for(pilot, lambda: gone in shown(app), timeout=NOTICE)
        assert isinstance(app.screen, ConnectionScreen) and "The job store stopped" in shown(app)
        assert app.queue is None and not hosted.ready  # its workers stopped
        await pilot.press("r")
        await wait_for(pilot, lambda: any("Still cannot connect" in n.message for n in app._notifications))
        assert f"no store at {old.path}" in shown(app)
        assert not old.path.exists()
        await pilot.press("q")


# -- read-only commands never create a store ------------------------------------------------


def test_read_only_commands_refuse_a_missing_directory_and_a_file_without_the_table(tmp_path: Path) -> None:
    cli = Cli(StoreTarget("sqlite", "unused", "jobs"))
    missing = tmp_path / "no" / "such" / "dir" / "jobs.db"
    assert_one_line_error(cli.raw("ls", "--sqlite", str(missing)), f"no store at {missing}")
    assert not (tmp_path / "no").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert_one_line_error(cli.raw("stats", "--sqlite", str(empty)), f"no store at {empty}", "no table 'jobs'")
    assert empty.stat().st_size == 0 and sorted(os.listdir(tmp_path)) == ["empty.db"]
    # a store whose name needs quoting in a SQLite URI is read as usual
    odd = tmp_path / "a b?c#d%20e.db"
    asyncio.run(new_store_file(odd))
    result = cli.raw("ls", "--sqlite", str(odd), "--json")
    assert result.exit_code == 0, result.stderr
    # and a writing command still makes the store it is pointed at
    made = tmp_path / "made" / "jobs.db"
    assert cli.raw("enqueue", "x", "--sqlite", str(made)).exit_code == 0
    assert names(made) == ["x"]


async def test_the_read_only_dashboard_refuses_a_missing_store_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "jobs.db"
    app = JobTUI(f"sqlite:///{path}", read_only=True)
    async with app.run_test(size=(110, 30)) as pilot:
        await wait_for(pilot, lambda: f"no store at {path}" in shown(app))
        assert isinstance(app.screen, ConnectionScreen)
        await pilot.press("q")
    assert not (tmp_path / "missing").exists()


# -- the WAL ----------------------------------------------------------------------------------

#: What a WAL may hold above the limit: the writes between two looks at its size, and those
#: made while the checkpoint runs.
SLACK = 1024 * 1024


def wal_size(store: SQLiteStore) -> int:
    return max(0, size(f"{store.path}-wal"))


async def test_the_wal_stays_near_its_limit_with_the_stores_own_readers_open(tmp_path: Path) -> None:
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    assert isinstance(store, SQLiteStore)
    queue = Queue(store)
    queue.add(Task("other", lambda ctx: None))  # its board watches the feed meanwhile
    seen: list[int] = []

    async def follow() -> None:  # a dashboard's change feed
        async for _ in store.watch():
            pass

    watcher = asyncio.create_task(follow())
    try:
        await queue.run()
        for n in range(1500):  # one commit each: ~30 KB of WAL apiece
            await queuecore.enqueue(store, Blueprint("mail", data={"n": n}))
            seen.append(wal_size(store))
        assert max(seen) <= WAL_LIMIT + SLACK, max(seen)
        # one transaction larger than the limit: the WAL holds it while it runs, then gives it back
        await queuecore.enqueue_many(store, [Blueprint("mail", data={"x": "x" * 300}) for _ in range(10_000)])
        async with asyncio.timeout(15):
            # a file's size on disk: there is no event to await
            while wal_size(store) > WAL_LIMIT + SLACK:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        watcher.cancel()
        await queue.close()
        await store.close()


async def test_a_wal_grown_past_its_limit_is_truncated_once_the_reader_is_done(tmp_path: Path) -> None:
    store = await queuecore.connect(f"sqlite:///{tmp_path}/jobs.db")
    assert isinstance(store, SQLiteStore)
    n = 0
    reader = sqlite3.connect(store.path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM jobs").fetchone()  # holds its snapshot: no checkpoint completes
        for n in range(400):
            await queuecore.enqueue(store, Blueprint("mail", data={"n": n}))
        assert wal_size(store) > WAL_LIMIT + SLACK
        reader.execute("COMMIT")
        for n in range(100):  # within a few writes the WAL is checkpointed and truncated
            await queuecore.enqueue(store, Blueprint("mail", data={"n": n}))
            if wal_size(store) <= WAL_LIMIT:
                break
        assert wal_size(store) <= WAL_LIMIT
        assert await store.count() == 401 + n
    finally:
        reader.close()
        await store.close()
