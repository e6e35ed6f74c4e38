"""The SQLite engine's test support: raw rows written and read on a connection of its own,
as another program on the same file would (never through the store's private members)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from support.engines import EngineSupport
from support.nesting import nested_text
from support.targets import StoreTarget

import queuecore
import queuecore.store.sqlite.writes as sqlite_writes
from queuecore import Store


@contextlib.contextmanager
def connection(store: Store) -> Iterator[sqlite3.Connection]:
    """A connection of its own to the store's file; commits on success."""
    path = store.path  # type: ignore[attr-defined]
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


class SQLiteSupport(EngineSupport):
    name = "sqlite"
    cli_option = "--sqlite"
    profile_key = "sqlite"
    # NOT NULL DEFAULT 0: a row without an attempt count has 0 attempts
    defaults = frozenset({"attempts"})
    # the name column is TEXT: a number is stored as text
    keeps_raw_types = False
    bad_data = "{not json"

    def target(self, request: pytest.FixtureRequest, directory: Path, prefix: str = "jobs") -> StoreTarget:
        return StoreTarget(self.name, f"sqlite:///{directory}/jobs.db", "jobs")

    def unopenable(
        self, request: pytest.FixtureRequest, directory: Path
    ) -> tuple[StoreTarget, str, Callable[[], None]]:
        blocker = directory / "not-a-dir"
        blocker.write_text("a file where the database directory should be")
        target = StoreTarget(self.name, f"sqlite:///{blocker}/jobs.db", "jobs")
        return target, "cannot open SQLite database", blocker.unlink

    def made_anything(self, target: StoreTarget) -> bool:
        return any(Path(target.uri.removeprefix("sqlite:///")).parent.iterdir())

    async def insert_raw(self, store: Store, doc: dict[str, Any]) -> None:
        """Values are written as given into the matching columns (dicts and lists as JSON,
        dates as epoch milliseconds, anything else as is — a broken JSON string stays broken).
        The NOT NULL columns (name, status, created_at, available_at) must be given."""
        row = dict(doc)
        row["id"] = str(row.pop("_id", ObjectId()))
        for key, value in list(row.items()):
            if isinstance(value, dict | list):
                row[key] = json.dumps(value)
            elif hasattr(value, "timestamp"):
                row[key] = queuecore._time.to_ms(value)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with connection(store) as conn:
            conn.execute(f"INSERT INTO {store.collection} ({cols}) VALUES ({marks})", list(row.values()))

    async def raw_docs(self, store: Store) -> list[Any]:
        with connection(store) as conn:
            return [tuple(r) for r in conn.execute(f"SELECT * FROM {store.collection} ORDER BY id")]

    def raw_id(self, record: Any) -> str:
        return str(record[0])

    async def raw_audit(self, store: Store) -> list[dict[str, Any]]:
        with connection(store) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(f"SELECT * FROM {store.collection}_audit ORDER BY seq").fetchall()
        return [{**dict(r), "ids": json.loads(r["ids"])} for r in rows]

    async def stored_time(self, store: Store, id: Any, key: str) -> Any:
        with connection(store) as conn:
            (ms,) = conn.execute(f"SELECT {key} FROM {store.collection} WHERE id = ?", [str(id)]).fetchone()
        return None if ms is None else queuecore._time.from_ms(ms)

    def malformed_docs(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        base = {"name": "work", "status": "enqueued", "created_at": now, "available_at": now}
        return [
            {**base, "_id": "not-an-object-id"},
            {**base, "_id": ObjectId(), "created_at": "yesterday", "available_at": "now"},
            {**base, "_id": ObjectId(), "created_at": 10**18},  # far beyond year 9999
            {**base, "_id": ObjectId(), "status": '["enqueued"]'},
            {**base, "_id": ObjectId(), "name": "", "status": ""},
            {
                **base,
                "_id": ObjectId(),
                "data": "[1, 2]",
                "events": "{not json",
                "attempts": "many",
                "progress": "half",
                "result": "nope",
            },
        ]

    def malformed_doc(self, oid: Any, name: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "_id": oid,
            "name": name,
            "status": "enqueued",
            "created_at": now,
            "available_at": now,
            "data": "{this is not json",
        }

    def break_batches_midway(
        self, store: Store, monkeypatch: pytest.MonkeyPatch, after: int
    ) -> type[BaseException]:
        real = sqlite_writes.inserted
        calls = 0

        def failing(conn: sqlite3.Connection, sql: str, values: Any) -> bool:
            nonlocal calls
            calls += 1
            if calls == after + 1:
                raise sqlite3.OperationalError("database or disk is full")
            return real(conn, sql, values)

        monkeypatch.setattr(sqlite_writes, "inserted", failing)
        return sqlite3.OperationalError

    def write_poison(self, target: StoreTarget) -> dict[ObjectId, str]:
        """Poison documents of task ``work`` written directly, as another program would
        (nested too deep, not UTF-8, not JSON); returns id → a word the malformed problem names."""
        now = int(datetime.now(UTC).timestamp() * 1000)
        deep = nested_text(1000)
        rows: list[tuple[dict[str, Any], str]] = [
            ({"data": deep}, "data: nested deeper than 64 levels"),
            ({"data": nested_text(65)}, "data: nested deeper than 64 levels"),  # decodable, over the limit
            ({"result": deep}, "result: nested deeper than 64 levels"),
            ({"events": "[" * 1000 + "]" * 1000}, "events: nested deeper than 64 levels"),
            ({"data": "{not json"}, "data"),
            ({"data": b"\xff\xfe{}"}, "data"),  # a blob that is not UTF-8
            ({"data": "5"}, "data"),  # JSON, not an object
            ({"name": "CAST(x'ff776f726b' AS TEXT)"}, "name: not UTF-8 text"),
            ({"reason": "CAST(x'c328' AS TEXT)"}, "reason: not UTF-8 text"),
        ]
        path = target.uri.removeprefix("sqlite:///")
        conn = sqlite3.connect(path, isolation_level=None)
        out: dict[ObjectId, str] = {}
        try:
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
                sql_values = [v for v in row.values() if not (isinstance(v, str) and v.startswith("CAST("))]
                marks = ", ".join(
                    v if isinstance(v, str) and v.startswith("CAST(") else "?" for v in row.values()
                )
                conn.execute(
                    f"INSERT INTO {target.collection} ({', '.join(row)}) VALUES ({marks})", sql_values
                )
                out[oid] = problem
        finally:
            conn.close()
        return out


SUPPORT = SQLiteSupport()
