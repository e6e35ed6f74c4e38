"""The audit log: who changed which jobs, when, from where.

Every operator action (the dashboard's cancel/requeue/…, the CLI's enqueue/cancel/
requeue, scripts through the API) appends one :class:`AuditEntry` to the
``<collection>_audit`` collection (MongoDB) or table (SQLite) next to the jobs, so
``jobs`` has ``jobs_audit``. Entries are never updated. An action on a very large
selection keeps the first :data:`MAX_IDS` ids and says how many there were in ``detail``,
so no entry approaches MongoDB's 16 MB document limit.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bson import ObjectId

from ._time import utcnow

if TYPE_CHECKING:
    from .store.base import Store

#: Where an action came from.
SOURCES = ("tui", "cli", "api")
#: At most this many job ids are stored per entry.
MAX_IDS = 1000
#: Longest ``detail`` stored (longer text is cut).
MAX_DETAIL = 2000


@dataclass(frozen=True)
class AuditEntry:
    """One operator action.

    ``who``: ``user@host``; ``source``: ``tui``, ``cli`` or ``api``; ``action``: what
    was done (``enqueue``, ``cancel``, ``requeue``, …); ``ids``: the jobs (hex ids, at
    most :data:`MAX_IDS`); ``detail``: free text (reason, filter, how many jobs).
    """

    at: datetime
    who: str
    source: str
    action: str
    ids: list[str]
    detail: str = ""


def actor() -> str:
    """``user@host`` of this process (``uid<N>``/``unknown`` when there is no user name)."""
    try:
        user = getpass.getuser()
    except Exception:  # no $USER/$LOGNAME and no passwd entry (containers)
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    try:
        host = socket.gethostname() or "localhost"
    except OSError:
        host = "localhost"
    return f"{user}@{host}"


def make_entry(
    action: str,
    ids: Iterable[ObjectId | str],
    *,
    source: str,
    detail: str = "",
    who: str | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Validate and build an entry (ids capped at :data:`MAX_IDS`, the total noted in ``detail``)."""
    if source not in SOURCES:
        raise ValueError(f"unknown audit source {source!r}; expected one of {', '.join(SOURCES)}")
    if not isinstance(action, str) or not action.strip():
        raise ValueError("an audit entry needs an action")
    kept: list[str] = []
    total = 0
    for id in ids:
        total += 1
        if len(kept) < MAX_IDS:
            kept.append(str(id))
    detail = str(detail or "")
    if total > len(kept):
        note = f"{total} jobs; the first {len(kept)} ids are listed"
        detail = f"{detail} ({note})" if detail else note
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "…"
    return AuditEntry(
        at=at or utcnow(),
        who=who or actor(),
        source=source,
        action=action.strip(),
        ids=kept,
        detail=detail,
    )


async def record(
    store: Store,
    action: str,
    ids: Iterable[ObjectId | str],
    *,
    source: str,
    detail: str = "",
    who: str | None = None,
) -> AuditEntry:
    """Append an entry to the store's audit log and return it.

    ``ids`` may be any iterable (a generator over 100k ids is fine: only the first
    :data:`MAX_IDS` are kept). ``who`` defaults to :func:`actor`. Raises ValueError for
    an unknown ``source`` or an empty ``action``.
    """
    entry = make_entry(action, ids, source=source, detail=detail, who=who)
    await store.insert_audit(entry)
    return entry


async def history(store: Store, limit: int = 100) -> list[AuditEntry]:
    """The latest ``limit`` entries of the store's audit log, newest first."""
    return await store.find_audit(max(0, int(limit)))


__all__ = ["MAX_IDS", "SOURCES", "AuditEntry", "actor", "history", "make_entry", "record"]
