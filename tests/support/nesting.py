"""Values nested deeper than a limit (the poison tests, and the engines' raw poison documents)."""

from __future__ import annotations

from typing import Any


def nested(levels: int) -> dict[str, Any]:
    """A dict ``levels`` deep ({} is 1 level)."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_lists(levels: int) -> dict[str, Any]:
    """A dict holding lists: ``levels`` deep in all."""
    value: list[Any] = []
    for _ in range(levels - 2):
        value = [value]
    return {"a": value}


def nested_text(levels: int) -> str:
    """JSON text of an object ``levels`` deep (without building it in Python)."""
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)
