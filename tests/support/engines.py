"""The engines the suite runs on — one per engine package of the registry — and each one's
test support (``tests/engines/<package>/support.py``).

Shared tests never branch on an engine's name: what differs between engines (how another
program writes a raw document, what a store leaves behind, the emulator's known
differences) is a method or an attribute of the engine's :class:`EngineSupport`. A new
engine is one package, one registry entry and one ``support.py``; the shared tests run on
it unchanged.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from queuecore import Store
from queuecore.store import registry

if TYPE_CHECKING:
    from .targets import StoreTarget


class EngineSupport:
    """What the tests need to know of one engine, beyond the ``Store`` protocol."""

    #: The engine's name, as ``store.engine`` says it (and the test ids show it).
    name: str
    #: The CLI's shorthand for ``--store`` with a store of this engine (``--sqlite``,
    #: ``--mongo``); None for an engine without one (tests then use ``--store``).
    cli_option: str | None = None
    #: The profile key of that shorthand (``store =`` names a store of any engine).
    profile_key: str | None = None
    #: Fast enough for the stress tests' full sizes (the MongoDB emulator is not).
    fast: bool = True
    #: Writing many jobs in one call is all or nothing (else a failure midway keeps a part).
    atomic_batches: bool = True
    #: Stored keys a raw document may leave out, which the engine then fills with a default.
    defaults: frozenset[str] = frozenset()
    #: A raw value keeps its type (a number stays a number where a name is expected).
    keeps_raw_types: bool = True
    #: A ``data`` value another program stored that is not a job's data.
    bad_data: Any = None

    @property
    def quirks(self) -> frozenset[str]:
        """Known differences of the server the tests run against (README, "Testing against
        MongoDB"); empty on a real server."""
        return frozenset()

    def target(self, request: pytest.FixtureRequest, directory: Path, prefix: str = "jobs") -> StoreTarget:
        """A fresh, empty place for jobs: a new file in ``directory`` or a new collection."""
        raise NotImplementedError

    def made_anything(self, target: StoreTarget) -> bool:
        """Whether anything of the target's store exists (a file beside it; its collection)."""
        raise NotImplementedError

    async def drop(self, store: Store) -> None:
        """Remove what the store's collection left on a shared server (jobs and audit log)."""

    async def insert_raw(self, store: Store, doc: dict[str, Any]) -> None:
        """Insert ``doc`` as another program might have: no validation at all."""
        raise NotImplementedError

    async def raw_docs(self, store: Store) -> list[Any]:
        """The jobs exactly as stored, in id order (to prove nothing changed or was lost)."""
        raise NotImplementedError

    def raw_id(self, record: Any) -> str:
        """The stored id of one of :meth:`raw_docs`' records, as text."""
        raise NotImplementedError

    async def raw_audit(self, store: Store) -> list[dict[str, Any]]:
        """The audit log's entries as stored in ``<collection>_audit`` (``ids`` as a list)."""
        raise NotImplementedError

    async def stored_time(self, store: Store, id: Any, key: str) -> Any:
        """The time stored under ``key`` (the stored name: ``heartbeat_at``…) of job ``id``,
        as a datetime (None when unset), read raw."""
        raise NotImplementedError

    def malformed_docs(self) -> list[dict[str, Any]]:
        """Documents that are not valid jobs, as other programs (or bugs) might leave them;
        each carries the task name ``work`` where a name is given."""
        raise NotImplementedError

    def malformed_doc(self, oid: Any, name: str) -> dict[str, Any]:
        """One document of task ``name`` that is not a valid job."""
        raise NotImplementedError

    def write_poison(self, target: StoreTarget) -> dict[Any, str]:
        """Poison documents of task ``work`` written directly, as another program would
        (nested too deep, not UTF-8, not JSON); returns id → a word the malformed problem names."""
        raise NotImplementedError

    def play_filter_timeout(self, monkeypatch: pytest.MonkeyPatch) -> bool:
        """Where the server ignores a read's time limit, make every filtered read answer the
        server's "time limit exceeded" (True); False where a slow filter really runs over it."""
        return False

    def unopenable(
        self, request: pytest.FixtureRequest, directory: Path
    ) -> tuple[StoreTarget, str, Callable[[], None]]:
        """A target no store can be opened on until the returned ``fix()`` is called, and the
        words the connect error then says (a file where the database's directory should be)."""
        raise NotImplementedError

    def break_batches_midway(
        self, store: Store, monkeypatch: pytest.MonkeyPatch, after: int
    ) -> type[BaseException]:
        """Make ``enqueue_many`` fail after ``after`` jobs of a batch (a full disk, a lost
        server); returns the error it then raises. ``monkeypatch.undo()`` heals it."""
        raise NotImplementedError


def packages() -> list[str]:
    """The engine packages the registry names (``sqlite``, ``mongo``), in its order."""
    found: list[str] = []
    for target in registry.BUILTIN.values():
        package = target.partition(":")[0].rsplit(".", 1)[-1]
        if package not in found:
            found.append(package)
    return found


def _load() -> dict[str, EngineSupport]:
    supports = [importlib.import_module(f"engines.{p}.support").SUPPORT for p in packages()]
    return {s.name: s for s in supports}


#: Every engine's support, by engine name.
SUPPORTS: dict[str, EngineSupport] = _load()
#: The engines' names: what store-level fixtures are parametrised with.
ENGINES: list[str] = list(SUPPORTS)
#: The engine of tests whose subject does not depend on the engine (the CLI's output, the
#: dashboard's chrome and connection screen, the examples): they run once, on the registry's
#: first fast engine, and never name it (``quick_target``, ``quick_cli`` in tests/conftest.py).
QUICK: EngineSupport = next(s for s in SUPPORTS.values() if s.fast)


def of(engine: str | Store | StoreTarget) -> EngineSupport:
    """The support of an engine, given its name, one of its stores or a target."""
    name = engine if isinstance(engine, str) else engine.engine
    return SUPPORTS[name]


async def insert_raw(store: Store, doc: dict[str, Any]) -> None:
    """Insert ``doc`` into ``store`` as another program might have (see the engine's support)."""
    await of(store).insert_raw(store, doc)
