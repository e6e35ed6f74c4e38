"""Helpers for the command-line tests: ``jobtui`` commands on one store (typer's runner,
in-process), and the one-line error every failing command must print."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from typer.testing import CliRunner, Result

import queuecore
from jobtui.cli import app
from queuecore import Store
from support.targets import StoreTarget

T = TypeVar("T")


def in_store(target: StoreTarget, action: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``action`` on a fresh connection to the target (the CLI's tests are synchronous)."""

    async def main() -> T:
        store = await queuecore.connect(target.uri, collection=target.collection)
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(main())


def store_args(target: StoreTarget) -> list[str]:
    """The options that point a command at the target."""
    return ["--store", target.uri, "--collection", target.collection]


class Cli:
    """Invoke ``jobtui`` commands on one target."""

    def __init__(self, target: StoreTarget) -> None:
        self.target = target
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        command, *rest = args
        return self.runner.invoke(app, [command, *rest, *store_args(self.target)], env=env)

    def raw(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """Invoke with exactly these arguments (no store options added)."""
        return self.runner.invoke(app, list(args), env=env)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def counts(self) -> dict[str, int]:
        return in_store(self.target, lambda s: s.counts())


def drop(target: StoreTarget) -> None:
    """Remove what the target left on a shared server (jobs and audit log); files go with tmp_path."""
    in_store(target, target.support.drop)


def assert_one_line_error(result: Result, *needles: str) -> str:
    """Exit code ≠ 0, nothing on stdout, exactly one ``error:`` line on stderr, no traceback."""
    assert result.exit_code not in (0, None), (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
