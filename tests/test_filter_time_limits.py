"""Filters cannot hang the process (issue 11): RE2 regular expressions, a hard time limit on
filtered reads, and a dashboard that never waits for a filter.

``name:~(a+)+$`` over a 34-character name never ended (Python's ``re`` backtracks, holding the
GIL: the CLI ignored SIGINT and the dashboard froze with its hosted workers), and MongoDB got
the same regex with no time limit. Now regexes are RE2 (linear time; backreferences and
lookaround are one clear ``QueryError`` on every engine), filtered ``find``/``count`` stop at
``store.query_timeout`` with ``QueryTimeout``, and the dashboard loads a filter in a worker that
says "searching…", is replaced by a newer filter, and keeps the previous view over the limit.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from support.cli import assert_one_line_error, in_store
from support.targets import StoreTarget
from support.tui import enqueue, notes, started, table, wait_for, wait_store

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import HelpScreen
from jobtui.tui.widgets import FilterBar
from queuecore import Blueprint, QueryError, Status, parse
from queuecore.query import Term

#: A name over which ``(a+)+$`` backtracks for ever in Python's re (and PCRE): 2**n paths.
EVIL_NAME = "a" * 40 + "!"


async def many(store: queuecore.Store, n: int, prefix: str = "task") -> None:
    """``n`` unlabeled jobs named ``prefix-0`` … (one enqueue_many: fast on both engines)."""
    await queuecore.enqueue_many(store, [Blueprint(f"{prefix}-{i}") for i in range(n)])


# -- RE2: linear time, one clear error for what it cannot do ------------------------------

UNSUPPORTED = [
    ("name:~(a)\\1", "backreferences"),
    ("label:~(?P<x>a)(?P=x)", "backreferences"),
    ("reason:~\\k<x>", "backreferences"),
    ("name:~foo(?=bar)", "lookahead"),
    ("name:~foo(?!bar)", "lookahead"),
    ("name:~(?<=foo)bar", "lookbehind"),
    ("reason:~(?<!foo)bar", "lookbehind"),
    ("name:~(?>a+)b", "atomic groups"),
    ("name:~a++b", "possessive quantifiers"),
    ("name:~send\\Z", "\\z"),
]


@pytest.mark.parametrize(("text", "what"), UNSUPPORTED)
def test_an_unsupported_regex_is_one_clear_query_error_at_its_position(text: str, what: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(text)
    message = str(caught.value)
    assert "bad regular expression" in message and what in message
    assert "RE2" in message  # names the syntax, so the operator knows what is accepted
    assert caught.value.position == text.index("~") + 1
    assert "\n" not in message


def test_a_term_built_by_hand_refuses_them_too() -> None:
    # a Term reaches both engines' translations directly: it must not carry a pattern RE2 refuses
    with pytest.raises(ValueError, match="lookahead"):
        Term("name", "~", ("x(?=y)",))


@pytest.mark.timeout(60)  # Python's re never ends here: the old code is killed, not slow
def test_a_backtracking_pattern_matches_in_linear_time_with_the_same_flags() -> None:
    def matches(text: str, name: str) -> bool:
        now = datetime.now(UTC)
        job = queuecore.Job(id=ObjectId(), name=name, status=Status.ENQUEUED, created=now, available=now)
        return parse(text).matches(job)

    assert not matches("name:~(a+)+$", "a" * 100_000 + "!")
    assert matches("name:~(a+)+$", "aaa")
    # the semantics of ordinary patterns are as before
    assert matches("name:~^SEND", "send-mail")  # case-insensitive by default
    assert not matches("name:~(?-i:^SEND)", "send-mail")  # unless the pattern says otherwise
    assert matches("name:~^(report|resize)-\\d+$", "Resize-12")
    assert not matches("name:~a.b", "a\nb")  # . is not a newline
    assert not matches("name:~^b", "a\nb")  # ^ anchors the text, not a line
    assert str(parse("name:~^(a|b)+$")) == "name:~^(a|b)+$"  # the canonical text is unchanged


def test_the_compiled_pattern_cache_is_bounded() -> None:
    from queuecore import _regex

    for i in range(3 * _regex.CACHE_SIZE):
        parse(f"name:~^job-{i}$")
    info = _regex.compile.cache_info()
    assert info.maxsize == _regex.CACHE_SIZE and info.currsize <= _regex.CACHE_SIZE


# -- the time limit -------------------------------------------------------------------------


async def test_the_limit_is_a_connect_keyword_with_a_default(
    target: StoreTarget, store: queuecore.Store
) -> None:
    assert store.query_timeout == queuecore.store.QUERY_TIMEOUT == 5.0
    chosen = await queuecore.connect(target.uri, collection=target.collection, query_timeout=0.5)
    unlimited = await queuecore.connect(target.uri, collection=target.collection, query_timeout=None)
    try:
        assert chosen.query_timeout == 0.5
        assert unlimited.query_timeout is None
        await enqueue(unlimited, "t")
        assert len(await unlimited.find(query=parse("name:~^t$"))) == 1
    finally:
        await chosen.close()
        await unlimited.close()
    for bad in (0, -1, "5", float("nan"), True):
        with pytest.raises(ValueError, match="query_timeout"):
            await queuecore.connect(target.uri, collection=target.collection, query_timeout=bad)  # type: ignore[arg-type]


# -- the CLI: one error line ----------------------------------------------------------------


def test_cli_an_unsupported_regex_is_one_error_line(cli: Any) -> None:
    result = cli("ls", "-q", "name:~(a)\\1")
    assert_one_line_error(result, "invalid filter", "backreferences", "RE2")


def test_cli_a_filter_over_the_limit_is_one_error_line(
    cli: Any, target: StoreTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"JOBTUI_QUERY_TIMEOUT": "0.0001"}
    # a filter slow enough on 5,000 jobs; or, where the server ignores the limit (the emulator),
    # its answer over the limit played by the driver, on a store to read (ls never makes one)
    played = target.support.play_filter_timeout(monkeypatch)
    in_store(target, lambda s: many(s, 1 if played else 5000))
    result = cli("ls", "-q", "name:~^task-1.*9$", "--limit", "10000", env=env)
    assert_one_line_error(result, "error: filter took longer than 0.0001 s")
    bad = cli("ls", "-q", "name:x", env={"JOBTUI_QUERY_TIMEOUT": "soon"})
    assert_one_line_error(bad, "JOBTUI_QUERY_TIMEOUT", "number of seconds")


# -- the dashboard: never waits for a filter ------------------------------------------------

TASKS = """
from queuecore import Task

async def quick(ctx):
    ctx.result = {"ok": True}

tasks = [Task("quick", quick)]
"""


def bar_text(app: JobTUI) -> str:
    screen = app.jobs_screen
    assert screen is not None
    return screen.query_one("#filters", FilterBar).plain()


class SlowFind:
    """``store.find`` made slow for filters naming ``slow`` (the test opens the gate), or
    over the time limit for filters naming ``limit``; it records the loads cancelled."""

    def __init__(self, store: queuecore.Store) -> None:
        self.real = store.find
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.cancelled: list[str] = []
        store.find = self  # type: ignore[method-assign]
        self.store = store

    async def __call__(self, *args: Any, **kwargs: Any) -> list[queuecore.Job]:
        text = str(kwargs.get("query") or "")
        if "limit" in text:
            raise queuecore.QueryTimeout(self.store.query_timeout or 0)
        if "slow" in text:
            self.entered.set()
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.append(text)
                raise
        return await self.real(*args, **kwargs)


async def type_filter(pilot: Any, text: str) -> None:
    await pilot.press("slash", "ctrl+u", *text, "enter")


async def test_a_slow_filter_says_searching_and_a_newer_one_replaces_it(
    target: StoreTarget, store: queuecore.Store, tmp_path: Path
) -> None:
    spec = tmp_path / "limit_tasks.py"
    spec.write_text(TASKS)
    slow_job = await enqueue(store, "slow-one")
    other = await enqueue(store, "other")
    app = JobTUI(target.uri, collection=target.collection, workers=str(spec), refresh=0.2)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=2)
        assert app.store is not None
        slow = SlowFind(app.store)
        await type_filter(pilot, "name:slow-one")
        await asyncio.wait_for(slow.entered.wait(), 15)
        await wait_for(pilot, lambda: "searching…" in bar_text(app))
        assert len(table(app).keys()) == 2  # the previous view stays until the new one is there
        # nothing waits for it: keys work, and the hosted workers run a job meanwhile
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        quick = await enqueue(store, "quick")

        async def done() -> bool:
            job = await store.get(quick.id)
            return job is not None and job.status is Status.COMPLETED

        await wait_store(pilot, done)
        # a newer filter replaces the slow load (cancelled), and is what the view shows
        await type_filter(pilot, "name:other")
        await wait_for(pilot, lambda: table(app).keys() == [str(other.id)])
        assert slow.cancelled and "slow-one" in slow.cancelled[0]
        assert app.model is not None and app.model.filter.text == "name:other"
        assert "searching…" not in bar_text(app)
        slow.gate.set()  # the replaced load never comes back to the view
        await pilot.pause(0.3)
        assert table(app).keys() == [str(other.id)] and str(slow_job.id) not in table(app).keys()


async def test_a_filter_over_the_limit_keeps_the_previous_view(
    target: StoreTarget, store: queuecore.Store
) -> None:
    a = await enqueue(store, "alpha")
    await enqueue(store, "limit-job")
    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=2)
        assert app.store is not None
        SlowFind(app.store)
        await type_filter(pilot, "name:alpha")
        await wait_for(pilot, lambda: table(app).keys() == [str(a.id)])
        await type_filter(pilot, "name:limit-job")
        await wait_for(pilot, lambda: any("filter took longer than 5 s" in n for n in notes(app)))
        assert app.model is not None and app.model.filter.text == "name:alpha"
        assert table(app).keys() == [str(a.id)]
        await wait_for(pilot, lambda: "query: name:alpha" in bar_text(app))
        assert "searching…" not in bar_text(app) and "limit-job" not in bar_text(app)
        # an unsupported regex is explained under the input (RE2's limits), the view stays
        await type_filter(pilot, "name:~(a)\\1")
        screen = app.jobs_screen
        assert screen is not None
        await wait_for(pilot, lambda: "backreferences" in screen.query_one("#filters", FilterBar).message)
        assert app.model.filter.text == "name:alpha"
        await pilot.press("escape")
        # the dashboard goes on: the next filter loads as ever
        await type_filter(pilot, "name:~^a")
        await wait_for(pilot, lambda: app.model is not None and app.model.filter.text == "name:~^a")
        assert table(app).keys() == [str(a.id)]
