"""A :class:`~queuecore.sort.Sort` in MongoDB's terms: the sort specification of ``find`` and
the keyset filter "after this job" that pages it (``find(after=job)``).

``[(<field>, dir), ("_id", dir)]``: the id breaks ties in the same direction. MongoDB puts a
missing or null value (a job not started or ended yet) first ascending and last descending,
as :meth:`Sort.key <queuecore.sort.Sort.key>`, the order in memory, does. The keyset filter
is a range on the field, so the index on it bounds the scan.
"""

from __future__ import annotations

from typing import Any

from ...fields import stored_key
from ...job import Job
from ...sort import Sort, SortField

#: The document field of each sort field: its stored key (``created_at``…: :mod:`queuecore.fields`).
FIELD = {f: stored_key(f.value) for f in SortField}


def sort_spec(sort: Sort) -> list[tuple[str, int]]:
    """The MongoDB sort specification."""
    direction = -1 if sort.descending else 1
    return [(FIELD[sort.field], direction), ("_id", direction)]


def after(sort: Sort, job: Job) -> dict[str, Any]:
    """The filter matching the documents after ``job`` in this order (as the SQLite engine's;
    a missing value is matched by ``$in: [null]``, as everywhere in the engine)."""
    field, value, id = FIELD[sort.field], sort.job_value(job), job.id
    lt = "$lt" if sort.descending else "$gt"
    missing = {field: {"$in": [None]}}
    if value is None:
        if sort.descending:
            return {**missing, "_id": {"$lt": id}}
        return {"$or": [{"$nor": [missing]}, {**missing, "_id": {"$gt": id}}]}
    term = {field: {f"{lt}e": value}, "$or": [{field: {lt: value}}, {"_id": {lt: id}}]}
    if sort.descending and sort.field.nullable:
        return {"$or": [term, missing]}
    return term
