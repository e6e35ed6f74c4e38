"""Filters SQLite cannot run (too large an expression tree, too complex a pattern): a query
error, and one line in the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from support.cli import assert_one_line_error, in_store
from support.targets import StoreTarget
from support.tui import enqueue
from test_filter_size_limits import HUGE_TEXT

import queuecore
from queuecore import QueryError, parse
from queuecore.query import Query, QueryRefused, Term


async def test_sqlite_a_filter_it_cannot_run_is_a_query_error(
    store: queuecore.Store,
) -> None:
    job = await enqueue(store, "mail")
    deep = Query(tuple(Term("text", ":", (f"w{i}",), negated=True) for i in range(1100)))
    for read in (store.find(query=deep), store.count(deep), store.find(text=HUGE_TEXT)):
        with pytest.raises(QueryRefused) as caught:
            await read
        assert isinstance(caught.value, QueryError)
        message = str(caught.value)
        assert message.startswith("SQLite cannot run this filter (") and "make it smaller" in message
        assert "OperationalError" not in message and "at character" not in message
    store.query_timeout = None  # the same without a time limit (no progress handler)
    with pytest.raises(QueryRefused, match="Expression tree is too large"):
        await store.find(query=deep)
    assert [j.id for j in await store.find(query=parse("mail"))] == [job.id]  # the store goes on


def test_cli_a_filter_sqlite_cannot_run_is_one_error_line(cli: Any, target: StoreTarget) -> None:
    in_store(target, lambda s: enqueue(s, "mail"))
    line = assert_one_line_error(cli("ls", "--text", HUGE_TEXT), "error: SQLite cannot run this filter")
    assert "OperationalError" not in line
