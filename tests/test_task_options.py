"""A ``Task`` refuses options no job could run with: counts that are not whole numbers,
durations that are not finite."""

from __future__ import annotations

import math

import pytest

from queuecore import Context, Task


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 2.5}, "workers must be a whole number"),
        ({"workers": True}, "workers must be a whole number"),
        ({"workers": 0}, "workers must be a whole number"),
        ({"max_attempts": -1}, "max_attempts must be a whole number"),
        ({"max_attempts": 1.5}, "max_attempts must be a whole number"),
    ],
)
def test_a_task_refuses_counts_that_are_not_whole_numbers(options: dict[str, object], message: str) -> None:
    async def handler(ctx: Context) -> None:
        pass

    with pytest.raises(ValueError, match=f"task 't': {message}"):
        Task("t", handler, **options)  # type: ignore[arg-type]
    assert Task("t", handler, workers=3, max_attempts=0).workers == 3  # the ordinary values still do


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": math.inf, "lifetime": math.inf},
        {"timeout": math.nan},
        {"lifetime": math.nan},
        {"max_delay": math.inf},
        {"min_delay": math.nan},
        {"interval": math.inf},
        {"periodically": math.nan},
    ],
)
def test_a_task_refuses_durations_that_are_not_finite(options: dict[str, float]) -> None:
    """A duration a job could never be stored with is refused when the task is made, not
    reported by every worker on every claim."""

    async def handler(ctx: Context) -> None:
        pass

    with pytest.raises(ValueError, match="task 't'"):
        Task("t", handler, **options)
