"""Spies: what a test observes of the code under test — the calls it makes — so production
classes keep no counters that only tests read."""

from __future__ import annotations

import inspect
from typing import Any

import pytest


class Calls(list[tuple[tuple[Any, ...], dict[str, Any]]]):
    """The calls a spy saw, in order: ``(args, kwargs)`` each."""

    def on(self, first: Any) -> int:
        """How many calls had ``first`` (the same object) as their first argument."""
        return sum(1 for args, _ in self if args and args[0] is first)


def spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> Calls:
    """Replace ``owner.name`` (an object's method, a module's function) with a wrapper that
    records each call and passes it on, a coroutine function staying one; undone with the test."""
    real = getattr(owner, name)
    calls = Calls()
    wrapper: Any
    if inspect.iscoroutinefunction(real):

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append((args, kwargs))
            return await real(*args, **kwargs)

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append((args, kwargs))
            return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls
