"""The order of ``find`` in PostgreSQL: a :class:`~queuecore.sort.Sort` as ``ORDER BY`` and
its keyset term ("after this job").

A missing value (a job not started yet) comes first ascending and last descending, as in
:meth:`Sort.key` and the other engines: PostgreSQL's default is the opposite, so every order
says ``NULLS FIRST``/``NULLS LAST``. Text columns are ``COLLATE "C"``: code-point order, as
Python compares strings.
"""

from __future__ import annotations

from typing import Any

from ...job import Job, Status
from ...sort import Sort, SortField
from . import text as pgtext

#: The column of each sort field: the job model's stored key (``created_at``…, else its name).
COLUMN = {f: Job.model_fields[f.value].alias or f.value for f in SortField}


def order_by(sort: Sort) -> str:
    """The ``ORDER BY`` list (column names from this module only, never input)."""
    col = COLUMN[sort.field]
    if sort.descending:
        return f"{col} DESC NULLS LAST, id DESC"
    return f"{col} ASC NULLS FIRST, id ASC"


def _value(field: SortField, job: Job) -> Any:
    if field is SortField.STATUS:
        return job.status.value if isinstance(job.status, Status) else str(job.status)
    value = getattr(job, field.value)
    return pgtext.encode(value) if isinstance(value, str) else value


def after(sort: Sort, job: Job) -> tuple[str, list[Any]]:
    """The term (and its arguments) matching the rows after ``job`` in this order: a range
    on the column, so an index on it bounds the scan."""
    col, value, id = COLUMN[sort.field], _value(sort.field, job), str(job.id)
    lt = "<" if sort.descending else ">"
    if value is None:  # the missing values' run: last descending, first ascending
        if sort.descending:
            return f"({col} IS NULL AND id < %s)", [id]
        return f"({col} IS NOT NULL OR id > %s)", [id]
    sql = f"({col} {lt}= %s AND ({col} {lt} %s OR id {lt} %s))"
    if sort.descending and sort.field.nullable:
        sql = f"({sql} OR {col} IS NULL)"
    return sql, [value, value, id]
