"""The SQLite store's file: still the one this process opened, a WAL of bounded size, and
never created by a reader.

**Identity.** SQLite does not notice a database file deleted, replaced or truncated under
it: a process keeps writing into the file it has open (once deleted, into a file nobody will
read again), and its WAL — ``PATH-wal``, found by name — is taken up by whatever file comes
to ``PATH`` next, which then shows the old file's pages as its own. So :class:`StoreFile`
records the file's device and inode when the store opens it and compares them (one
``stat``, about a microsecond) before every commit, at most every ``CHECK_EVERY`` seconds on
reads and change-feed polls, and when the store's thread is idle that long. Once they differ
(or the file is gone, or shorter than a SQLite header) every call raises
:class:`~queuecore.errors.StoreGone`, and the first to notice in the process:

- removes ``PATH-wal`` and ``PATH-shm`` if they are still the ones this store opened, so a
  new file at ``PATH`` starts a WAL of its own instead of taking up the old pages (and other
  processes that still had the old file open, noticing later, find them not theirs);
- copies the WAL into the file it has open — through its own descriptor, never by name: a
  file moved elsewhere keeps its last commits. Not when the file was truncated in place:
  that would write pages into the emptied file.

No connection is closed after that (:func:`abandon`): SQLite's last close checkpoints, and
deletes ``PATH-wal`` and ``PATH-shm`` by name, which by then may be the new file's.

A replacement in the microseconds between a write's check and its commit is seen by the next
write. A process that opens the new file before the old ones noticed (within
``CHECK_EVERY`` of an idle one) may still see old pages: replace a store file only with its
``-wal`` and ``-shm`` removed too, or with every process stopped.

**Creation.** Only the first connection of a store opened with ``create=True`` may create the
file (and its directory); every other connection opens it with ``mode=rw``, which fails
rather than create a file — so a read-only command, or a store whose file went, never makes
an empty one.

**WAL size.** A write transaction appends every page it changes to the WAL; a checkpoint
copies them back into the database, after which the next write starts the WAL over from its
beginning, and SQLite cuts the file back to ``WAL_LIMIT`` then (``journal_size_limit``). So
the file grows past the limit only when more than that was written since the WAL last
started over (or a reader's snapshot kept the checkpoints from completing): every
``WAL_PROBE`` writes the store looks at its size (one ``stat``) and, past the limit,
checkpoints without waiting for anyone (a busy database makes it copy what it can; the next
probe tries again). One transaction larger than the limit (an ``enqueue_many`` of thousands)
grows the WAL past it while it runs — the WAL must hold it — and the checkpoint after it
truncates the file (``WAL_GROWN``). A WAL larger than a quarter of the disk's free space is
checkpointed and truncated to nothing; so that the writes between two looks cannot fill the
disk (each appends ~30 KB), a disk with less than ~5 MiB free is looked at more often, down to
every write (``probe_every``).

**A full disk.** A checkpoint needs free space too: the pages a WAL adds to the database
grow its file. Once the disk is full (a write failed with ``SQLITE_FULL``) the checkpoint
fails, and the WAL keeps its space; so space freed then must go to the checkpoint first,
never to new writes — each appends to the WAL (about 30 KB for one job), and a few of them
take what was freed, after which nothing can be written or checkpointed again. So from such
a failure on (:attr:`StoreFile.full`) every write first checkpoints and truncates the WAL on
its own connection — the event loop's writes go to the store's thread for that — until one
checkpoint copied it all and emptied the file. A try that failed is repeated when the disk has more free space
than after it, else at most every ``_FULL_RETRY`` seconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ...errors import ConnectError, StoreGone

T = TypeVar("T")

#: How long a write waits for another process's write lock (on the store's thread).
BUSY_TIMEOUT_MS = 30_000
#: A WAL grown past this size is checkpointed, and cut back to it when it starts over.
WAL_LIMIT = 4 * 1024 * 1024
#: A WAL this far past ``WAL_LIMIT`` (one large transaction, an ``enqueue_many`` of thousands)
#: is truncated after its checkpoint: no write may come to cut it back.
WAL_GROWN = WAL_LIMIT + WAL_LIMIT // 4
#: A WAL smaller than this is never truncated for lack of disk space.
WAL_FLOOR = 64 * 1024
#: Writes between two looks at the WAL's size (fewer on a nearly full disk).
WAL_PROBE = 16
#: What one write may add to the WAL, at most (~30 KB for one job): paces the looks.
_WRITE_WAL = 64 * 1024
#: Reads, change-feed polls and an idle store look at the file at most this often (seconds).
CHECK_EVERY = 1.0
#: The size of a SQLite file header: a store file shorter than this was truncated.
_HEADER = 100
#: Seconds between two checkpoints on a full disk whose free space did not grow.
_FULL_RETRY = 0.2


class Connection(sqlite3.Connection):
    """A connection that knows its store's file (``file``)."""

    file: StoreFile  # set by StoreFile.connect


class StoreFile:
    """One store's database file: its connections, identity and WAL (see the module)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(os.path.abspath(path))  # the same file after a chdir, as SQLite has it
        self.wal = Path(f"{self.path}-wal")
        #: Why the store stopped writing, once the file changed (else None).
        self.gone: str | None = None
        self._identity: tuple[int, int] | None = None
        self._header = False
        self._what = ""  # how it changed
        self._flushed = False  # its WAL was copied back (or that was not wanted)
        self._companions: dict[Path, tuple[int, int]] = {}  # its -wal and -shm files
        self._next = 0.0  # when reads look at the file again
        #: Writes until the next look at the WAL's size (see :meth:`wal_due`).
        self.probe_every = WAL_PROBE
        #: A write failed for lack of disk space, and the WAL was not copied back since: every
        #: write checkpoints first (:meth:`reclaim`).
        self.full = False
        self._full_free = -1  # the disk's free bytes after the last checkpoint that failed
        self._full_retry = 0.0  # when a full disk is checkpointed again, its free space the same
        self._lock = threading.Lock()

    # -- connections ------------------------------------------------------------

    def connect(self, *, create: bool = False, table: str | None = None) -> Connection:
        """A connection to the file. With ``create`` the file (and its directory) is made when
        missing; without, a missing file is ``ConnectError("no store at PATH")``, and so is a
        file without ``table`` when one is named (checked before anything is written to it).
        Once the identity is recorded, a path that names another file raises StoreGone."""
        self.ensure()
        path = self.path
        if self._identity is not None and (what := self.change()) is not None:
            self._lose(None, what)  # not opened: a connection to the new file is not ours to use
            raise StoreGone(self._message(what))
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            target, uri = str(path), False
        else:
            try:
                os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                raise ConnectError(f"no store at {path}") from None
            target, uri = f"file:{quote(str(path))}?mode=rw", True
        conn = sqlite3.connect(
            target, uri=uri, timeout=30, isolation_level=None, check_same_thread=False, factory=Connection
        )
        try:
            if table is not None:
                found = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                ).fetchone()
                if found is None:
                    raise ConnectError(f"no store at {path} (it has no table {table!r})")
        except BaseException:
            conn.close()
            raise
        if self._identity is not None and (what := self.change()) is not None:
            abandon(conn)  # replaced while it opened: it may be the new file's, leave it be
            self._lose(None, what)
            raise StoreGone(self._message(what))
        conn.file = self
        return conn

    def record(self) -> None:
        """Take the identity of the file, and of its -wal and -shm (once the store has set it up)."""
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)
        self._header = st.st_size >= _HEADER
        for companion in (self.wal, Path(f"{self.path}-shm")):
            with contextlib.suppress(OSError):
                st = os.stat(companion)
                self._companions[companion] = (st.st_dev, st.st_ino)

    def release(self, conn: sqlite3.Connection) -> None:
        """Close ``conn`` — or, when the file changed, abandon it (see :func:`abandon`)."""
        what = self.change() if self.gone is None else self._what
        if what is None:
            conn.close()
            return
        self._lose(conn, what)
        abandon(conn)

    # -- identity -----------------------------------------------------------------

    def change(self) -> str | None:
        """How the file at the path differs from the one opened: "deleted", "replaced",
        "truncated", or None (also before the identity is recorded, and when the path cannot
        be looked at for another reason, such as permissions)."""
        if self._identity is None:
            return None
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return "deleted"
        except OSError:
            return None
        if (st.st_dev, st.st_ino) != self._identity:
            return "replaced"
        if self._header and st.st_size < _HEADER:
            return "truncated"
        return None

    def ensure(self) -> None:
        """Raise StoreGone if the store already stopped (no look at the file)."""
        if self.gone is not None:
            raise StoreGone(self.gone)

    def check(self, conn: sqlite3.Connection | None, *, every: float = 0.0) -> None:
        """Raise StoreGone if the file changed; the first to notice empties the WAL through
        ``conn`` (a connection to the file opened, not in use elsewhere). ``every``: look at
        the file at most that often (reads), else every time (writes)."""
        what = self._what
        if self.gone is None:
            if every:
                now = time.monotonic()
                if now < self._next:
                    return
                self._next = now + every
            changed = self.change()
            if changed is None:
                return
            what = changed
        self._lose(conn, what)
        raise StoreGone(self._message(what))

    def idle(self, conn: sqlite3.Connection | None) -> None:
        """The store's thread had nothing to do for a while: look at the file, and checkpoint a
        WAL still past its limit — a checkpoint after a write fails while a reader (a change
        feed's poll) is in the WAL, and with no write after it the WAL kept its size (never
        raises)."""
        with contextlib.suppress(StoreGone):
            self.check(conn, every=CHECK_EVERY)
        if conn is not None and self.gone is None and not self.full:
            mode = self.wal_due()
            if mode is not None:
                checkpoint(conn, mode)

    def _message(self, what: str) -> str:
        return self.gone or f"the store file {self.path} was {what}; stopped writing"

    def _lose(self, conn: sqlite3.Connection | None, what: str) -> None:
        """Stop the store (see the module); ``conn``: a connection to the file opened."""
        with self._lock:
            if self.gone is None:
                self.gone, self._what = self._message(what), what
                for companion, identity in self._companions.items():
                    with contextlib.suppress(OSError):
                        st = os.stat(companion)
                        if (st.st_dev, st.st_ino) == identity:
                            os.unlink(companion)
            if conn is None or self._flushed:
                return
            self._flushed = True
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if what != "truncated":
                    conn.execute("PRAGMA busy_timeout = 0")
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- calls ----------------------------------------------------------------------

    def call(self, fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, write: bool) -> T:
        """``fn(conn)`` after a look at the file: a read (at most every ``CHECK_EVERY``; an
        error it meets is StoreGone when the file changed), or a ``write`` in a transaction of
        its own whose commit is checked like every other (``fn`` must not begin or end one)."""
        if not write:
            self.check(conn, every=CHECK_EVERY)
            try:
                return fn(conn)
            except sqlite3.Error:
                self.check(conn)
                raise
        begin(conn)
        try:
            result = fn(conn)
            commit(conn)
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            after_error(conn, exc)
            raise
        return result

    # -- the WAL ----------------------------------------------------------------------

    def wal_due(self) -> str | None:
        """The checkpoint the WAL needs now: ``PASSIVE`` past ``WAL_LIMIT``, ``TRUNCATE`` past
        ``WAL_GROWN`` or a quarter of the free disk space, else None. Sets ``probe_every``: the
        next look comes before the writes between could take the WAL past that quarter."""
        try:
            size = os.stat(self.wal).st_size
            if size < WAL_FLOOR:
                return None
            disk = os.statvfs(self.wal)
        except OSError:
            return None
        free = disk.f_bavail * disk.f_frsize
        # n writes of _WRITE_WAL reach the quarter when 4 * (size + n * w) >= free - n * w
        self.probe_every = max(1, min(WAL_PROBE, (free - 4 * size) // (5 * _WRITE_WAL)))
        if size > WAL_GROWN or size * 4 >= free:
            return "TRUNCATE"
        return "PASSIVE" if size > WAL_LIMIT else None

    def reclaim(self, conn: sqlite3.Connection) -> None:
        """Before a write on a disk found full: checkpoint and truncate the WAL through ``conn``
        (not in a transaction), so the write cannot take the space the checkpoint needs; done
        once it copied the whole WAL back and emptied it. Skipped while the disk's free space
        did not grow since a try that failed (or since the last look), for up to
        ``_FULL_RETRY`` s: it would fail again."""
        free = _free(self.wal)
        now = time.monotonic()
        if self.gone is not None or (free <= self._full_free and now < self._full_retry):
            self._full_free = free  # space taken meanwhile: what is freed next counts from here
            return
        self._full_retry = now + _FULL_RETRY
        if checkpoint(conn, "TRUNCATE"):
            self.full, self._full_free = False, -1
        else:
            self._full_free = _free(self.wal)  # what the try left (it may have grown the file)


def _free(path: Path) -> int:
    """The bytes free for us on ``path``'s disk (-1: unknown)."""
    try:
        disk = os.statvfs(path.parent)
    except OSError:
        return -1
    return disk.f_bavail * disk.f_frsize


def checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE") -> bool:
    """Copy the WAL into the database (``TRUNCATE``: and empty the file), without waiting for
    other connections (busy: as much as can be copied now). Whether it all was (``TRUNCATE``:
    and the file emptied, which a reader still in it prevents); never raises."""
    try:
        before = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            row: tuple[int, int, int] = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            busy, log, copied = row
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(before)}")
    except sqlite3.Error:
        return False
    return busy == 0 and log == copied


def _file(conn: sqlite3.Connection) -> StoreFile | None:
    return getattr(conn, "file", None)


def begin(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, unless the store already stopped (StoreGone); on a disk found
    full, after a checkpoint (:meth:`StoreFile.reclaim`)."""
    file = _file(conn)
    if file is not None:
        file.ensure()
        if file.full:
            file.reclaim(conn)
    conn.execute("BEGIN IMMEDIATE")


def commit(conn: sqlite3.Connection) -> None:
    """``COMMIT`` — after checking that the file is still the one opened (else StoreGone,
    and the transaction is rolled back)."""
    file = _file(conn)
    if file is not None:
        file.check(conn)
    conn.execute("COMMIT")


def write_alone(conn: sqlite3.Connection, fn: Callable[..., T], args: Sequence[Any]) -> T:
    """A write of one statement without a transaction of its own: checked first (and on a
    disk found full, after a checkpoint)."""
    file = _file(conn)
    if file is not None:
        file.check(conn)
        if file.full:
            file.reclaim(conn)
    try:
        return fn(*args)
    except BaseException as exc:
        after_error(conn, exc)
        raise


def after_error(conn: sqlite3.Connection, exc: BaseException) -> None:
    """After a failed write (rolled back): a full disk makes every write checkpoint first
    (see the module)."""
    file = _file(conn)
    if file is not None and isinstance(exc, sqlite3.Error) and _is_full(exc):
        file.full = True


def _is_full(exc: sqlite3.Error) -> bool:
    code: int | None = getattr(exc, "sqlite_errorcode", None)  # set on the errors SQLite raised
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_FULL
    return "disk is full" in str(exc)


def abandon(conn: sqlite3.Connection) -> None:
    """Keep ``conn`` open until the process ends, and never use it again: it is never closed,
    so SQLite never checkpoints it nor deletes the WAL and shared-memory files by their names
    (the operating system releases its descriptors at exit). An extra reference keeps it from
    being freed, even while the interpreter shuts down."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))
