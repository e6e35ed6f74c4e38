"""Load the tasks an operator wants hosted: ``--workers MODULE[:ATTR]``.

The attribute may be a :class:`queuecore.Queue` (its tasks are taken), a list of
:class:`queuecore.Task`, a single Task, or a function returning any of these.
Without ``:ATTR`` the module is searched for ``tasks``, then ``queue``, then
every module-level Task. Importing the module runs its code: only name modules
you trust (job data is never executed).
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import importlib
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable
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
        # an imported module of that name (`import queue`, `from app import tasks`) is not meant
        found = (getattr(module, n, None) for n in ("tasks", "queue"))
        target = next((v for v in found if v and not inspect.ismodule(v)), None)
        if target is None:
            target = [v for v in vars(module).values() if isinstance(v, Task)]
    try:
        tasks = _tasks_of(target)
    except WorkersError:
        raise
    except Exception as exc:  # a function that failed, or a handler named instead of the tasks
        raise WorkersError(f"calling {spec!r} failed: {type(exc).__name__}: {exc}") from None
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
        return _import_file(path.resolve())
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise WorkersError(f"no module named {name!r} (is it on PYTHONPATH?)") from None
        raise


def _import_file(path: Path) -> Any:
    """Load a .py file by its path. Its directory goes to the end of ``sys.path`` (its sibling
    modules import, but never in place of an installed one), and the file is loaded under its
    own name only when that names no other module: a ``queue.py`` must not replace the
    standard library's ``queue`` for the whole process."""
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.append(directory)
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and loaded.__file__ and Path(loaded.__file__).resolve() == path:
        return loaded
    if loaded is not None or not name.isidentifier() or _origin(name) != str(path):
        name = f"jobtui_workers_{abs(hash(str(path))):x}_{name.replace('.', '_')}"
        if name in sys.modules:
            return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise WorkersError(f"cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: models and dataclasses look themselves up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _origin(name: str) -> str | None:
    """The file the module ``name`` would be imported from (None if none or not a file)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return str(Path(spec.origin).resolve()) if spec is not None and spec.origin else None


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


class HandlerThreads(concurrent.futures.ThreadPoolExecutor):  # asyncio's default executor must be one
    """A default executor for a process that hosts workers until it is stopped: calls (plain
    ``def`` handlers) run on daemon threads, reused while idle. A thread cannot be stopped, and
    one still running after the grace period (its job already failed for retry) must not keep
    the stopped process alive — a ThreadPoolExecutor's threads are joined at exit. There are at
    most as many threads as calls ever ran at once (the tasks' worker counts bound that)."""

    def __init__(self) -> None:
        super().__init__()  # never used: submit and shutdown below replace the pool
        self._calls: collections.deque[tuple[concurrent.futures.Future[Any], Callable[[], Any]]] = (
            collections.deque()
        )
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._idle = 0  # threads waiting for a call

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            self._calls.append((future, functools.partial(fn, *args, **kwargs)))
            if self._idle >= len(self._calls):  # a waiting thread takes it
                self._ready.notify()
            else:
                threading.Thread(target=self._serve, name="jobtui-handler", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
                while not self._calls:
                    self._ready.wait()
                self._idle -= 1
                future, call = self._calls.popleft()
            if future.set_running_or_notify_cancel():
                _resolve(future, call)
            del future, call  # keep nothing of the call alive while idle

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to wait for: the threads are daemons, and end with the process."""


def _resolve(future: concurrent.futures.Future[Any], call: Callable[[], Any]) -> None:
    try:
        result = call()
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)
