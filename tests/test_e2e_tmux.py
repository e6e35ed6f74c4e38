"""End to end: the installed ``jobtui`` in a real terminal (tmux), driven by key presses.

The dashboard is started on a seeded store (of the quickest engine) in a detached 120×36 tmux
session on a private tmux server; the test reads the screen with
``capture-pane`` (bounded polling), presses keys with ``send-keys`` and checks
what an operator would see. The tmux server is always killed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.cli import store_args
from support.targets import StoreTarget

import queuecore
from queuecore import Blueprint

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

#: Longest the test waits for the screen to show something.
WAIT = 20.0


def jobtui_command() -> list[str]:
    """The installed console script (next to this Python, or on PATH), else ``python -m jobtui.cli``."""
    beside = Path(sys.executable).with_name("jobtui")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("jobtui")
    return [found] if found else [sys.executable, "-m", "jobtui.cli"]


class Terminal:
    """A detached tmux session on a private server (``tmux -L``), 120×36."""

    def __init__(self, command: list[str]) -> None:
        self.server = f"jobtui-e2e-{uuid.uuid4().hex[:8]}"
        # the shell reports the exit status and keeps the pane open so it can be read
        script = f"{shlex.join(command)}; echo JOBTUI-EXIT=$?; sleep 120"
        self.tmux("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "36", script)

    def tmux(self, *args: str) -> str:
        # COLUMNS/LINES (set by some runners) would override the terminal's real size
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        return subprocess.run(
            ["tmux", "-L", self.server, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
            env=env,
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def press(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "e2e", *keys)

    def wait_for(self, condition: Callable[[str], bool], what: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen did not show {what} within {timeout}s:\n{text}")
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True, timeout=10)


def table_rows(text: str) -> str:
    """The screen without its first lines (header, summary bar, filter bar)."""
    return "\n".join(text.splitlines()[4:])


async def seed(target: StoreTarget) -> dict[str, str]:
    """A job in each status with recognisable task names; returns their short ids by status."""
    store = await queuecore.connect(target.uri, collection=target.collection)
    try:
        ids = {}
        for name in ("e2e-done", "e2e-broken", "e2e-dropped", "e2e-waiting"):
            job = await queuecore.enqueue(store, Blueprint(name, data={"n": name}))
            assert job is not None
            ids[name] = job.id
        for name in ("e2e-done", "e2e-broken"):
            assert await queuecore.dequeue(store, ids[name], 60) is not None
        await queuecore.complete(store, ids["e2e-done"])
        await queuecore.fail(store, ids["e2e-broken"], "upstream exploded", 3600)
        await queuecore.cancel_job(store, ids["e2e-dropped"], "not needed")
        return {name: str(oid)[-8:] for name, oid in ids.items()}
    finally:
        await store.close()


@pytest.fixture
def terminal(quick_target: StoreTarget) -> Iterator[Terminal]:
    """The dashboard in a real terminal on a seeded store (of the quickest engine: what a
    terminal shows does not depend on it)."""
    asyncio.run(seed(quick_target))
    term = Terminal([*jobtui_command(), *store_args(quick_target)])
    try:
        yield term
    finally:
        term.kill()


def test_dashboard_in_a_real_terminal(terminal: Terminal, quick_target: StoreTarget) -> None:
    names = ("e2e-done", "e2e-broken", "e2e-dropped", "e2e-waiting")
    first = terminal.wait_for(lambda s: all(n in table_rows(s) for n in names), "the seeded jobs")
    assert "failed" in first and "completed" in first and "cancelled" in first
    assert "upstream exploded" in first

    # 4 toggles the "failed" status filter: only the failed job stays
    terminal.press("4")
    shown = terminal.wait_for(
        lambda s: "e2e-broken" in table_rows(s) and not any(n in table_rows(s) for n in names[::2]),
        "only failed jobs",
    )
    assert "upstream exploded" in table_rows(shown)
    assert "e2e-dropped" not in table_rows(shown) and "e2e-waiting" not in table_rows(shown)

    # 0 shows every status again
    terminal.press("0")
    terminal.wait_for(lambda s: all(n in table_rows(s) for n in names), "every job after 0")

    # / opens the filter; keys sent at once with it (as a paste or a fast typist) land in it
    terminal.press("/", "name:e2e-dropped", "Enter")
    terminal.wait_for(
        lambda s: "e2e-dropped" in table_rows(s) and not any(n in table_rows(s) for n in names[:2]),
        "only the job the typed filter matches",
    )
    terminal.press("/", "C-u", "Enter")  # an emptied filter shows every job again
    terminal.wait_for(lambda s: all(n in table_rows(s) for n in names), "every job after clearing")

    # a job enqueued by another process (the CLI) appears live
    subprocess.run(
        [*jobtui_command(), "enqueue", "e2e-live", *store_args(quick_target)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    terminal.wait_for(lambda s: "e2e-live" in table_rows(s), "the job enqueued from the CLI")

    # ? opens the help with every key; escape closes it
    terminal.press("?")
    help_screen = terminal.wait_for(lambda s: "jobtui keys" in s, "the help screen")
    for described in ("Quit", "Cancel", "Requeue", "Search"):
        assert described in help_screen
    terminal.press("Escape")
    terminal.wait_for(
        lambda s: "jobtui keys" not in s and "e2e-live" in table_rows(s), "the jobs table again"
    )

    # q quits cleanly
    terminal.press("q")
    terminal.wait_for(lambda s: "JOBTUI-EXIT=" in s, "the dashboard exiting")
    assert "JOBTUI-EXIT=0" in terminal.screen()


def test_demo_runs_the_example_workers_and_quits_gracefully(quick_target: StoreTarget) -> None:
    term = Terminal([*jobtui_command(), "demo", *store_args(quick_target)])
    try:
        # the workers panel is shown and jobs finish live
        term.wait_for(lambda s: "send-mail" in s and "busy" in s, "the workers panel")
        term.wait_for(
            lambda s: "completed" in table_rows(s) and "running" in table_rows(s), "jobs running live"
        )
        term.press("q")
        term.wait_for(lambda s: "JOBTUI-EXIT=" in s, "the dashboard exiting", timeout=40)
        assert "JOBTUI-EXIT=0" in term.screen()
    finally:
        term.kill()

    async def claimed() -> list[queuecore.Job]:
        store = await queuecore.connect(quick_target.uri, collection=quick_target.collection)
        try:
            return await store.find(status=queuecore.Status.DEQUEUED)
        finally:
            await store.close()

    assert asyncio.run(claimed()) == []  # quitting left no job claimed by a stopped worker
