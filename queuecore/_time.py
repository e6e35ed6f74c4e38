"""Durations and clocks shared by every module.

Every duration in the public API accepts seconds (int/float) or a ``timedelta``.
Timestamps are timezone-aware UTC and truncated to milliseconds, the precision
MongoDB stores, so both engines hold exactly the same values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

Duration = int | float | timedelta


def seconds(value: Duration | None) -> float:
    """Return ``value`` in seconds (``None`` counts as zero)."""
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a duration must be seconds or a timedelta, not {value!r}")
    return float(value)


#: The longest duration accepted (100 years): later instants could not be stored as dates.
MAX_SECONDS = 100 * 365.25 * 86400


def delta(value: Duration | None) -> timedelta:
    """Return ``value`` as a ``timedelta``; ValueError for NaN, infinite or over 100 years."""
    total = seconds(value)
    if not abs(total) <= MAX_SECONDS:  # also catches NaN
        raise ValueError(f"a duration of {value!r} seconds is out of range (at most 100 years)")
    return timedelta(seconds=total)


def utcnow() -> datetime:
    """The current time, UTC, truncated to whole milliseconds."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_ms(value: datetime) -> int:
    """Milliseconds since the epoch (the SQLite engine's storage format)."""
    return round(as_utc(value).timestamp() * 1000)


def from_ms(value: float) -> datetime:
    """Inverse of :func:`to_ms`."""
    return datetime.fromtimestamp(value / 1000, UTC)
