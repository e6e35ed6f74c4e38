"""Rows another program wrote that Python cannot hold as they are: a time of ``infinity`` or
past year 9999 (the driver cannot make a datetime of it) reads as a malformed job, never a
failed read; such a time never counts as due, stalled or old. Text holding NUL (which
PostgreSQL refuses) is stored encoded and reads back whole."""

from __future__ import annotations

import psycopg

import queuecore
from queuecore import Blueprint, parse


async def test_times_python_cannot_hold_are_salvaged_not_raised(store: queuecore.Store) -> None:
    good = await queuecore.enqueue(store, Blueprint("w"))
    assert good is not None
    async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
        for n, (created, available) in enumerate(
            [("infinity", "-infinity"), ("10000-01-01", "0044-03-15 BC")]
        ):
            await conn.execute(
                f'INSERT INTO "{store.collection}" (id, name, status, created_at, available_at)'
                " VALUES (%s, 'w', 'dequeued', %s::timestamptz, %s::timestamptz)",
                [f"{n:024x}", created, available],
            )
    jobs = await store.find()
    assert len(jobs) == 3
    odd = [j for j in jobs if j.id != good.id]
    assert all(j.malformed and "created_at" in j.malformed for j in odd), odd
    # never stalled nor aged: the salvaged job has no time (queuecore.status), and SQL agrees
    for text in ("status:running", "status:stalled", "age:>1h", "age:<1h", "!age:<1h"):
        q = parse(text)
        assert [j.id for j in await store.find(query=q)] == [j.id for j in jobs if q.matches(j)], text
    counts = await store.counts()
    assert counts["dequeued"] == 2 and counts["stalled"] == 0 and counts["running"] == 2


async def test_text_holding_nul_is_stored_encoded_and_read_back_whole(store: queuecore.Store) -> None:
    data = {"k\uffff": "a\0b\U0010ffff\U0010fffe", "list": ["\0", 1]}
    job = await queuecore.enqueue(store, Blueprint("n\0ame", label="l\0", data=data))
    assert job is not None
    read = await store.get(job.id)
    assert read is not None and read.malformed is None
    assert (read.name, read.label, read.data) == ("n\0ame", "l\0", data)
    async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(f'SELECT strpos(name, chr(1114111)) FROM "{store.collection}"')
        assert (await cur.fetchone()) == (2,)  # the NUL's codeword
    assert [j.id for j in await store.find(query=parse('"\0a"'))] == [job.id]
    assert await store.find(query=parse('"\U0010ffff"')) == []  # a codeword is not its characters
