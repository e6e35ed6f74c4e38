"""A SQLite store on a full disk (issue 11): once space is freed, the queue goes on.

A checkpoint needs free space to grow the database file by the pages the WAL adds, and every
write appends ~30 KB to the WAL; so the space freed on a full disk must go to the checkpoint
before new writes take it, else the queue stays stuck for good. These tests mount small
tmpfs disks (root only; skipped where a mount is impossible)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import queuecore
from queuecore import Blueprint, Change, Queue, Task
from queuecore.store.sqlite import SQLiteStore


def wal_size(store: SQLiteStore) -> int:
    try:
        return os.stat(f"{store.path}-wal").st_size
    except FileNotFoundError:
        return 0


@pytest.fixture
def mount_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts a tmpfs of a given size (``"2m"``) and gives its directory; unmounted after."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(where)
        return where

    try:
        yield mount
    finally:
        for where in mounted:
            subprocess.run(["umount", "-l", str(where)], check=False)


async def test_a_queue_on_a_full_disk_recovers_once_space_is_freed(mount_disk: Callable[[str], Path]) -> None:
    disk = mount_disk("2m")
    ballast = disk / "ballast"
    ballast.write_bytes(b"x" * 1_000_000)
    store = await queuecore.connect(f"sqlite:///{disk}/jobs.db")
    assert isinstance(store, SQLiteStore)
    try:
        written = 0
        with pytest.raises(sqlite3.OperationalError, match="full"):
            for n in range(100_000):
                await queuecore.enqueue(store, Blueprint("mail", data={"n": n, "pad": "p" * 200}))
                written += 1
        ballast.unlink()
        for n in range(500):  # one by one: every commit grows the WAL
            await queuecore.enqueue(store, Blueprint("after", data={"n": n}))
        assert await store.count() == written + 500
        assert wal_size(store) < 1024 * 1024
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("disk_size", "freed", "retries"),
    [
        # a little freed (less than the WAL holds): a few writes would take it all
        ("2m", 200_000, 0),
        ("2m", 200_000, 4),
        ("2m", 200_000, 8),
        ("2m", 200_000, 12),
        ("4m", 1_500_000, 4),  # a lot freed
    ],
)
async def test_a_queue_with_its_board_and_a_dashboard_recovers_once_space_is_freed(
    mount_disk: Callable[[str], Path], disk_size: str, freed: int, retries: int
) -> None:
    """As in production: the queue's board and a dashboard's change feed are open; producers
    enqueue one job at a time until the disk is full, retry ``retries`` times in vain, then
    ``freed`` bytes are freed. Every later job goes in, the WAL gives its space back, and the
    dashboard sees the new jobs."""
    disk = mount_disk(disk_size)
    filler = disk / "filler"
    filler.write_bytes(b"x" * freed)
    store = await queuecore.connect(f"sqlite:///{disk}/jobs.db")
    assert isinstance(store, SQLiteStore)
    queue = Queue(store)
    queue.add(Task("other", lambda ctx: None))  # its board watches the feed
    after = 200
    seen: set[str] = set()
    all_seen = asyncio.Event()

    async def dashboard() -> None:
        async for change in store.watch():
            if is_after(change):
                assert change.job is not None
                seen.add(str(change.job.id))
                if len(seen) == after:
                    all_seen.set()

    watcher = asyncio.create_task(dashboard())
    try:
        await queue.run()
        written = 0
        with pytest.raises(sqlite3.OperationalError, match="full"):
            for n in range(100_000):
                await queuecore.enqueue(store, Blueprint("mail", data={"n": n, "pad": "x" * 200}))
                written += 1
        for _ in range(retries):
            try:
                await queuecore.enqueue(store, Blueprint("mail", data={"retry": True}))
                written += 1  # a checkpoint gave the WAL's pages back meanwhile: the retry went in
            except sqlite3.OperationalError as exc:
                assert "full" in str(exc)
        filler.unlink()
        for n in range(after):
            await queuecore.enqueue(store, Blueprint("after", data={"n": n}))
        assert await store.count() == written + after
        assert wal_size(store) < 1024 * 1024
        async with asyncio.timeout(15):
            await all_seen.wait()
    finally:
        watcher.cancel()
        await queue.close()
        await store.close()


def is_after(change: Change) -> bool:
    return change.kind == "insert" and change.job is not None and change.job.name == "after"


async def test_space_freed_goes_to_the_checkpoint_first(
    mount_disk: Callable[[str], Path],
) -> None:
    """A reader's snapshot (a long `ls`, a backup) kept every checkpoint from completing while
    large jobs filled the disk: the WAL holds them all, and the database file must grow by
    their pages before it can be emptied. Just that much and a little more is freed: the next
    job (larger than the little more) still goes in, and so do those after it."""
    disk = mount_disk("4m")
    filler = disk / "filler"
    filler.write_bytes(b"x" * 2_000_000)
    store = await queuecore.connect(f"sqlite:///{disk}/jobs.db")
    assert isinstance(store, SQLiteStore)
    reader = sqlite3.connect(store.path, isolation_level=None)
    try:
        for n in range(20):
            await queuecore.enqueue(store, Blueprint("seed", data={"n": n}))
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM jobs").fetchone()  # holds its snapshot
        written = 20
        with pytest.raises(sqlite3.OperationalError, match="full"):
            for n in range(1000):
                await queuecore.enqueue(store, Blueprint("big", data={"n": n, "pad": "b" * 20_000}))
                written += 1
        reader.execute("COMMIT")
        await store.count()  # whatever the store's thread had queued meanwhile has run
        page_size, pages = (reader.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count"))
        needed = page_size * pages - os.stat(store.path).st_size  # what the checkpoint adds to the file
        assert needed > 500_000
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        os.truncate(filler, 2_000_000 - (needed + 16_000 - free))  # a job below takes ~50 KB of WAL
        for n in range(20):
            await queuecore.enqueue(store, Blueprint("after", data={"n": n, "pad": "a" * 20_000}))
        assert await store.count() == written + 20
        assert wal_size(store) < 1024 * 1024
    finally:
        reader.close()
        await store.close()
