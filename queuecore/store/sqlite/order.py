"""A :class:`~queuecore.sort.Sort` in SQL: the ``ORDER BY`` of ``find`` and the keyset term
"after this job" that pages it (``find(after=job)``).

``ORDER BY <column> <dir>, id <dir>``: the id breaks ties in the same direction. SQLite puts
NULL (a job not started or ended yet) first ascending and last descending, as
:meth:`Sort.key <queuecore.sort.Sort.key>`, the order in memory, does. The keyset term is a
top-level range on the column, so the index on it bounds the scan: each page costs the same
however deep, and rows inserted before the cursor never shift a page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..._time import to_ms
from ...fields import BY_ATTR
from ...job import Job
from ...sort import Sort, SortField

#: The column of each sort field (``created_at``…: :data:`queuecore.fields.FIELDS`).
COLUMN = {f: BY_ATTR[f.value].sql_column for f in SortField}


def order_by(sort: Sort) -> str:
    """The ``ORDER BY`` list (column names from this module only, never input)."""
    direction = "DESC" if sort.descending else "ASC"
    return f"{COLUMN[sort.field]} {direction}, id {direction}"


def after(sort: Sort, job: Job) -> tuple[str, list[Any]]:
    """The SQL term (and its arguments) matching the rows after ``job`` in this order.

    ``created_at <= ? AND (created_at < ? OR id < ?)`` when descending; a missing value
    (NULL) of a nullable field is placed as ``ORDER BY`` places it: last descending, first
    ascending.
    """
    col, value, id = COLUMN[sort.field], sort.job_value(job), str(job.id)
    lt = "<" if sort.descending else ">"
    if value is None:  # only nullable fields: the missing values' run
        if sort.descending:
            return f"({col} IS NULL AND id < ?)", [id]
        return f"({col} IS NOT NULL OR id > ?)", [id]
    sql = f"({col} {lt}= ? AND ({col} {lt} ? OR id {lt} ?))"
    if sort.descending and sort.field.nullable:
        sql = f"({sql} OR {col} IS NULL)"
    return sql, [to_ms(value) if isinstance(value, datetime) else value] * 2 + [id]
