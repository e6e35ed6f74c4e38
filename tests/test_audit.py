"""The audit log: the store level on both engines, and the CLI's mutating commands."""

from __future__ import annotations

import asyncio
import getpass
import json
from datetime import UTC

import pytest
from bson import ObjectId
from support import engines
from support.cli import Cli, in_store
from test_cli import make_mix

import queuecore
from queuecore import AuditEntry, Blueprint, Status
from queuecore.audit import MAX_IDS, actor, history, record

# -- the store level ------------------------------------------------------------------


async def test_record_and_history_newest_first(store: queuecore.Store, open_store) -> None:
    a, b = ObjectId(), ObjectId()
    first = await record(store, "cancel", [a], source="tui", detail="stuck")
    second = await record(store, "requeue", [str(a), b], source="api", who="ops@box")
    assert isinstance(first, AuditEntry)
    assert first.who == actor() and "@" in first.who
    assert first.ids == [str(a)] and second.ids == [str(a), str(b)]
    assert first.at.tzinfo is not None and first.at.astimezone(UTC) == first.at
    assert await history(store) == [second, first]  # exactly as recorded, newest first
    # another process (a second connection) reads the same log
    other = await open_store()
    assert await history(other, limit=1) == [second]
    assert await history(other, limit=0) == []


async def test_the_log_is_next_to_the_jobs_and_apart_from_them(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("work"))
    assert job is not None
    watch = store.watch()
    assert (await anext(watch)).kind == "reset"
    await record(store, "cancel", [job.id], source="cli")
    marker = await queuecore.enqueue(store, Blueprint("marker"))
    assert marker is not None
    change = await asyncio.wait_for(anext(watch), 10)
    assert change.id == marker.id  # the audit write is not a job change
    await watch.aclose()
    assert [j.id for j in await store.find()] == [marker.id, job.id]
    assert (await store.counts()).total == 2
    assert len(await engines.of(store).raw_audit(store)) == 1  # in <collection>_audit


async def test_a_huge_selection_keeps_the_first_ids_and_the_total(store: queuecore.Store) -> None:
    ids = (ObjectId() for _ in range(2500))  # any iterable, read once
    entry = await record(store, "cancel", ids, source="tui", detail="filter: status:failed")
    assert len(entry.ids) == MAX_IDS
    assert entry.detail == "filter: status:failed (2500 jobs; the first 1000 ids are listed)"
    (stored,) = await history(store)
    assert stored == entry
    (raw,) = await engines.of(store).raw_audit(store)
    assert len(raw["ids"]) == MAX_IDS


async def test_bad_entries_are_refused_and_nothing_is_written(store: queuecore.Store) -> None:
    with pytest.raises(ValueError, match="unknown audit source 'web'; expected one of tui, cli, api"):
        await record(store, "cancel", [ObjectId()], source="web")
    with pytest.raises(ValueError, match="needs an action"):
        await record(store, "  ", [ObjectId()], source="cli")
    assert await history(store) == []


def test_actor_without_a_user_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("no passwd entry")

    monkeypatch.setattr(getpass, "getuser", no_user)
    who = actor()
    user, _, host = who.partition("@")
    assert user.startswith("uid") and host


# -- the CLI ---------------------------------------------------------------------------


def entries(cli: Cli) -> list[AuditEntry]:
    return in_store(cli.target, lambda s: history(s))


def test_cli_changes_are_recorded(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)
    new_id = cli.ok("enqueue", "send-mail", "--label", "ada").stdout.strip()
    cli.ok("cancel", str(ids["enqueued"]), "--reason", "duplicate order")
    cli.ok("cancel", str(ids["dequeued"]))
    cli.ok("requeue", str(ids["failed"]), "--delay", "30")
    log = entries(cli)
    assert [(e.action, e.ids) for e in log] == [
        ("requeue", [str(ids["failed"])]),
        ("cancel", [str(ids["dequeued"])]),
        ("cancel", [str(ids["enqueued"])]),
        ("enqueue", [new_id]),
    ]
    assert {e.source for e in log} == {"cli"} and {e.who for e in log} == {actor()}
    assert [e.detail for e in log] == [
        "delay 30s",
        "cancelled by operator (cancellation requested: it runs)",
        "duplicate order",
        "send-mail label=ada",
    ]
    shown = cli.json("audit")
    assert [(e["action"], e["ids"], e["source"]) for e in shown] == [(e.action, e.ids, "cli") for e in log]
    assert cli.json("audit", "--limit", "1")[0]["detail"] == "delay 30s"
    table = cli.ok("audit").stdout
    assert "requeue" in table and "enqueue" in table and actor().split("@")[0] in table


def test_cli_records_nothing_when_nothing_changed(cli: Cli) -> None:
    ids = in_store(cli.target, make_mix)
    assert cli("cancel", str(ids["completed"])).exit_code == 1  # a finished job: refused
    assert cli("requeue", str(ids["enqueued"])).exit_code == 1
    assert cli("cancel", str(ObjectId())).exit_code == 1  # no such job
    assert cli("enqueue", "x", "--data", "[1]").exit_code == 1  # bad input
    assert cli("enqueue", "x", env={"JOBTUI_READ_ONLY": "1"}).exit_code == 1
    cli.ok("enqueue", "dedup", "--label", "one")
    skipped = cli("enqueue", "dedup", "--label", "one")  # de-duplicated: nothing enqueued
    assert skipped.exit_code == 0 and skipped.stdout == ""
    assert [e.action for e in entries(cli)] == ["enqueue"]
    assert in_store(cli.target, lambda s: s.counts())[Status.ENQUEUED.value] == 2


def test_cli_audit_on_an_empty_log(cli: Cli) -> None:
    in_store(cli.target, lambda s: s.count())  # the store exists (audit never creates one)
    result = cli("audit")
    assert result.exit_code == 0 and result.stdout == ""
    assert "no operator actions recorded" in result.stderr
    assert json.loads(cli.ok("audit", "--json").stdout) == []
