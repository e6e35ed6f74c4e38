"""Job ids as an operator types them: the full 24 hex digits, or the 8-digit short id the
dashboard and ``jobtui ls`` show (any unique part of the id).

A part of an id is looked up with the filter language's ``id:`` term (the same parsing, the
same match on both engines: the id contains these hex digits), so ``jobtui show f0fc917e``
finds exactly the jobs ``jobtui ls -q id:f0fc917e`` lists. A part that several jobs share is
refused with the candidates listed; nothing is ever done to one of them by guess.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

import queuecore
from queuecore import Job, Query, Store
from queuecore.printable import one_line, printable

from .. import format as fmt
from ..present import status_word

#: How many candidates an ambiguous id lists (one more is read, to say "and more").
CANDIDATES = 10


class IdError(ValueError):
    """An id that names no job or several (``lines``: the candidates, already printable)."""

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or []


def id_query(raw: str) -> Query:
    """The ``id:`` query of what was typed (checked before connecting: a typo fails fast).
    Raises :class:`ValueError` naming the problem."""
    value = raw.strip()
    if not value or any(c.isspace() or c == '"' for c in value):
        raise ValueError(_not_an_id(raw))
    try:
        query = queuecore.parse(f"id:{value}")
    except queuecore.QueryError:
        raise ValueError(_not_an_id(raw)) from None
    if len(query.terms) != 1 or query.terms[0].field != "id":  # e.g. "a:b" read as two fields
        raise ValueError(_not_an_id(raw))
    return query


def _not_an_id(raw: str) -> str:
    return f"not a job id: {printable(raw)!r} (expected hex digits of an id, as shown by `jobtui ls`)"


async def resolve(store: Store, query: Query) -> Job:
    """The one job whose id the query's digits are part of; raises :class:`IdError` when no
    job or several have them."""
    digits = query.terms[0].values[0]
    if len(digits) == 24:  # a whole id: by the primary key
        job = await store.get(ObjectId(digits))
        if job is None:
            raise IdError(f"no job {digits}")
        return job
    found = await store.find(query=query, limit=CANDIDATES + 1)
    if not found:
        raise IdError(f"no job {digits}")
    if len(found) == 1:
        return found[0]
    more = len(found) > CANDIDATES
    total = await store.count(query) if more else len(found)
    now = datetime.now(UTC)
    lines = [_candidate(job, now) for job in found[:CANDIDATES]]
    if more:
        lines.append(f"  … and {total - CANDIDATES} more")
    raise IdError(f"{total} jobs have {digits!r} in their id; give more digits:", lines)


def _candidate(job: Job, now: datetime) -> str:
    """One line naming a candidate: id, task, status, age (stored text made printable)."""
    status = status_word(job)
    age = fmt.duration((now - job.created).total_seconds()) + " ago" if job.created else ""
    name = one_line(job.name)
    label = f" [{one_line(job.label)}]" if job.label else ""
    return f"  {job.id}  {name}{label}  {status}  {age}".rstrip()
