"""A handler's result holding NaN or ±Infinity, which SQLite stores (MongoDB refuses it): the
CLI's ``--json`` output stays JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import Cli, in_store
from support.targets import StoreTarget

import queuecore
from queuecore import Blueprint, Store


def test_json_output_stays_json_when_a_result_holds_nan(tmp_path: Path) -> None:
    """A handler's result may hold NaN or ±Infinity (SQLite stores it; MongoDB refuses it): ``--json``
    prints null for them, as JSON.stringify does, so any JSON parser reads the output."""
    target = StoreTarget("sqlite", f"sqlite:///{tmp_path}/jobs.db", "jobs")

    async def finish(store: Store) -> str:
        job = await queuecore.enqueue(store, Blueprint("measure"))
        assert job is not None and await queuecore.dequeue(store, job.id, 60) is not None
        await queuecore.complete(store, job.id, {"ratio": float("nan"), "top": [float("inf"), 1.5]})
        return str(job.id)

    job_id = in_store(target, finish)
    cli = Cli(target)

    def strict(text: str) -> object:
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))

    [listed] = strict(cli.ok("ls", "--json").stdout)
    assert listed["result"] == {"ratio": None, "top": [None, 1.5]}
    assert strict(cli.ok("show", job_id, "--json").stdout)["result"] == listed["result"]
