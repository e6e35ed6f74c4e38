"""Load the tasks an operator wants hosted: ``--workers MODULE[:ATTR]``.

The attribute may be a :class:`queuecore.Queue` (its tasks are taken), a list of
:class:`queuecore.Task`, a single Task, or a function returning any of these.
Without ``:ATTR`` the module is searched for ``tasks``, then ``queue``, then
every module-level Task. Importing the module runs its code: only name modules
you trust (job data is never executed).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from queuecore import Queue, Store, Task


class WorkersError(Exception):
    """The worker spec could not be loaded (message is one clear line)."""


def load_tasks(spec: str) -> list[Task]:
    """The tasks named by ``MODULE[:ATTR]`` (MODULE may also be a path to a .py file)."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise WorkersError(f"invalid worker spec {spec!r}: expected MODULE[:ATTR]")
    try:
        module = _import(module_name)
    except WorkersError:
        raise
    except Exception as exc:
        raise WorkersError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    if attr:
        try:
            target: Any = getattr(module, attr)
        except AttributeError:
            raise WorkersError(f"module {module_name!r} has no attribute {attr!r}") from None
    else:
        target = getattr(module, "tasks", None) or getattr(module, "queue", None)
        if target is None:
            target = [v for v in vars(module).values() if isinstance(v, Task)]
    tasks = _tasks_of(target)
    if not tasks:
        raise WorkersError(f"{spec!r} defines no queuecore.Task")
    names = [t.name for t in tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise WorkersError(f"{spec!r} defines task names twice: {', '.join(duplicates)}")
    return tasks


def build_queue(store: Store, spec: str, **options: Any) -> Queue:
    """A new queue on ``store`` with the tasks of ``spec`` added (not yet running)."""
    queue = Queue(store, **options)
    for task in load_tasks(spec):
        queue.add(task)
    return queue


def _import(name: str) -> Any:
    path = Path(name)
    if name.endswith(".py"):
        if not path.is_file():
            raise WorkersError(f"no such file: {name}")
        sys.path.insert(0, str(path.parent.absolute()))
        name = path.stem
    elif str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name or (exc.name and name.startswith(exc.name)):
            raise WorkersError(f"no module named {name!r} (is it on PYTHONPATH?)") from None
        raise


def _tasks_of(target: Any) -> list[Task]:
    if isinstance(target, Queue):
        return list(target.tasks.values())
    if isinstance(target, Task):
        return [target]
    if isinstance(target, list | tuple):
        if not all(isinstance(t, Task) for t in target):
            raise WorkersError("the worker list must hold only queuecore.Task objects")
        return list(target)
    if callable(target) and not inspect.isclass(target):
        return _tasks_of(target())
    raise WorkersError(
        f"expected a Queue, a Task, a list of Tasks or a function, got {type(target).__name__}"
    )
