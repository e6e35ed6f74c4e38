"""The jobs table has a column per stored field (``queuecore.fields.FIELDS``), and a table
made before a field existed gains its column, with the field's default, when a store opens it."""

from __future__ import annotations

import psycopg

import queuecore
from queuecore import Blueprint
from queuecore.fields import FIELDS


async def columns(store: queuecore.Store) -> dict[str, str | None]:
    async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(
            "SELECT column_name, column_default FROM information_schema.columns WHERE table_name = %s",
            [store.collection],
        )
        return dict(await cur.fetchall())


async def test_a_new_table_has_a_column_per_field(store: queuecore.Store) -> None:
    assert set(await columns(store)) == {f.sql_column for f in FIELDS} | {"locked"}


async def test_a_table_made_before_a_field_existed_gains_its_column(store: queuecore.Store, target) -> None:
    job = await queuecore.enqueue(store, Blueprint("old"))
    async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
        await conn.execute(f'ALTER TABLE "{store.collection}" DROP COLUMN note, DROP COLUMN trace')
    again = await queuecore.connect(target.uri, collection=target.collection)
    try:
        found = await columns(again)
        assert "note" in found and found["note"] == "''::text" and "trace" in found
        read = await again.get(job.id)
        assert read is not None and read.malformed is None and read.note == "" and read.trace is None
    finally:
        await again.close()
