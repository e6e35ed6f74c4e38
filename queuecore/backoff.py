"""The original's simple exponential backoff."""

from __future__ import annotations

import math
from datetime import timedelta

from ._time import Duration, seconds


def backoff(min: Duration, max: Duration, factor: float, attempt: int) -> timedelta:
    """Delay before retry number ``attempt``: ``min * factor ** attempt`` clamped to [min, max].

    Defaults as in fire/axe: ``min`` <= 0 means 100 ms, ``max`` <= 0 means 10 s,
    ``min`` >= ``max`` gives ``max``, ``factor`` <= 0 means 2, and an overflow gives ``max``.
    """
    lo = seconds(min)
    hi = seconds(max)
    if lo <= 0:
        lo = 0.1
    if hi <= 0:
        hi = 10.0
    if lo >= hi:
        return timedelta(seconds=hi)
    if factor <= 0:
        factor = 2.0
    try:
        value = lo * math.pow(factor, attempt)
    except OverflowError:
        return timedelta(seconds=hi)
    if math.isnan(value) or math.isinf(value) or value > hi:
        return timedelta(seconds=hi)
    return timedelta(seconds=value if value > lo else lo)
