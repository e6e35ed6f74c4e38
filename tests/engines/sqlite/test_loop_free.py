"""A dashboard's SQLite store keeps the UI thread free: its writes and the change feed's reads
run on the store's threads, never on the event loop that draws frames and takes keys (a
bulk cancel of thousands of jobs wrote there and held keys back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.tui import cell, enqueue, started, wait_for

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import ConfirmScreen
from queuecore.store.sqlite import executor, feed


def spy_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every store call made on the event loop's own thread (inline writes, the
    feed's reads right after a local write)."""
    calls: list[str] = []
    write, read_here = executor.Inline.write, feed.Tail.read_here

    def inline_write(self: Any, *args: Any, **kw: Any) -> Any:
        calls.append("write")
        return write(self, *args, **kw)

    def tail_read_here(self: Any, *args: Any, **kw: Any) -> Any:
        calls.append("feed read")
        return read_here(self, *args, **kw)

    monkeypatch.setattr(executor.Inline, "write", inline_write)
    monkeypatch.setattr(feed.Tail, "read_here", tail_read_here)
    return calls


async def test_a_worker_store_writes_on_the_loop_a_dashboard_store_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path}/jobs.db"
    on_loop = spy_on_the_loop(monkeypatch)
    async with await queuecore.connect(uri) as store:  # a producer's store: the fast path
        first = await enqueue(store, "t")
        await queuecore.cancel_job(store, first.id)
        assert "write" in on_loop
        job = await enqueue(store, "t")
    on_loop.clear()
    app = JobTUI(uri)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, rows=2)
        await pilot.press("home")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: cell(app, job, "status") == "cancelled")
        async with await queuecore.connect(uri) as other:  # another writer's change shows too
            other.keep_loop_free = True  # (so the spy sees only the dashboard's calls)
            late = await enqueue(other, "late")
        await wait_for(pilot, lambda: cell(app, late, "status") == "enqueued")
    assert on_loop == []
