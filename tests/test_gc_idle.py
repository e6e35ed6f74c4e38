"""Full garbage-collector passes wait until input is idle (jobtui.gc_idle), and are given back."""

from __future__ import annotations

import gc

import pytest

from jobtui import gc_idle
from jobtui.gc_idle import IdleCollector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def collects(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The clock times at which a full pass ran."""
    ran: list[float] = []
    monkeypatch.setattr(gc_idle.gc, "collect", lambda *a: ran.append(0.0) or 0)
    return ran


def test_automatic_full_passes_are_held_back_while_running_and_given_back_after() -> None:
    before = gc.get_threshold()
    collector = IdleCollector()
    collector.start()
    try:
        young, middle, full = gc.get_threshold()
        assert (young, middle) == before[:2]
        assert full > 1_000_000  # a full pass never triggers by itself
    finally:
        collector.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_due_pass_waits_for_idle_input(collects: list[float]) -> None:
    clock = Clock()
    collector = IdleCollector(clock)
    collector.start()
    try:
        clock.now += gc_idle.EVERY + 1
        # keys keep arriving: no pass, however often the clock ticks
        for _ in range(20):
            collector.touch()
            clock.now += gc_idle.IDLE / 2
            assert not collector.tick()
        assert collects == []
        clock.now += gc_idle.IDLE  # a quiet moment
        assert collector.tick()
        assert len(collects) == 1
        clock.now += gc_idle.IDLE * 3  # idle again, but the last pass is recent
        assert not collector.tick()
    finally:
        collector.stop()


def test_a_pass_runs_anyway_once_the_longest_wait_is_over(collects: list[float]) -> None:
    clock = Clock()
    collector = IdleCollector(clock)
    collector.start()
    try:
        while clock.now < 1000.0 + gc_idle.LONGEST - 1:
            collector.touch()
            clock.now += 0.5
            assert not collector.tick()
        clock.now += 1.5
        collector.touch()
        assert collector.tick()  # memory is reclaimed under a keyboard held down
    finally:
        collector.stop()


def test_no_pass_from_a_stopped_collector(collects: list[float]) -> None:
    clock = Clock()
    collector = IdleCollector(clock)
    clock.now += gc_idle.LONGEST * 2
    assert not collector.tick()
    assert collects == []


async def test_the_dashboard_holds_full_passes_back_only_while_it_runs(tmp_path) -> None:
    from jobtui.tui.app import JobTUI

    before = gc.get_threshold()
    app = JobTUI(str(tmp_path / "jobs.db"))
    async with app.run_test(headless=True) as pilot:
        await pilot.pause()
        assert app.collector.running
        assert gc.get_threshold()[2] > 1_000_000
        last = app.collector._input
        await pilot.press("down")
        assert app.collector._input > last  # a key counts as input
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
