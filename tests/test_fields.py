"""One table of a job's stored fields (``queuecore.fields``) drives the model, both engines'
codecs and the CLI: every field of the model is in it, every field written is read back whole
on each engine, ``jobtui show`` (text and ``--json``) shows every one, a SQLite table has a
column per field, and a table made before a field existed still opens.

The jobs here are made from the table itself (a value of each field's kind), so a field added
to it is covered by these tests without editing them.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from support.cli import Cli, in_store

import queuecore
from jobtui.present import job_json
from queuecore import Event, Job, Status
from queuecore.fields import FIELDS, SQL_TYPES, Kind, Stored

BASE = datetime(2024, 5, 1, 12, tzinfo=UTC)


def sample(spec: Stored, index: int) -> Any:
    """A value of ``spec``'s kind that is not its default (and differs from other fields')."""
    return {
        Kind.ID: ObjectId(),
        Kind.TEXT: f"{spec.attr} text",
        Kind.STATUS: Status.DEQUEUED,
        Kind.TIME: BASE + timedelta(seconds=index),
        Kind.INT: index,
        Kind.FLOAT: index / 100,
        Kind.OBJECT: {spec.attr: [index, "x"]},
        Kind.EVENTS: [
            Event(at=BASE, status="enqueued", reason=""),
            Event(at=BASE, status="dequeued", reason=""),
        ],
    }[spec.kind]


def full_job() -> Job:
    """A job with every stored field set to a value of its own (none at its default)."""
    return Job(**{spec.attr: sample(spec, i) for i, spec in enumerate(FIELDS)})


def test_the_model_has_exactly_the_tables_fields_with_their_keys_and_defaults() -> None:
    model = {name: info for name, info in Job.model_fields.items() if name != "malformed"}
    assert list(model) == [spec.attr for spec in FIELDS]
    for spec in FIELDS:
        info = model[spec.attr]
        assert (info.alias or spec.attr) == spec.key, spec
        assert info.is_required() == spec.required, spec
        if not spec.required:
            assert info.get_default(call_default_factory=True) == spec.empty(), spec
    assert set(full_job().to_doc()) == {spec.key for spec in FIELDS}


def test_a_document_without_the_optional_fields_reads_as_their_defaults() -> None:
    """What a fire/axe document (or one written before a field was added) reads as."""
    job = full_job()
    doc = {spec.key: value for spec in FIELDS if spec.required for value in [job.to_doc()[spec.key]]}
    read = Job.from_doc(doc)
    assert read.malformed is None
    for spec in FIELDS:
        assert getattr(read, spec.attr) == (getattr(job, spec.attr) if spec.required else spec.empty()), spec


def test_a_malformed_document_keeps_the_fields_it_can_and_shows_the_rest_as_defaults() -> None:
    job = full_job()
    doc = {**job.to_doc(), "attempts": "three"}  # not an integer: the document is not a valid job
    salvaged = Job.from_doc(doc)
    assert salvaged.malformed is not None and "attempts" in salvaged.malformed
    for spec in FIELDS:
        if spec.attr == "attempts" or not spec.salvage:
            assert getattr(salvaged, spec.attr) == spec.empty(), spec
        else:
            assert getattr(salvaged, spec.attr) == getattr(job, spec.attr), spec
    empty = Job.salvage({}, "nothing there")  # a required field still shows something (no time)
    assert all(getattr(empty, f.attr) is not None for f in FIELDS if f.required and f.kind is not Kind.TIME)


async def test_every_field_written_is_read_back_whole(store: queuecore.Store) -> None:
    job = full_job()
    assert await store.insert(job, lock=False)
    assert await store.get(job.id) == job
    [found] = await store.find()
    assert found == job and found.malformed is None


def test_show_prints_every_stored_field(cli: Cli) -> None:
    """``jobtui show --json`` holds every stored field (scripts read them), as the job JSON has
    it; ``jobtui show`` lists every one that is not data, result or history (printed apart)."""
    job = full_job()
    in_store(cli.target, lambda s: s.insert(job, lock=False))
    shown = cli.json("show", str(job.id))
    expected = job_json(job)
    for spec in FIELDS:
        assert spec.attr in shown, f"show --json lacks {spec.attr}"
        assert shown[spec.attr] == expected[spec.attr], spec.attr
    assert shown["trace"] == job.trace and shown["heartbeat"] == job.heartbeat.isoformat()  # type: ignore[union-attr]
    text = cli.ok("show", str(job.id)).stdout
    for spec in FIELDS:
        if spec.kind is Kind.TEXT:
            assert getattr(job, spec.attr) in text, f"show lacks {spec.attr}"
        elif spec.kind is Kind.TIME:
            assert getattr(job, spec.attr).isoformat() in text, f"show lacks {spec.attr}"
    assert "heartbeat" in text and "trace" in text


def test_a_new_sqlite_table_has_a_column_per_field(tmp_path: Path) -> None:
    asyncio.run(opened_and_closed(f"sqlite:///{tmp_path}/jobs.db"))
    with sqlite3.connect(tmp_path / "jobs.db") as conn:
        columns = {row[1]: row for row in conn.execute("PRAGMA table_info(jobs)")}
        assert list(columns) == [spec.sql_column for spec in FIELDS] + ["lock"]
        for spec in FIELDS:
            _, name, kind, notnull, default, pk = columns[spec.sql_column]
            assert (kind, bool(pk)) == (SQL_TYPES[spec.kind], spec.kind is Kind.ID), name
            assert bool(notnull) == (not spec.nullable and spec.kind is not Kind.ID), name
            if spec.required or spec.nullable:
                assert default is None, name
            else:  # a row written without it holds its default, as the column stores it
                value = spec.empty()
                stored = json.dumps(value) if isinstance(value, dict | list) else value
                assert conn.execute(f"SELECT {default}").fetchone()[0] == stored, name
    conn.close()


async def opened_and_closed(uri: str) -> None:
    store = await queuecore.connect(uri)
    await store.close()


#: The jobs table as an earlier version made it, before ``cancel_reason``, ``heartbeat_at`` and
#: ``trace`` existed (stored data of the past: it stays as it is when fields are added).
EARLIER_TABLE = """CREATE TABLE jobs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, label TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, created_at INTEGER NOT NULL,
    available_at INTEGER NOT NULL, started_at INTEGER, ended_at INTEGER, finished_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, result TEXT, reason TEXT NOT NULL DEFAULT '',
    events TEXT NOT NULL DEFAULT '[]', worker TEXT NOT NULL DEFAULT '', progress REAL,
    note TEXT NOT NULL DEFAULT '', lock TEXT UNIQUE
)"""


def test_a_sqlite_table_made_before_a_field_existed_opens_and_gains_its_column(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    old = ObjectId()
    with sqlite3.connect(path) as conn:
        conn.execute(EARLIER_TABLE)
        conn.execute(
            "INSERT INTO jobs (id, name, status, created_at, available_at, worker) VALUES (?, ?, ?, ?, ?, ?)",
            (str(old), "mail", "dequeued", 1714564800000, 1714564800000, "host:1"),
        )
    conn.close()

    async def use() -> tuple[Job | None, Job, Job | None]:
        store = await queuecore.connect(f"sqlite:///{path}")
        try:
            job = full_job()
            assert await store.insert(job, lock=False)
            return await store.get(old), job, await store.get(job.id)
        finally:
            await store.close()

    earlier, job, read = asyncio.run(use())
    assert earlier is not None and earlier.malformed is None
    assert (earlier.worker, earlier.cancel_reason, earlier.heartbeat, earlier.trace) == (
        "host:1",
        None,
        None,
        None,
    )
    assert read == job
    with sqlite3.connect(path) as conn:
        assert {"cancel_reason", "heartbeat_at", "trace"} <= {
            r[1] for r in conn.execute("PRAGMA table_info(jobs)")
        }
    conn.close()
