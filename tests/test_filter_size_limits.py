"""Filters are bounded in size on every engine (the review of issue 11).

- Very large filters failed on SQLite with the driver's own words ("Expression tree is too
  large (maximum depth 1000)" for ~1,100 terms, "LIKE or GLOB pattern too complex" for 120,000
  characters of free text) and the dashboard dropped them. The filter language now has
  documented limits, checked when it is parsed, with one ``QueryError`` on every engine.
- What each engine refuses of a query built by hand, and MongoDB's reads the server does not
  stop: tests/engines/<name>/test_filter_size_limits.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.cli import assert_one_line_error, in_store
from support.targets import StoreTarget
from support.tui import enqueue, notes, started, table, wait_for

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.widgets import FilterBar
from jobtui.tui.widgets.filters import FilterInput
from queuecore import QueryError, parse
from queuecore._query_parser import MAX_QUERY_CHARS, MAX_TERM_CHARS, MAX_TERMS
from queuecore.query import QueryRefused

#: The review's filters: ~1,100 terms (SQLite: "Expression tree is too large"), and 120,000
#: characters of free text (SQLite: "LIKE or GLOB pattern too complex").
MANY_TERMS = " ".join(f"w{i}" for i in range(1100))
HUGE_TEXT = "x" * 120_000


# -- the filter language's limits: checked when it is parsed, on every engine ---------------


@pytest.mark.parametrize(
    ("text", "needle", "position"),
    [
        (MANY_TERMS, "at most 200 terms", MANY_TERMS.index("w200")),
        (" ".join(["name:a"] * 201), "at most 200 terms", 200 * len("name:a ")),
        (HUGE_TEXT, "at most 10,000 characters (this one has 120,000)", 10_000),
        ("status:failed " + "x" * 1001, "a term is at most 1,000 characters", len("status:failed ")),
        ('"' + "a b " * 250 + '"', "a term is at most 1,000 characters", 0),
        ("!reason:" + "y" * 993, "a term is at most 1,000 characters", 0),
    ],
)
def test_a_filter_over_a_limit_is_one_query_error_at_its_place(text: str, needle: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert needle in str(caught.value) and caught.value.position == position
    assert "\n" not in str(caught.value)


def test_filters_up_to_the_limits_parse_and_one_more_does_not() -> None:
    assert (MAX_TERMS, MAX_TERM_CHARS, MAX_QUERY_CHARS) == (200, 1_000, 10_000)  # as the README says
    assert len(parse(" ".join(f"w{i}" for i in range(200))).terms) == 200
    assert parse("x" * 1000).terms[0].values == ("x" * 1000,)
    assert parse("!reason:" + "y" * 992).terms[0].negated
    longest = " ".join(["name:" + "n" * 44] * 200)  # 200 terms of 49 characters: 9,999
    assert len(longest) <= MAX_QUERY_CHARS and len(parse(longest).terms) == 200
    for over in (longest + " x", "x" * 1001, "!reason:" + "y" * 993, longest + "n" * 2):
        with pytest.raises(QueryError, match="at most"):
            parse(over)


async def test_every_engine_runs_what_the_limits_let_through_and_no_more(store: queuecore.Store) -> None:
    """What the limits let through, every engine runs (no driver limit is met first); one
    term more never reaches the store."""
    job = await enqueue(store, "mail", label="x" * 1000)
    other = await enqueue(store, "other")
    words = " ".join(["!name:other"] + [f"!reason:r{i:04}" for i in range(199)])
    assert len(parse(words).terms) == MAX_TERMS
    assert [j.id for j in await store.find(query=parse(words))] == [job.id]
    assert await store.count(parse(words)) == 1
    assert [j.id for j in await store.find(query=parse("x" * 1000))] == [job.id]
    assert [j.id for j in await store.find(query=parse("!" + "x" * 999))] == [other.id]
    with pytest.raises(QueryError, match="at most 200 terms"):
        await store.find(query=parse(words + " mail"))


def test_cli_a_filter_over_a_limit_is_one_error_line(cli: Any, target: StoreTarget) -> None:
    in_store(target, lambda s: enqueue(s, "mail"))  # a store to read (ls never makes one)
    result = cli("ls", "-q", MANY_TERMS)
    line = assert_one_line_error(result, "invalid filter", "at most 200 terms")
    assert "OperationalError" not in line and "Expression tree" not in line
    result = cli("ls", "-q", HUGE_TEXT)
    line = assert_one_line_error(result, "invalid filter", "at most 10,000 characters")
    assert "LIKE" not in line


# -- the dashboard: the filter is explained under the input and stays ----------------------


async def set_filter(pilot: Any, text: str) -> None:
    """Open ``/`` and enter ``text`` at once (a paste: thousands of keys would take long)."""
    await pilot.press("slash")
    app = pilot.app
    entry = app.jobs_screen.query_one("#filter-text", FilterInput)
    await wait_for(pilot, lambda: entry.display)
    entry.value = text
    await pilot.press("enter")


async def test_dashboard_a_filter_over_a_limit_is_explained_under_the_input(
    target: StoreTarget, store: queuecore.Store
) -> None:
    a = await enqueue(store, "alpha")
    await enqueue(store, "beta")
    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=2)
        await set_filter(pilot, "name:alpha")
        await wait_for(pilot, lambda: table(app).keys() == [str(a.id)])
        bar = app.jobs_screen.query_one("#filters", FilterBar)
        for text, needle in ((MANY_TERMS, "at most 200 terms"), (HUGE_TEXT, "at most 10,000 characters")):
            await set_filter(pilot, text)
            await wait_for(pilot, lambda needle=needle: needle in bar.message)
            assert app.model is not None and app.model.filter.text == "name:alpha"
            assert table(app).keys() == [str(a.id)]
            assert not any("failed" in n for n in notes(app)), notes(app)
            await pilot.press("escape")


async def test_dashboard_a_filter_the_store_refuses_keeps_the_previous_view(
    target: StoreTarget, store: queuecore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await enqueue(store, "alpha")
    await enqueue(store, "beta")
    app = JobTUI(target.uri, collection=target.collection)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=2)
        assert app.store is not None
        await set_filter(pilot, "name:alpha")
        await wait_for(pilot, lambda: table(app).keys() == [str(a.id)])
        real = app.store.find

        async def refusing(*args: Any, **kwargs: Any) -> Any:
            if "beta" in str(kwargs.get("query") or ""):
                raise QueryRefused("the database cannot run this filter (too big); make it smaller")
            return await real(*args, **kwargs)

        monkeypatch.setattr(app.store, "find", refusing)
        await set_filter(pilot, "name:beta")
        await wait_for(pilot, lambda: any("cannot run this filter" in n for n in notes(app)))
        assert any("still showing the previous filter" in n for n in notes(app))
        assert not any("_load_filter failed" in n for n in notes(app))
        assert app.model is not None and app.model.filter.text == "name:alpha"
        assert table(app).keys() == [str(a.id)]
