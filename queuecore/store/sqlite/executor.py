"""Where the SQLite store's SQL runs: a thread of its own, or the event loop's thread.

Everything that may wait — reads, scans, a write waiting for another process's lock — runs
off the event loop, on one thread per connection (:class:`SQLThread`); calls made in one
event-loop iteration reach it together, and the guarded writes among them share one
transaction (group commit). A guarded write (one indexed statement, tens of microseconds)
runs on the event loop's own thread instead when the database is free (:class:`Inline`): a
hand-off to a thread and back costs more than the write itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ...errors import StoreGone
from . import file as dbfile

T = TypeVar("T")


class SQLThread:
    """One thread that runs a connection's SQL for the event loop.

    Cheaper per call than ``loop.run_in_executor`` (no concurrent.futures.Future chained
    to the asyncio one), with the same semantics: calls run in order, one at a time, and
    a call whose awaiting task was cancelled before it started is skipped. A daemon thread:
    a store left open does not keep the interpreter alive (each write is one transaction).

    Batching: the calls made during one event-loop iteration are handed over together (one
    wake-up of this thread), and their results come back together (one wake-up of the loop).
    Group commit: consecutive writes (:meth:`write`, one guarded statement each) of a batch
    run in one transaction; a statement that fails is undone by SQLite on its own (statement
    atomicity), so one call's error never touches the others. Results are handed back only
    after the COMMIT, so no caller sees a write that could still be lost. If the transaction
    as a whole fails (BEGIN, COMMIT, or an error after which SQLite rolled it back), nothing
    of it was written and every write of the group runs again on its own.
    """

    def __init__(self, name: str, idle: Callable[[], None] | None = None) -> None:
        """``idle``: called on the thread after each ``CHECK_EVERY`` seconds without a call."""
        self._idle = idle or (lambda: None)
        self._every = dbfile.CHECK_EVERY if idle else None
        self._calls: queue.SimpleQueue[list[_Call] | None] = queue.SimpleQueue()
        # Calls made during one event-loop iteration are handed over together, at its end:
        # one wake-up of this thread for all of them, and one transaction for their writes.
        self._pending: list[_Call] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[..., T], *args: Any, quick: bool = False) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on the thread; await the returned future for its result.

        ``quick``: ``fn`` is known to take little time (an indexed lookup), so its result may
        be handed back together with those of the calls after it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self.submit(_Call(loop, future, fn, args, None, quick))
        return future

    def write(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run the write ``fn(conn)``, perhaps in one transaction with other queued writes.

        ``fn`` runs one statement (so an error undoes exactly what it did) and must not begin
        or end transactions itself; it sees the writes queued before it.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self.submit(_Call(loop, future, fn, (conn,), conn, True))
        return future

    def submit(self, call: _Call) -> None:
        """Queue a prepared call (its future is resolved on its loop, as for :meth:`run`)."""
        with self._lock:
            if self._stopped:  # nothing would ever run it: fail now rather than hang the caller
                if not call.future.done():
                    call.future.set_exception(RuntimeError("the store is closed"))
                return
            if self._pending and self._pending[0].loop is not call.loop:
                self._calls.put(self._pending)  # another event loop: never batched together
                self._pending = []
            self._pending.append(call)
            first = len(self._pending) == 1
        if first:
            call.loop.call_soon(self._flush)

    def _flush(self) -> None:
        with self._lock:
            calls, self._pending = self._pending, []
        if calls:
            self._calls.put(calls)

    def _serve(self) -> None:
        while True:
            try:
                calls = self._calls.get(timeout=self._every)
            except queue.Empty:
                self._idle()
                continue
            if calls is None:
                return
            stop = False
            with contextlib.suppress(queue.Empty):  # what else was handed over meanwhile
                while not stop:
                    more = self._calls.get_nowait()
                    if more is None:
                        stop = True
                    else:
                        calls.extend(more)
            done: list[tuple[_Call, bool, Any]] = []  # outcomes not handed back yet
            index = 0
            while index < len(calls):
                call = calls[index]
                index += 1
                if call.future.cancelled():
                    continue
                # hand back what is done first when this call may take long: a slow read, or a
                # write (its BEGIN may wait for another process's lock up to the busy timeout,
                # and committed results must not wait for that)
                if done and (not call.quick or call.conn is not None):
                    _hand_back(done)
                    done = []
                group = [call]
                conn = call.conn
                if conn is not None:  # a write: take the writes that follow it on the same connection
                    weight = call.weight
                    while index < len(calls):
                        follower = calls[index]
                        if follower.conn is not conn or weight + follower.weight > GROUP:
                            break
                        if not follower.future.cancelled():
                            group.append(follower)
                            weight += follower.weight
                        index += 1
                # a group of more than one call is of writes on ``conn``
                done.extend(_together(conn, group) if conn is not None and len(group) > 1 else [_alone(call)])
            if done:
                _hand_back(done)
            if stop:
                return

    def shutdown(self, wait: bool = False) -> None:
        """Stop the thread once the calls queued so far have run; later calls fail."""
        self._flush()
        with self._lock:
            self._stopped = True
        self._calls.put(None)
        if wait:
            self._thread.join()


#: At most this many rows are written in one transaction (bounds how long the write lock is
#: held); a single write of more rows has a transaction of its own.
GROUP = 256


class Inline:
    """Guarded writes run on the event loop's thread, when that costs no waiting.

    A hand-off to the store's thread and back costs more than a write itself (a thread
    wake-up each way, and the GIL passed back and forth), and a producer or worker that
    awaits each write pays it in full. So the writes made during one event-loop iteration
    run at its end on the loop's own thread, in one transaction (group commit, with the
    same per-statement error semantics as :class:`SQLThread`), on a connection whose busy
    timeout is zero: ``BEGIN IMMEDIATE`` gets the write lock at once or fails with
    ``SQLITE_BUSY``, and then (nothing written) the writes go to the store's thread, which
    waits for the lock there. So do writes that may scan (``here=False``).

    Order: while writes handed to the store's thread are not done, later writes follow them
    there, so writes are committed in the order they were made.

    This connection never checkpoints the WAL (that syncs the file to disk): every few writes
    it looks at the WAL's size, and past its limit the store's thread checkpoints it (see
    ``file.py``); writes follow it there until it is done, and go there on a disk found
    full (each checkpoints first). Writes from another thread (a second event loop) go there
    directly. Every commit is checked against the file's identity first.
    """

    def __init__(self, conn: dbfile.Connection, executor: SQLThread, fallback: sqlite3.Connection) -> None:
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        self.conn: sqlite3.Connection = conn
        self._file = conn.file
        self._executor = executor
        self._fallback = fallback
        self._owner = threading.get_ident()
        self._pending: list[_Call] = []
        self._writes = 0  # since the WAL's size was last looked at
        self._away = 0  # writes (and a checkpoint) on the store's thread, not done yet
        self._closed = False

    def write(
        self, fn: Callable[[sqlite3.Connection], T], *, here: bool = True, weight: int = 1
    ) -> asyncio.Future[T]:
        """Run the write ``fn(conn)`` of ``weight`` rows at the end of this loop iteration
        (see the class); ``here=False``: on the store's thread (a write that may scan), in order."""
        if threading.get_ident() != self._owner:
            return self._executor.write(self._fallback, fn)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Call(loop, future, fn, (), self._fallback, True, here, weight))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return future

    def close(self) -> None:
        """Write what was made before the close (here, or queued on the store's thread ahead
        of its close), then close the connection; writes made later fail."""
        while self._pending and not self._closed:
            self._flush()
        self._closed = True
        self._file.release(self.conn)

    def _flush(self) -> None:
        # at most GROUP rows per transaction (and at least one write): the loop's thread holds
        # the lock that long
        size, weight = 1, self._pending[0].weight if self._pending else 0
        while size < len(self._pending) and weight + self._pending[size].weight <= GROUP:
            weight += self._pending[size].weight
            size += 1
        batch, self._pending = self._pending[:size], self._pending[size:]
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        calls = [call for call in batch if not call.future.cancelled()]
        if not calls:
            return
        if self._closed:
            for call in calls:
                call.future.set_exception(RuntimeError("the store is closed"))  # not cancelled: see above
            return
        if self._away or self._file.full or not all(call.here for call in calls):
            self._defer(calls)
            return
        conn = self.conn
        outcomes: list[_Outcome] = []
        try:
            dbfile.begin(conn)  # fails when the write lock is held elsewhere: don't wait here
            for call in calls:
                try:
                    outcomes.append((call, True, call.fn(conn)))
                except Exception as exc:
                    if not conn.in_transaction:  # SQLite rolled the whole transaction back
                        raise
                    outcomes.append((call, False, exc))  # that statement alone was undone
            dbfile.commit(conn)
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, StoreGone):
                return _refuse(calls, exc)
            dbfile.after_error(conn, exc)  # a full disk: there each checkpoints first
            self._defer(calls)  # nothing was written: the store's thread runs them again
            return
        _settle(outcomes)
        self._probe(sum(call.weight for call in calls))

    def _probe(self, weight: int) -> None:
        """Count ``weight`` rows written; every ``probe_every`` look at the WAL's size."""
        self._writes += weight
        if self._writes >= self._file.probe_every:
            self._writes = 0
            mode = self._file.wal_due()
            if mode is not None:
                self._checkpoint(mode)

    def _checkpoint(self, mode: str) -> None:
        """Checkpoint on the store's thread; writes follow it there (see the class)."""
        self._away += 1
        done = self._executor.run(dbfile.checkpoint, self._fallback, mode, quick=True)
        done.add_done_callback(self._returned)

    def _defer(self, calls: list[_Call]) -> None:
        for call in calls:
            call.args = (self._fallback,)
            self._away += 1
            call.future.add_done_callback(functools.partial(self._wrote_away, call.weight))
            self._executor.submit(call)

    def _returned(self, _: object) -> None:
        self._away -= 1

    def _wrote_away(self, weight: int, _: object) -> None:
        """A write deferred to the store's thread returned (written or not: the probe is cheap)."""
        self._away -= 1
        self._probe(weight)


@dataclasses.dataclass(slots=True)
class _Call:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    conn: sqlite3.Connection | None  # set for writes that may share a transaction
    quick: bool  # known to be short: its result may wait for the calls after it
    here: bool = True  # a write that may run on the event loop's thread (see Inline)
    weight: int = 1  # how many rows it writes (bounds a transaction, paces checkpoints)


_Outcome = tuple[_Call, bool, Any]


def _alone(call: _Call) -> _Outcome:
    try:
        if call.conn is not None:  # a write: checked against the file's identity first
            return call, True, dbfile.write_alone(call.conn, call.fn, call.args)
        return call, True, call.fn(*call.args)
    except BaseException as exc:
        return call, False, exc


def _refuse(calls: list[_Call], exc: StoreGone) -> None:
    """Fail every call with (a copy of) ``exc``: nothing of them was written."""
    for call in calls:
        if not call.future.done():
            call.future.set_exception(StoreGone(*exc.args))


def _together(conn: sqlite3.Connection, group: list[_Call]) -> list[_Outcome]:
    """Run writes in one transaction (see :class:`SQLThread`)."""
    outcomes: list[_Outcome] = []
    try:
        dbfile.begin(conn)
        for call in group:
            try:
                result = call.fn(*call.args)
            except BaseException as exc:
                if not conn.in_transaction:  # SQLite rolled the whole transaction back
                    raise
                # the failed statement was undone by SQLite; the transaction goes on
                outcomes.append((call, False, exc))
            else:
                outcomes.append((call, True, result))
        dbfile.commit(conn)
    except BaseException as exc:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if isinstance(exc, StoreGone):
            return [(call, False, StoreGone(*exc.args)) for call in group]
        dbfile.after_error(conn, exc)  # a full disk: each alone checkpoints first
        return [_alone(call) for call in group]  # nothing was written: each on its own
    return outcomes


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile: nobody waits
        loop.call_soon_threadsafe(fn, *args)


def _hand_back(outcomes: list[_Outcome]) -> None:
    """Resolve the calls' futures on their event loops: one wake-up per loop."""
    loop = outcomes[0][0].loop
    if all(call.loop is loop for call, _, _ in outcomes):
        _post(loop, _settle, outcomes)
        return
    per_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        per_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, mine in per_loop.items():
        _post(loop, _settle, mine)


def _settle(outcomes: list[_Outcome]) -> None:
    for call, ok, value in outcomes:
        future = call.future
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
