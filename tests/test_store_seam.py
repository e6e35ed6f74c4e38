"""The store's seam: callers name a job's fields by attribute, only the engines by stored key.

``queuecore.ops``, ``queuecore.task``, the queue and the board write through
``store.update(id, Guard, Changes)``; a stored key (``ended_at``, ``heartbeat_at``…) written
outside the engines' packages (``queuecore/store/<engine>``) would make every engine
keep its own list of what such a key holds. The table of stored fields (``fields.py``)
declares them.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from support import engines

import queuecore
from queuecore import Status
from queuecore.fields import FIELDS
from queuecore.store.changes import UNSET, Changes, Guard

CORE = Path(queuecore.__file__).parent
#: The built-in engines' packages (the registry's), where stored keys belong.
ENGINES = tuple(CORE / "store" / package for package in engines.packages())
#: Stored keys that are not the attribute's name (``_id`` too: a sort's translation, MongoDB's
#: ``_id`` tie-break among it, lives with its engine, not in sort.py).
STORED_ONLY = {f.key for f in FIELDS if f.key != f.attr}


def test_no_stored_key_outside_the_engines_and_the_field_table() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        if path == CORE / "fields.py" or any(path.is_relative_to(e) for e in ENGINES):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in STORED_ONLY:
                offenders.append(f"{path.relative_to(CORE)}:{node.lineno}: {node.value!r}")
    assert offenders == []


def test_changes_name_fields_by_attribute_and_give_stored_keys() -> None:
    now = datetime.now(UTC)
    changes = Changes(status=Status.FAILED, ended=now, heartbeat=None, note="")
    assert changes.values() == {"status": Status.FAILED, "ended": now, "heartbeat": None, "note": ""}
    assert dict(changes.stored()) == {"status": "failed", "ended_at": now, "heartbeat_at": None, "note": ""}
    assert Changes(progress=UNSET).values() == {}
    assert Guard.status(Status.DEQUEUED, attempts=2) == Guard((Status.DEQUEUED,), None, 2)
