"""Fixtures: every store-level test runs on every engine of the registry
(``support.engines``: each engine package's ``tests/engines/<package>/support.py``).

The MongoDB half runs against ``QUEUECORE_TEST_MONGO_URI`` when it is set (a
real MongoDB, replica set for change streams), otherwise against an nx-27017
server started here in a subprocess (see ``support/mongo_server.py`` for its known
defects and the workarounds applied inside that process).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import engines
from support.engines import ENGINES
from support.targets import StoreTarget

import queuecore


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The nx-27017 test server (None when QUEUECORE_TEST_MONGO_URI is set)."""
    if os.environ.get("QUEUECORE_TEST_MONGO_URI"):
        yield None
        return
    from support.mongo_server import start_server

    server = start_server(tmp_path_factory.mktemp("nx27017"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_uri(mongo_server: Any) -> str:
    """A MongoDB URI for tests: the real server from the environment, or nx-27017."""
    env = os.environ.get("QUEUECORE_TEST_MONGO_URI")
    if env:
        return env
    assert mongo_server is not None
    return mongo_server.uri


@pytest.fixture(params=ENGINES)
def target(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> StoreTarget:
    """A fresh, empty place for jobs on each engine (a new file / a new collection)."""
    return engines.of(request.param).target(request, Path(tmp_path))


@pytest.fixture
async def store(target: StoreTarget) -> AsyncIterator[queuecore.Store]:
    """An open store on ``target``; what it left on a shared server is dropped afterwards."""
    opened = await queuecore.connect(target.uri, collection=target.collection)
    try:
        yield opened
    finally:
        await target.support.drop(opened)
        await opened.close()


@pytest.fixture
async def open_store(target: StoreTarget) -> AsyncIterator:
    """A factory for more stores on the same target (a second process's view)."""
    opened: list[queuecore.Store] = []

    async def factory() -> queuecore.Store:
        s = await queuecore.connect(target.uri, collection=target.collection)
        opened.append(s)
        return s

    yield factory
    for s in opened:
        await s.close()


@pytest.fixture
def quick_target(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> StoreTarget:
    """A fresh place for jobs on the quickest engine (``engines.QUICK``), for a test whose
    subject does not depend on the engine."""
    return engines.QUICK.target(request, Path(tmp_path))


@pytest.fixture
def quick_cli(quick_target: StoreTarget) -> Iterator[Any]:
    """``jobtui`` commands on ``quick_target`` (what they left on a server dropped afterwards)."""
    from support.cli import Cli, drop

    yield Cli(quick_target)
    drop(quick_target)


@pytest.fixture
def cli(target: StoreTarget) -> Iterator[Any]:
    """``jobtui`` commands on ``target`` (tests/support/cli.py); MongoDB collections dropped afterwards."""
    from support.cli import Cli, drop

    yield Cli(target)
    drop(target)
