"""Text another program wrote into a SQLite store, read back everywhere (issue 11, review).

- A lone surrogate: SQLite stores JSON, and a JSON escape such as ``"\\ud800"`` decodes to
  a lone surrogate, which is not UTF-8 text: writing it to a terminal or a pipe raises. A row
  whose data (keys and values), result, history or audit ids hold one made ``jobtui show``
  print half the view and a ``UnicodeEncodeError`` traceback, ``ls --json`` a traceback, and
  the dashboard's detail view lose its border. It is shown as ``\\ud800`` (text), ``--json``
  escapes it (and decodes back to the stored value), a worker runs the job. (``enqueue``
  refuses such data: contract/test_unstorable_data.py. MongoDB cannot hold one: BSON is UTF-8.)
- Bytes that are not UTF-8 in a TEXT column (``CAST(x'ff6e616d65' AS TEXT)``): sqlite3 would
  not decode them for the filter language's Python functions, so every regex filter and
  every free-text filter ``LIKE`` cannot answer failed on the whole store ("user-defined
  function raised exception"; the dashboard dropped the filter). Such a filter now matches
  exactly the jobs ``Query.matches`` accepts of the salvaged rows (U+FFFD for each bad byte).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from support.cli import Cli, in_store
from support.targets import StoreTarget
from support.tui import notes, started, table, wait_for
from support.waits import wait_all
from test_filter_time_limits import type_filter
from test_untrusted_text import screen_text

import queuecore
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import JobDetailScreen
from queuecore import Blueprint, Context, Job, Query, Queue, Status, Store, Task
from queuecore._time import utcnow

#: What the foreign row holds, as JSON text (each ``\\udXXX`` is an escape, as another program
#: writes it), and what the JSON decodes to.
DATA_JSON = r'{"k\ud800": "\udfff via row", "list": ["x\udbff"], "pair": "\ud83d\ude00"}'
DATA = {"k\ud800": "\udfff via row", "list": ["x\udbff"], "pair": "\U0001f600"}
RESULT_JSON = r'{"r": "\udc00"}'
EVENTS_JSON = r'[{"at": 1700000000000, "status": "enqueued", "reason": "why \ud801"}]'
SURROGATES = {chr(c) for c in range(0xD800, 0xE000)}


@pytest.fixture
def sqlite_target(tmp_path: Path) -> StoreTarget:
    return StoreTarget("sqlite", f"sqlite:///{tmp_path}/jobs.db", "jobs")


def sql(target: StoreTarget, statement: str, args: tuple[Any, ...] = ()) -> None:
    """Write into the store's file as another program would (sqlite3, no queuecore)."""
    with sqlite3.connect(target.uri.removeprefix("sqlite:///")) as conn:
        conn.execute(statement, args)


def seed_surrogates(target: StoreTarget) -> ObjectId:
    """A job whose data, result and history hold lone surrogates, and an audit entry whose ids do."""

    async def action(store: Store) -> ObjectId:
        job = await queuecore.enqueue(store, Blueprint("echo", data={"n": 1}))
        assert job is not None
        return job.id

    oid = in_store(target, action)
    sql(
        target,
        "UPDATE jobs SET data = ?, result = ?, events = ? WHERE id = ?",
        (DATA_JSON, RESULT_JSON, EVENTS_JSON, str(oid)),
    )
    sql(
        target,
        "INSERT INTO jobs_audit (at, who, source, action, ids) VALUES (1, 'eve', 'cli', 'cancel', ?)",
        (r'["\ud800 id"]',),
    )
    return oid


def assert_printed(text: str, where: str) -> None:
    assert not SURROGATES & set(text), f"{where}: a raw surrogate in {text!r}"
    assert "Traceback" not in text, f"{where}: {text}"


def test_cli_shows_lone_surrogates_as_text_and_json_decodes_to_them(sqlite_target: StoreTarget) -> None:
    oid = seed_surrogates(sqlite_target)
    cli = Cli(sqlite_target)
    shown = cli.ok("show", str(oid))
    assert_printed(shown.stdout + shown.stderr, "show")
    for visible in ('"k\\ud800": "\\udfff via row"', '"x\\udbff"', '"r": "\\udc00"', "why \\ud801"):
        assert visible in shown.stdout, shown.stdout  # the whole view, data, result and history
    for args in (("show", str(oid)), ("ls",)):
        out = cli.ok(*args, "--json").stdout
        assert_printed(out, " ".join(args) + " --json")
        entry = json.loads(out) if args[0] == "show" else json.loads(out)[0]
        assert entry["data"] == DATA and entry["result"] == {"r": "\udc00"}
        assert [e["reason"] for e in entry["events"]] == ["why \ud801"]
    listing = cli.ok("ls")
    assert_printed(listing.stdout + listing.stderr, "ls")
    audit = cli.ok("audit")
    assert_printed(audit.stdout + audit.stderr, "audit")
    assert "\\ud800 id" in audit.stdout
    audit_json = cli.ok("audit", "--json").stdout
    assert_printed(audit_json, "audit --json")
    assert json.loads(audit_json)[0]["ids"] == ["\ud800 id"]


async def test_the_dashboard_detail_and_a_worker_take_lone_surrogates(sqlite_target: StoreTarget) -> None:
    oid = await asyncio.to_thread(seed_surrogates, sqlite_target)
    app = JobTUI(sqlite_target.uri, collection=sqlite_target.collection)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, rows=1)
        app.open_detail(oid)
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job is not None)
        await pilot.pause()
        text = screen_text(app)
        assert_printed(text, "detail")
        for visible in ('"k\\ud800": "\\udfff via row"', '"r": "\\udc00"', "why \\ud801"):
            assert visible in text, text
        assert text.count("╰") == 2  # the data and result panels, drawn whole
        assert app.is_running and not [n for n in notes(app) if "rror" in n], notes(app)
    store = await queuecore.connect(sqlite_target.uri)
    try:
        seen: list[dict[str, Any]] = []

        async def echo(ctx: Context) -> None:
            seen.append(ctx.job.data)

        queue = Queue(store)
        queue.add(Task("echo", echo))
        async with queue:
            [done] = await wait_all(store, [oid], lambda j: j.status in queuecore.FINISHED)
        assert done.status is Status.COMPLETED and seen == [DATA]
    finally:
        await store.close()


# -- filters over rows that are not UTF-8 ------------------------------------------------------

#: Foreign rows: (name, label, reason) as SQL expressions; x'ff' and x'c328' are not UTF-8,
#: e2 84 aa is the Kelvin sign (it lowers to an ASCII k: LIKE misses it, Python is asked).
FOREIGN = [
    ("CAST(x'ff6e616d65' AS TEXT)", "''", "''"),
    ("'labelled'", "CAST(x'c328' AS TEXT)", "''"),
    ("'reasoned'", "''", "CAST(x'6661696cff' AS TEXT)"),
    ("CAST(x'ffe284aa6a6f62' AS TEXT)", "''", "''"),
]

FILTERS = [
    "name:~q",
    "name:~^.name$",
    "!name:~q",
    "name:~\ufffd",
    "label:~^.\\($",
    "label:~x",
    "reason:~ail.$",
    "reason:fail\ufffd",
    "reason:fail",
    "näme",
    "\ufffd",
    "kjob",
    "name",
    "status:enqueued name:~e",
]


def seed_foreign(target: StoreTarget) -> list[ObjectId]:
    """Good jobs (one named with a Kelvin sign, one with ``é``), and the foreign rows."""

    async def action(store: Store) -> None:
        for name in ("quick", "alpha", "\u212ajob", "näme", "fail-é"):
            await queuecore.enqueue(store, Blueprint(name, label="x", data={"n": 1}))

    in_store(target, action)
    ids = []
    for name, label, reason in FOREIGN:
        oid = ObjectId()
        sql(
            target,
            "INSERT INTO jobs (id, name, label, reason, data, status, created_at, available_at)"
            f" VALUES (?, {name}, {label}, {reason}, '{{}}', 'enqueued', 1, 1)",
            (str(oid),),
        )
        ids.append(oid)
    return ids


async def test_filters_match_rows_that_are_not_utf8_as_the_reference_matcher_does(
    sqlite_target: StoreTarget,
) -> None:
    foreign = await asyncio.to_thread(seed_foreign, sqlite_target)
    store = await queuecore.connect(sqlite_target.uri)
    try:
        every: list[Job] = await store.find(limit=100)
        assert len(every) == 5 + len(FOREIGN)
        assert {j.id for j in every if j.malformed} == set(foreign)
        now = utcnow()
        hits: set[ObjectId] = set()
        for text in FILTERS:
            query = Query.parse(text)
            expected = {j.id for j in every if query.matches(j, now)}
            found = await store.find(query=query, limit=100)
            assert {j.id for j in found} == expected, text
            assert await store.count(query) == len(expected), text
            assert await store.count(query, cap=1) == min(1, len(expected)), text
            hits |= expected & set(foreign)
        assert hits == set(foreign)  # every foreign row is matched by some filter: not vacuous
    finally:
        await store.close()
    cli = Cli(sqlite_target)
    for text in ("name:~^.name$", "näme", "kjob"):
        result = await asyncio.to_thread(cli, "ls", "-q", text, "--json")
        assert result.exit_code == 0, (text, result.stdout, result.stderr)
        assert "error" not in result.stderr and json.loads(result.stdout), text


async def test_the_dashboard_applies_a_regex_filter_over_a_row_that_is_not_utf8(
    sqlite_target: StoreTarget,
) -> None:
    foreign = await asyncio.to_thread(seed_foreign, sqlite_target)
    app = JobTUI(sqlite_target.uri, collection=sqlite_target.collection)
    async with app.run_test(size=(140, 36)) as pilot:
        await started(pilot, rows=5 + len(FOREIGN))
        await type_filter(pilot, "name:~^.name$")
        await wait_for(pilot, lambda: app.model is not None and app.model.filter.text == "name:~^.name$")
        await wait_for(pilot, lambda: table(app).keys() == [str(foreign[0])])
        await type_filter(pilot, "näme")
        await wait_for(pilot, lambda: app.model is not None and app.model.filter.text == "näme")
        assert len(table(app).keys()) == 1
        assert not [n for n in notes(app) if "failed" in n or "rror" in n], notes(app)
