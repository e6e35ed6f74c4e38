"""Opening a PostgreSQL store: every failure is one ConnectError naming the problem with the
password masked, at once when the server refuses; readers create nothing; the schema is made
once by processes opening a new collection together, and recorded with its version."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest

import queuecore
from queuecore.store.postgres import schema

SECRET = "hunter2pw"


async def test_an_unreachable_server_is_one_error_with_the_password_masked() -> None:
    started = time.monotonic()
    with pytest.raises(queuecore.ConnectError) as info:
        await queuecore.connect(f"postgresql://bob:{SECRET}@127.0.0.1:1/jobs", timeout=2)
    message = str(info.value)
    assert message.startswith("cannot reach PostgreSQL at postgresql://bob:***@127.0.0.1:1/jobs")
    assert SECRET not in message and "\\n" not in message
    assert time.monotonic() - started < 5


async def test_a_missing_database_is_said_at_once(postgres_uri: str) -> None:
    uri = postgres_uri.rpartition("/")[0] + "/no_such_db"
    started = time.monotonic()
    with pytest.raises(queuecore.ConnectError, match='database "no_such_db" does not exist'):
        await queuecore.connect(uri, timeout=10)
    assert time.monotonic() - started < 3  # not the pool's retries until the timeout


async def test_postgres_scheme_and_a_bad_uri(postgres_uri: str) -> None:
    collection = f"alias_{uuid.uuid4().hex[:8]}"
    store = await queuecore.connect(
        postgres_uri.replace("postgresql://", "postgres://"), collection=collection
    )
    try:
        assert store.engine == "postgresql" and store.mode == "listen/notify"
    finally:
        async with await psycopg.AsyncConnection.connect(postgres_uri, autocommit=True) as conn:
            await conn.execute(schema.drop_sql(collection))
        await store.close()
    with pytest.raises(queuecore.ConnectError, match="invalid PostgreSQL URI"):
        await queuecore.connect(f"postgresql://bob:{SECRET}@host/db?sslmode")
    with pytest.raises(queuecore.ConnectError, match="invalid collection name"):
        await queuecore.connect(postgres_uri, collection="jobs; drop table x")


async def test_readers_create_nothing(postgres_uri: str) -> None:
    collection = f"reader_{uuid.uuid4().hex[:8]}"
    with pytest.raises(queuecore.ConnectError, match=f"no store at .*{collection}"):
        await queuecore.connect(postgres_uri, collection=collection, create=False)
    async with await psycopg.AsyncConnection.connect(postgres_uri, autocommit=True) as conn:
        cur = await conn.execute("SELECT to_regclass(%s)", [f'"{collection}"'])
        assert (await cur.fetchone()) == (None,)


async def test_processes_opening_a_new_collection_together_make_it_once(postgres_uri: str) -> None:
    collection = f"race_{uuid.uuid4().hex[:8]}"
    stores = await asyncio.gather(*(queuecore.connect(postgres_uri, collection=collection) for _ in range(6)))
    try:
        async with await psycopg.AsyncConnection.connect(postgres_uri, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT version FROM queuecore_schema WHERE collection = %s", [collection]
            )
            assert await cur.fetchall() == [(schema.VERSION,)]
    finally:
        async with await psycopg.AsyncConnection.connect(postgres_uri, autocommit=True) as conn:
            await conn.execute(schema.drop_sql(collection))
        for store in stores:
            await store.close()


async def test_another_programs_table_is_refused_untouched(postgres_uri: str) -> None:
    collection = f"theirs_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(postgres_uri, autocommit=True) as conn:
        await conn.execute(f'CREATE TABLE "{collection}" (x int)')
        try:
            with pytest.raises(queuecore.ConnectError, match="is not a queuecore jobs table"):
                await queuecore.connect(postgres_uri, collection=collection)
            cur = await conn.execute("SELECT to_regclass(%s)", [f'"{collection}_changes"'])
            assert (await cur.fetchone()) == (None,)
        finally:
            await conn.execute(f'DROP TABLE "{collection}"')
