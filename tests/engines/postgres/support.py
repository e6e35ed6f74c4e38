"""The PostgreSQL engine's test support: one throw-away server per test session (``server.py``;
``QUEUECORE_TEST_POSTGRES_URI`` names an existing one instead), a table per test, and raw rows
written and read on connections of their own, as another program would.

Another program writing into the jobs table is bound by its column types: a value a column
cannot hold (a time that is not a date, a count that is not an integer) is written as NULL,
the nearest thing such a program can leave there. Text holding NUL, which PostgreSQL cannot
hold, is written as the engine encodes it (``queuecore.store.postgres.text``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bson import ObjectId
from support.engines import EngineSupport
from support.nesting import nested_text
from support.targets import StoreTarget

import queuecore.store.postgres.batch as pg_batch
from queuecore import ConnectError, Store
from queuecore.store.postgres import text as pgtext
from queuecore.store.postgres.schema import drop_sql

from .server import Server, start_server

#: The column types of the jobs table, by kind (what a raw value must be to be stored).
TIMES = {"created_at", "available_at", "started_at", "ended_at", "finished_at", "heartbeat_at"}
JSONB = {"data", "result", "events"}
INTEGERS = {"attempts"}
FLOATS = {"progress"}

_server: Server | None = None


def server_uri(config: pytest.Config) -> str:
    """The server's URI: from the environment, or the session's own server (started at the
    first call, stopped when the session ends)."""
    global _server
    env = os.environ.get("QUEUECORE_TEST_POSTGRES_URI")
    if env:
        return env
    if _server is None:
        _server = start_server()
        started = _server

        def stop() -> None:
            global _server
            started.stop()
            _server = None

        config.add_cleanup(stop)
    return _server.uri


def session_server() -> Server | None:
    """The session's own server (None with ``QUEUECORE_TEST_POSTGRES_URI``, or before it started)."""
    return _server


def raw_value(key: str, value: Any) -> Any:
    """``value`` as another program's statement would pass it for column ``key``."""
    if value is None:
        return None
    if key in TIMES:
        return value if isinstance(value, datetime) else None
    if key in INTEGERS:
        return value if type(value) is int else None
    if key in FLOATS:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if key in JSONB:
        return json.dumps(pgtext.encode_json(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return pgtext.encode(str(value))


class PostgresSupport(EngineSupport):
    name = "postgresql"
    # attempts integer DEFAULT 0: a row without an attempt count has 0 attempts
    defaults = frozenset({"attempts"})
    # the name column is text: a number is stored as text
    keeps_raw_types = False
    bad_data = "a string"

    def target(self, request: pytest.FixtureRequest, directory: Path, prefix: str = "jobs") -> StoreTarget:
        return StoreTarget(self.name, server_uri(request.config), f"{prefix}_{uuid.uuid4().hex[:12]}")

    def unopenable(
        self, request: pytest.FixtureRequest, directory: Path
    ) -> tuple[StoreTarget, str, Callable[[], None]]:
        uri = server_uri(request.config)
        database = f"qc_missing_{uuid.uuid4().hex[:8]}"
        target = StoreTarget(self.name, f"{uri.rpartition('/')[0]}/{database}", "jobs")

        def fix() -> None:
            with psycopg.connect(uri, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')

        return target, f'database "{database}" does not exist', fix

    def made_anything(self, target: StoreTarget) -> bool:
        with psycopg.connect(target.uri, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{target.collection}"']).fetchone()
        return bool(row and row[0])

    async def drop(self, store: Store) -> None:
        async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
            await conn.execute(drop_sql(store.collection))

    async def insert_raw(self, store: Store, doc: dict[str, Any]) -> None:
        row = {("id" if k == "_id" else k): v for k, v in doc.items()}
        row.setdefault("id", str(ObjectId()))
        row["id"] = str(row["id"])
        values = {k: raw_value(k, v) for k, v in row.items()}
        cols = ", ".join(values)
        marks = ", ".join("%s::jsonb" if k in JSONB else "%s" for k in values)
        async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
            await conn.execute(
                f'INSERT INTO "{store.collection}" ({cols}) VALUES ({marks})', list(values.values())
            )

    async def raw_docs(self, store: Store) -> list[Any]:
        async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
            cur = await conn.execute(f'SELECT * FROM "{store.collection}" ORDER BY id')
            return [tuple(r) for r in await cur.fetchall()]

    def raw_id(self, record: Any) -> str:
        return str(record[0])

    async def raw_audit(self, store: Store) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
            cur = await conn.execute(
                f'SELECT at, who, source, action, ids, detail FROM "{store.collection}_audit" ORDER BY seq'
            )
            rows = await cur.fetchall()
        keys = ("at", "who", "source", "action", "ids", "detail")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def stored_time(self, store: Store, id: Any, key: str) -> Any:
        async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
            cur = await conn.execute(f'SELECT {key} FROM "{store.collection}" WHERE id = %s', [str(id)])
            row = await cur.fetchone()
        assert row is not None
        return row[0]

    def malformed_docs(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        base = {"name": "work", "status": "enqueued", "created_at": now, "available_at": now}
        return [
            {**base, "_id": "not-an-object-id"},
            {**base, "_id": ObjectId(), "created_at": None, "available_at": None},
            {**base, "_id": ObjectId(), "status": '["enqueued"]'},
            {**base, "_id": ObjectId(), "name": "", "status": ""},
            {
                **base,
                "_id": ObjectId(),
                "data": [1, 2],
                "events": "nope",
                "attempts": None,
                "result": [1, 2],
            },
        ]

    def malformed_doc(self, oid: Any, name: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {"_id": oid, "name": name, "status": "exploded", "created_at": now, "available_at": now}

    def break_batches_midway(
        self, store: Store, monkeypatch: pytest.MonkeyPatch, after: int
    ) -> type[BaseException]:
        real = pg_batch.insert_plain

        async def part_then_lost(cur: Any, table: str, rows: Any) -> set[str]:
            await real(cur, table, rows[:after])
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(pg_batch, "insert_plain", part_then_lost)
        return ConnectError

    def write_poison(self, target: StoreTarget) -> dict[ObjectId, str]:
        """Poison rows of task ``work`` written directly (nested too deep, not JSON objects)."""
        now = datetime.now(UTC)
        deep = nested_text(1000)
        rows: list[tuple[dict[str, Any], str]] = [
            ({"data": deep}, "data: nested deeper than 64 levels"),
            ({"data": nested_text(65)}, "data: nested deeper than 64 levels"),
            ({"result": deep}, "result: nested deeper than 64 levels"),
            ({"events": "[" * 1000 + "]" * 1000}, "events: nested deeper than 64 levels"),
            ({"data": "5"}, "data"),  # JSON, not an object
            ({"data": '"text"'}, "data"),
            ({"events": '{"not": "a list"}'}, "events"),
        ]
        out: dict[ObjectId, str] = {}
        with psycopg.connect(target.uri, autocommit=True) as conn:
            for values, problem in rows:
                oid = ObjectId()
                row: dict[str, Any] = {
                    "id": str(oid),
                    "name": "work",
                    "status": "enqueued",
                    "created_at": now,
                    "available_at": now,
                    **values,
                }
                marks = ", ".join("%s::jsonb" if k in JSONB else "%s" for k in row)
                conn.execute(
                    f'INSERT INTO "{target.collection}" ({", ".join(row)}) VALUES ({marks})',
                    list(row.values()),
                )
                out[oid] = problem
        return out


SUPPORT = PostgresSupport()
