"""Throw-away nx-27017 (MongoDB wire protocol on SQLite) server for the test suite.

Usage (a session-scoped fixture)::

    from support.mongo_server import start_server      # tests/ is on sys.path under pytest

    handle = start_server(tmp_path_factory.mktemp("nx"))   # waits for ``ping``
    handle.uri        # "mongodb://127.0.0.1:PORT/"
    handle.restart()  # stop, then start on the SAME port with the SAME data file (outage tests)
    handle.stop()     # SIGTERM, SIGKILL after 5 s; idempotent

Tests use ``QUEUECORE_TEST_MONGO_URI`` instead when it is set (a real MongoDB; a
replica set for change streams); this module does not read it, its callers do.

The server runs as ``python -P tests/support/mongo_server.py --port N --db FILE`` in its own
process (nx-27017 0.8.1 on neosqlite 1.17.2, SQLite 3.40), which applies the
workarounds below before it serves. It exits when its stdin pipe closes, i.e. when
the process that started it ends, even by SIGKILL. Server log: ``<tmpdir>/nx-27017.log``.
``python3 scripts/probe_nx.py`` checks every item (``--no-workarounds`` / ``--disable X``
shows the raw defects).

Defects of nx-27017 0.8.1 and what we do about them (tz_aware=True client):

==============================  ============================================  =====================
raw nx-27017 behaviour          effect                                        fix (``WORKAROUNDS``)
==============================  ============================================  =====================
SQL fast path, top-level $set   stored as "YYYY-MM-DD HH:MM:SS" *string*      fallback: neosqlite
of a datetime; $push $each of   (µs and tz lost, comes back as str); the      ``set_force_fallback``
sub-documents; $exists          pushed dict stored as a JSON string;          (Python update/match)
                                ``{f: {$exists: true}}`` misses f: null
SQLite datetime() drops         $lt/$lte/$gt/$eq/$ne on datetimes compare     datetime: precise
sub-seconds                     whole seconds (100 ms apart = equal)          1-arg ``datetime()``
                                                                              on every connection
Python fallback ignores dots    $unset/$inc/$push/$addToSet/$min/$max/$mul/   dotted: apply dotted
in $unset/$inc/$push/...        $pop/$setOnInsert on "a.b" act on a literal   paths ourselves
                                "a.b" key (or not at all)
findAndModify swallows every    find_one_and_update that hits a unique index  fam-errors: ok:0,
exception                       returns None ("no match"), nothing written    code 11000 ->
                                                                              DuplicateKeyError
dup-key errors lack details     errmsg "UNIQUE constraint failed: index       dupkey: keyPattern,
                                'idx_<coll>_<field>'", no keyPattern/keyValue keyValue, E11000 msg
index names                     listed as idx_<coll>_<fields>; drop_index of  index-names: listed
                                "a_1_b_1" is a silent no-op, of "a_-1" a SQL  as a_1_b_1; drop by
                                syntax error                                  that name; code 27
change-stream fullDocument      _id/ObjectIds as {"__neosqlite_objectid__":   cs-fulldoc: decoded
                                ...}, datetimes as {"$date": "..."} dicts     like find results
change-stream getMore never     idle ``async for`` = ~2200 getMore/s, half a  cs-await: wait up to
waits                           core of server CPU per watcher                maxAwaitTimeMS (1 s)
cursor ids restart at 1000      after a restart a client's stale cursor id    cursor-ids: counters
(streams) / 10**12 (data) in    may name another client's new cursor: its     start at a random
every process; getMore does     getMore takes that cursor's events (even of   offset in each
not check the namespace         another collection), the owner never sees     process
                                them
getMore of an unknown cursor    ok:1 with an empty final batch (id 0), not    cursor-not-found:
                                CursorNotFound (43): a change stream ends     code 43, so the
                                silently after a restart, a find cursor       driver resumes (or
                                ends early (results cut short)                raises)
a compound index with ``_id``   built on json_extract(data, '_id'), an        compound-id: the
(``[(created_at, -1), (_id,     invalid JSON path: every later insert fails   ``_id`` column in
-1)]``)                         ("JSON path error near '_id'", code 8)        the index instead
==============================  ============================================  =====================

Still different from MongoDB with all workarounds (engine and tests must live with these):

- Unique indexes compare strings only up to the first NUL (SQLite's json_extract truncates
  at \\u0000): "a\\0x" and "a\\0y" collide. Use a separator other than "\\0" in unique keys.
- Unique indexes never index null/missing: with or without ``sparse`` any number of docs
  may lack the field or hold null (MongoDB: non-sparse unique allows one missing/null).
- Index options: custom ``name=`` ignored (listed under the default name),
  ``partialFilterExpression`` dropped, ``sparse`` not reported, descending keys stored and
  listed ascending. Re-creating with another expireAfterSeconds updates it (no error 85).
- TTL (``expireAfterSeconds``): accepted, listed in index_information; expired docs are
  deleted lazily on the next access of the collection, ignoring partialFilterExpression.
- hello/isMaster: no setName (pymongo topology "Single"), yet collection.watch() works.
  Resume tokens are {"_data": "nx:<n>"}; resume_after/start_after replay missed events,
  also across a restart (change log in the SQLite file; history kept while streams are
  open is trimmed to 1000 rows, a too-old token silently restarts from there: no error 286).
- Change events: replace arrives as "update"; updateDescription is None; fullDocument is the
  post-image also for deletes; update_many/delete_many give one event per document; drop
  gives no event (no invalidate), the stream stays open.
- database.watch() / client.watch() open but deliver nothing; start_at_operation_time is
  accepted and ignored (starts "now").
- NaN and ±Infinity doubles are refused ("Invalid JSON document", code 8).
- No authentication: a URI with a user name fails in the driver's SCRAM handshake
  (``KeyError: 'payload'``). Collection names must be identifiers ("Invalid identifier").
- Server stopped under a waiting stream: pymongo retries once, then raises
  ServerSelectionTimeoutError (after serverSelectionTimeoutMS); the same stream, or a new
  one with resume_after=last token, continues after restart() without losing events.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["WORKAROUNDS", "ServerHandle", "ServerStartError", "free_port", "start_server"]

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
_LOG_TAIL_CHARS = 4000

#: In-process fixes applied to nx-27017 before it serves (see the table above).
WORKAROUNDS = (
    "fallback",
    "datetime",
    "dotted",
    "fam-errors",
    "dupkey",
    "index-names",
    "cs-fulldoc",
    "cs-await",
    "cursor-ids",
    "cursor-not-found",
    "compound-id",
)


def _check_workarounds(disable: Iterable[str]) -> frozenset[str]:
    """Validate workaround names (``"all"`` = every one) and return them as a set."""
    names = frozenset(disable)
    if "all" in names:
        return frozenset(WORKAROUNDS)
    unknown = names - set(WORKAROUNDS)
    if unknown:
        raise ValueError(f"unknown workarounds {sorted(unknown)}; known: {WORKAROUNDS}")
    return names


class ServerStartError(RuntimeError):
    """The nx-27017 subprocess exited or never answered ``ping`` in time."""


def free_port() -> int:
    """Return a currently free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerHandle:
    """A running (or stopped) nx-27017 subprocess bound to one port and one data file."""

    def __init__(
        self,
        port: int,
        db_path: Path,
        log_path: Path,
        *,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        disable: Iterable[str] = (),
    ) -> None:
        self.port = port
        self.db_path = db_path
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.disabled = _check_workarounds(disable)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:PORT/`` for this server."""
        return f"mongodb://{HOST}:{self.port}/"

    @property
    def pid(self) -> int | None:
        """PID of the server process while it runs, else ``None``."""
        return self._proc.pid if self.is_running() and self._proc is not None else None

    def is_running(self) -> bool:
        """True while the server subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn the server and block until it answers ``ping`` (no-op if running)."""
        if self.is_running():
            return
        cmd = [
            sys.executable,
            "-P",  # don't put tests/ on the child's sys.path
            str(Path(__file__).resolve()),
            "--port",
            str(self.port),
            "--db",
            str(self.db_path),
        ]
        for name in sorted(self.disabled):
            cmd += ["--disable", name]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # stdin stays an open pipe: the child exits when it reads EOF, i.e. when
            # we close it in stop() or when this process dies for any reason.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.db_path.parent),
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"nx-27017 exited with code {self._proc.returncode} before serving on "
                    f"port {self.port}; log {self.log_path}:\n{self.log_tail()}"
                )
            client: MongoClient[dict[str, Any]] = MongoClient(
                self.uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300, directConnection=True
            )
            try:
                client.admin.command("ping")
                return
            except PyMongoError as exc:
                last_error = exc
            finally:
                client.close()
            time.sleep(0.05)
        raise ServerStartError(
            f"nx-27017 did not answer ping on port {self.port} within {self.startup_timeout:.0f}s "
            f"(last error: {last_error}); log {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self) -> str:
        """Last few KB of the server's combined stdout/stderr."""
        try:
            return self.log_path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
        except OSError:
            return "<no log>"

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Terminate the server (SIGKILL after ``timeout`` seconds); idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout)

    def restart(self) -> None:
        """Stop, then start again on the same port with the same data file."""
        self.stop()
        self.start()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ServerHandle(uri={self.uri!r}, pid={self.pid}, db={str(self.db_path)!r})"


def start_server(
    tmpdir: str | os.PathLike[str],
    *,
    port: int | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
    disable: Iterable[str] = (),
) -> ServerHandle:
    """Start nx-27017 on a free loopback port with its data file in ``tmpdir``.

    Returns a started :class:`ServerHandle`; call ``.stop()`` when done.
    ``disable`` names workarounds (see ``WORKAROUNDS``, or ``"all"``) to leave out; only for probing.
    Raises :class:`ServerStartError` (with the server log) if it fails to come up.
    """
    base = Path(tmpdir)
    base.mkdir(parents=True, exist_ok=True)
    handle = ServerHandle(
        port if port is not None else free_port(),
        base / "nx-27017.db",
        base / "nx-27017.log",
        startup_timeout=startup_timeout,
        disable=disable,
    )
    handle.start()
    return handle


# ---------------------------------------------------------------------------
# Server side: everything below runs inside the subprocess.
# ---------------------------------------------------------------------------

_EPOCH_JULIAN_DAY = 2440587.5
#: How often a waiting change-stream getMore re-reads the change log.
CS_POLL_S = 0.01
#: MongoDB's default await time for tailable-await cursors without maxAwaitTimeMS.
CS_DEFAULT_AWAIT_MS = 1000
CS_MAX_AWAIT_MS = 10_000
#: Worker threads of the server's asyncio executor (every request runs in one).
SERVER_THREADS = 128
_DOTTED_OPS = frozenset(
    {"$unset", "$inc", "$mul", "$min", "$max", "$push", "$addToSet", "$pop", "$setOnInsert"}
)
_MISSING: Any = object()
_tls = threading.local()


def precise_datetime(value: Any) -> str | None:
    """One-argument SQLite ``datetime()`` keeping microseconds: ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC.

    Accepts ISO-8601 text (``T`` or space separator, optional ``Z``/offset; naive = UTC),
    ``'now'``, and Julian day numbers like the builtin. Returns NULL for anything else.
    """
    parsed: dt.datetime
    if value is None or isinstance(value, bytes):
        return None
    try:
        if isinstance(value, int | float):
            parsed = dt.datetime.fromtimestamp((value - _EPOCH_JULIAN_DAY) * 86400.0, dt.UTC)
        elif isinstance(value, str):
            text = value.strip()
            if text.lower() == "now":
                parsed = dt.datetime.now(dt.UTC)
            else:
                try:
                    parsed = dt.datetime.fromisoformat(text)
                except ValueError:
                    return precise_datetime(float(text))
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed.isoformat(sep=" ", timespec="microseconds")


def _with_precise_datetime(connect: Any) -> Any:
    """Wrap a ``connect`` function so each new connection gets :func:`precise_datetime`."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        conn = connect(*args, **kwargs)
        conn.create_function("datetime", 1, precise_datetime, deterministic=True)
        return conn

    wrapper._precise_datetime = True  # type: ignore[attr-defined]
    return wrapper


def _install_precise_datetime() -> None:
    """[datetime] Every sqlite3 connection opened in this process gets :func:`precise_datetime`."""
    import sqlite3.dbapi2 as dbapi2

    from neosqlite import _sqlite

    if not getattr(sqlite3.connect, "_precise_datetime", False):
        sqlite3.connect = dbapi2.connect = _with_precise_datetime(sqlite3.connect)  # type: ignore[assignment]
    module: Any = _sqlite.sqlite3  # pysqlite3's dbapi2 when neosqlite found it
    if not getattr(module.connect, "_precise_datetime", False):
        module.connect = _with_precise_datetime(module.connect)


def _install_fallback() -> None:
    """[fallback] Python update/query paths instead of neosqlite's SQL fast path."""
    from neosqlite.collection.query_helper.utils import set_force_fallback

    set_force_fallback(True)


def _install_compound_id() -> None:
    """[compound-id] A compound index naming ``_id`` indexes the ``_id`` column (where neosqlite
    keeps it), not ``json_extract(data, '_id')``, which breaks every insert afterwards."""
    from neosqlite.collection import index_manager
    from neosqlite.sql_utils import quote_identifier, quote_table_name

    original = index_manager.IndexManager.create_index

    def create_index(self: Any, key: Any, *args: Any, **kwargs: Any) -> str:
        pairs = isinstance(key, list) and all(isinstance(k, tuple) for k in key)
        fields = [k[0] for k in key] if pairs else []
        if len(fields) < 2 or "_id" not in fields or kwargs.get("unique") or kwargs.get("sparse"):
            return original(self, key, *args, **kwargs)
        prefix = self.jsonb.json_function_prefix
        columns = ", ".join(
            quote_identifier("_id")
            if f == "_id"
            else f"{prefix}_extract(data, '{index_manager.parse_json_path(f)}')"
            for f in fields
        )
        coll = self.collection
        name = f"idx_{coll.name}_{'_'.join(fields).replace('.', '_')}"
        coll.db.execute(
            f"CREATE INDEX IF NOT EXISTS {quote_identifier(name)} ON {quote_table_name(coll.name)}({columns})"
        )
        index_manager._store_index_keys(coll.db, name, fields)
        return name

    index_manager.IndexManager.create_index = create_index  # type: ignore[method-assign]


def _get(node: Any, key: str) -> Any:
    """Child ``key`` of a dict or list node, or ``_MISSING``."""
    if isinstance(node, dict):
        return node.get(key, _MISSING)
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node[int(key)]
    return _MISSING


def _put(node: Any, key: str, value: Any) -> None:
    """Set child ``key`` of a dict or list node (lists are padded with None, like MongoDB)."""
    if isinstance(node, dict):
        node[key] = value
    elif isinstance(node, list) and key.isdigit():
        index = int(key)
        node.extend([None] * (index + 1 - len(node)))
        node[index] = value
    else:
        raise ValueError(f"cannot create field {key!r} in element {node!r}")


def _apply_dotted(doc: dict[str, Any], op: str, path: str, value: Any, *, is_upsert: bool) -> None:
    """Apply one update operator to a dotted path, with MongoDB's semantics."""
    if op == "$setOnInsert" and not is_upsert:
        return
    *parents, leaf = path.split(".")
    node: Any = doc
    for part in parents:
        child = _get(node, part)
        if not isinstance(child, dict | list):
            if op in ("$unset", "$pop") or child not in (_MISSING, None):
                if op in ("$unset", "$pop"):
                    return
                raise ValueError(f"cannot apply {op} to {path!r}: {part!r} is not a document")
            child = {}
            _put(node, part, child)
        node = child
    current = _get(node, leaf)
    match op:
        case "$unset":
            if isinstance(node, dict):
                node.pop(leaf, None)
            elif current is not _MISSING:
                _put(node, leaf, None)  # MongoDB nulls unset array elements
        case "$setOnInsert":
            _put(node, leaf, value)
        case "$inc" | "$mul":
            base = 0 if current is _MISSING else current
            if isinstance(base, bool) or not isinstance(base, int | float):
                raise ValueError(f"cannot apply {op} to non-numeric field {path!r}")
            _put(node, leaf, base + value if op == "$inc" else base * value)
        case "$min" | "$max":
            if current is _MISSING or (value < current if op == "$min" else value > current):
                _put(node, leaf, value)
        case "$push" | "$addToSet":
            array = [] if current is _MISSING else current
            if not isinstance(array, list):
                raise ValueError(f"{op} target {path!r} is not an array")
            array = list(array)
            modifiers = value if isinstance(value, dict) and "$each" in value else {"$each": [value]}
            if op == "$addToSet":
                for item in modifiers["$each"]:
                    if item not in array:
                        array.append(item)
            else:
                position = modifiers.get("$position")
                if position is None:
                    array.extend(modifiers["$each"])
                else:
                    array[position:position] = modifiers["$each"]
                limit = modifiers.get("$slice")
                if limit is not None:
                    array = array[:limit] if limit >= 0 else array[limit:]
            _put(node, leaf, array)
        case "$pop":
            if isinstance(current, list) and current:
                _put(node, leaf, current[:-1] if value == 1 else current[1:])


def _install_dotted() -> None:
    """[dotted] Dotted paths for $unset/$inc/$push/... in neosqlite's Python update path."""
    from copy import deepcopy

    from neosqlite.collection.query_helper.update_operations import UpdateOperationsMixin

    original = UpdateOperationsMixin._perform_python_update

    def _perform_python_update(
        self: Any,
        doc_id: Any,
        update_spec: dict[str, Any],
        original_doc: dict[str, Any],
        array_filters: list[dict[str, Any]] | None = None,
        query_filter: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        dotted = {
            op: {k: v for k, v in spec.items() if "." in k and "$" not in k}
            for op, spec in update_spec.items()
            if op in _DOTTED_OPS and isinstance(spec, dict)
        }
        dotted = {op: spec for op, spec in dotted.items() if spec}
        if not dotted:
            return original(self, doc_id, update_spec, original_doc, array_filters, query_filter)
        rest: dict[str, Any] = {}
        for op, spec in update_spec.items():
            keep = (
                {k: v for k, v in spec.items() if k not in dotted.get(op, {})}
                if isinstance(spec, dict)
                else spec
            )
            if keep:
                rest[op] = keep
        staged = deepcopy(original_doc)
        for op, spec in dotted.items():
            for path, value in spec.items():
                _apply_dotted(staged, op, path, value, is_upsert=doc_id == 0)
        updated, _ = original(self, doc_id, rest, staged, array_filters, query_filter)
        return updated, updated != original_doc

    UpdateOperationsMixin._perform_python_update = _perform_python_update  # type: ignore[method-assign]


def _install_fam_errors() -> None:
    """[fam-errors] Remember exceptions of find_one_and_*; nx-27017 swallows them (see _dispatch)."""
    import functools

    from neosqlite.collection import Collection

    def recording(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                _tls.fam_error = exc
                raise

        return wrapper

    for name in ("find_one_and_update", "find_one_and_replace", "find_one_and_delete"):
        setattr(Collection, name, recording(getattr(Collection, name)))


def _decode_markers(value: Any) -> Any:
    """Turn neosqlite's JSON markers (ObjectId, $date, Binary) back into values."""
    import json

    from neosqlite.collection.json_helpers import neosqlite_json_loads

    if isinstance(value, dict):
        if "__neosqlite_objectid__" in value or "__neosqlite_binary__" in value or set(value) == {"$date"}:
            return neosqlite_json_loads(json.dumps(value))
        return {k: _decode_markers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_markers(v) for v in value]
    return value


def _install_cursor_ids() -> None:
    """[cursor-ids] Start this process's cursor ids at a random offset, so no id of the process
    before a restart names a cursor of this one (change streams stay below data cursors' 10**12)."""
    import secrets
    from itertools import count

    import nx_27017.changestream as changestream
    import nx_27017.handler as nx_handler

    changestream._cursor_id_counter = count(1000 + secrets.randbelow(10**11))  # type: ignore[attr-defined]
    nx_handler._data_cursor_id_counter = count(10**12 + secrets.randbelow(10**15))  # type: ignore[attr-defined]


def _unknown_cursor(handler: Any, body: dict[str, Any]) -> dict[str, Any] | None:
    """[cursor-not-found] CursorNotFound (43) for a getMore of a cursor this process does not know."""
    try:
        cursor_id = int(body["getMore"])
    except (TypeError, ValueError):
        return None
    if handler._change_stream_manager.get_stream(cursor_id) is not None:
        return None
    with handler._cursors_lock:
        if cursor_id in handler._cursors:
            return None
    return {"ok": 0, "code": 43, "codeName": "CursorNotFound", "errmsg": f"cursor id {cursor_id} not found"}


def _install_cs_fulldoc() -> None:
    """[cs-fulldoc] Change events carry fullDocument with real ObjectIds and datetimes."""
    from nx_27017.changestream import ChangeStreamManager

    original = ChangeStreamManager._translate_row

    def _translate_row(self: Any, stream: Any, rowid: int, row: Any) -> dict[str, Any] | None:
        change = original(self, stream, rowid, row)
        if change is not None and isinstance(change.get("fullDocument"), dict):
            change["fullDocument"] = _decode_markers(change["fullDocument"])
        return change

    ChangeStreamManager._translate_row = _translate_row  # type: ignore[method-assign]


def _lookup(doc: Any, path: str) -> Any:
    """Value at a dotted path (or a literal dotted key), or ``_MISSING``."""
    if isinstance(doc, dict) and path in doc:
        return doc[path]
    for part in path.split("."):
        doc = _get(doc, part)
        if doc is _MISSING:
            return _MISSING
    return doc


def _effective_doc(candidate: Any) -> Any:
    """The values an insert document / update spec writes (for keyValue)."""
    if isinstance(candidate, dict) and any(str(k).startswith("$") for k in candidate):
        merged: dict[str, Any] = {}
        for op in ("$setOnInsert", "$set"):
            if isinstance(candidate.get(op), dict):
                merged.update(candidate[op])
        return merged
    return candidate


def _dup_context(body: dict[str, Any], sections: list[Any]) -> tuple[str, str, list[Any]] | None:
    """(db, collection, written docs) of an insert/update/findAndModify, read before nx mutates it."""
    kind = next((k for k in ("findAndModify", "insert", "update") if k in body), None)
    if kind is None or not isinstance(body[kind], str):
        return None
    if kind == "findAndModify":
        candidates = [body.get("update")]
    else:
        field = "documents" if kind == "insert" else "updates"
        candidates = list(body.get(field) or [])
        if not candidates:
            for section_type, data in sections:
                if section_type == "payload_docs":
                    candidates.extend(data)
                elif section_type == "payload" and isinstance(data, dict):
                    candidates.extend(data.get(field) or [])
        if kind == "update":
            candidates = [c.get("u") if isinstance(c, dict) else None for c in candidates]
    return str(body.get("$db", "test")), body[kind], [_effective_doc(c) for c in candidates]


def _enrich_dup_key(handler: Any, ctx: tuple[str, str, list[Any]], error: dict[str, Any], index: int) -> None:
    """[dupkey] Give a duplicate-key error MongoDB's keyPattern/keyValue and E11000 message."""
    import re

    if error.get("code") != 11000 or "keyPattern" in error:
        return
    db_name, coll_name, candidates = ctx
    original = str(error.get("errmsg", ""))
    match = re.search(r"index '([^']+)'", original)
    key: dict[str, Any] | None = None
    if match and match.group(1) == f"idx_{coll_name}_id":
        key = {"_id": 1}
    elif match:
        try:
            with handler._lock_for(db_name):
                info = handler.get_database(db_name)[coll_name].index_information()
            spec = info.get(match.group(1)) or {}
            key = dict(spec.get("key") or {}) or None
        except Exception:
            key = None
    if key is None:
        return
    error["keyPattern"] = key
    doc = candidates[index] if 0 <= index < len(candidates) else None
    values = {field: _lookup(doc, field) for field in key}
    if all(v is not _MISSING for v in values.values()):
        error["keyValue"] = values
    name = "_".join(f"{field}_{direction}" for field, direction in key.items())
    shown = ", ".join(f"{k}: {v!r}" for k, v in values.items() if v is not _MISSING)
    error["errmsg"] = (
        f"E11000 duplicate key error collection: {db_name}.{coll_name} index: {name} "
        f"dup key: {{ {shown} }} (nx-27017: {original})"
    )


def _mongo_index_name(key: Any) -> str:
    """MongoDB's default index name for a key pattern: ``a_1_b_-1``."""
    pairs = key.items() if isinstance(key, dict) else key
    return "_".join(f"{field}_{direction}" for field, direction in pairs)


def _sqlite_indexes(handler: Any, db_name: str, coll_name: str) -> dict[str, dict[str, Any]]:
    """SQLite index name -> key pattern, for one collection (``_id_`` excluded)."""
    with handler._lock_for(db_name):
        info = handler.get_database(db_name)[coll_name].index_information()
    return {name: dict(spec.get("key") or {}) for name, spec in info.items() if name != "_id_"}


def _fix_list_indexes(handler: Any, db_name: str, coll_name: str, response: Any) -> None:
    """[index-names] listIndexes reports MongoDB default names instead of ``idx_<coll>_<fields>``."""
    cursor = response.get("cursor") if isinstance(response, dict) else None
    batch = cursor.get("firstBatch") if isinstance(cursor, dict) else None
    if not batch:
        return
    known = _sqlite_indexes(handler, db_name, coll_name)
    for entry in batch:
        if entry.get("name") in known:
            entry["name"] = _mongo_index_name(entry.get("key") or known[entry["name"]])


def _resolve_drop_index(handler: Any, db_name: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """[index-names] Point dropIndexes at the SQLite index; IndexNotFound like MongoDB if none.

    nx-27017 stores every key as ascending, so ``a_-1`` also finds the index listed as ``a_1``.
    """
    wanted = body.get("index")
    coll_name = body.get("dropIndexes")
    if not isinstance(wanted, str) or wanted == "*" or not isinstance(coll_name, str):
        return None
    for sqlite_name, key in _sqlite_indexes(handler, db_name, coll_name).items():
        if wanted in (sqlite_name, _mongo_index_name(key)) or wanted.replace(
            "_-1", "_1"
        ) == _mongo_index_name(key):
            body["index"] = sqlite_name
            return None
    return {
        "ok": 0,
        "code": 27,
        "codeName": "IndexNotFound",
        "errmsg": f"index not found with name [{wanted}]",
    }


def _await_change_stream(
    handler: Any, msg: dict[str, Any], call: Any, stream: Any, body: dict[str, Any]
) -> Any:
    """[cs-await] Hold an empty change-stream getMore up to its maxTimeMS (default 1 s), like MongoDB."""
    import copy

    wait_ms = body.get("maxTimeMS", body.get("maxAwaitTimeMS"))  # drivers send maxTimeMS on getMore
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, int | float):
        wait_ms = CS_DEFAULT_AWAIT_MS
    deadline = time.monotonic() + min(max(float(wait_ms), 0.0), CS_MAX_AWAIT_MS) / 1000.0
    while True:
        request_id, response = call(handler, copy.deepcopy(msg))
        cursor = response.get("cursor") if isinstance(response, dict) else None
        remaining = deadline - time.monotonic()
        if not isinstance(cursor, dict) or cursor.get("nextBatch") or stream._closed or remaining <= 0:
            return request_id, response
        time.sleep(min(CS_POLL_S, remaining))


def _dispatch(handler: Any, msg: dict[str, Any], call: Any, enabled: frozenset[str]) -> Any:
    """Run one nx-27017 request with the enabled request-level workarounds around it."""
    sections = msg.get("sections") or []
    body = next((d for t, d in sections if t == "body" and isinstance(d, dict)), {})
    if "cursor-not-found" in enabled and "getMore" in body:
        unknown = _unknown_cursor(handler, body)
        if unknown is not None:
            return msg.get("request_id", 0), unknown
    if "cs-await" in enabled and "getMore" in body:
        with contextlib.suppress(TypeError, ValueError):
            stream = handler._change_stream_manager.get_stream(int(body["getMore"]))
            if stream is not None:
                return _await_change_stream(handler, msg, call, stream, body)
    db_name = str(body.get("$db", "test"))
    list_indexes = body.get("listIndexes") if "index-names" in enabled else None
    if "index-names" in enabled and "dropIndexes" in body:
        not_found = _resolve_drop_index(handler, db_name, body)
        if not_found is not None:
            return msg.get("request_id", 0), not_found
    ctx = _dup_context(body, sections) if "dupkey" in enabled else None
    is_fam = "findAndModify" in body
    _tls.fam_error = None
    request_id, response = call(handler, msg)
    error = _tls.fam_error
    _tls.fam_error = None
    if (
        "fam-errors" in enabled
        and is_fam
        and error is not None
        and isinstance(response, dict)
        and response.get("ok") == 1
        and response.get("value") is None
    ):
        unique = "UNIQUE" in str(error).upper() or type(error).__name__ == "IntegrityError"
        response = {
            "ok": 0,
            "errmsg": str(error),
            "code": 11000 if unique else 8,
            "codeName": "DuplicateKey" if unique else "UnknownError",
        }
    if isinstance(list_indexes, str):
        _fix_list_indexes(handler, db_name, list_indexes, response)
    if ctx is not None and isinstance(response, dict):
        if response.get("code") == 11000:
            _enrich_dup_key(handler, ctx, response, 0)
        for write_error in response.get("writeErrors") or []:
            if isinstance(write_error, dict):
                _enrich_dup_key(handler, ctx, write_error, int(write_error.get("index", 0)))
    return request_id, response


def _install_request_hooks(enabled: frozenset[str]) -> None:
    """[fam-errors, dupkey, index-names, cs-await] Wrap the handler's request entry points."""
    from nx_27017.handler import NeoSQLiteHandler

    original_command = NeoSQLiteHandler.handle_command
    original_insert = NeoSQLiteHandler.handle_insert

    def handle_command(self: Any, msg: dict[str, Any]) -> Any:
        return _dispatch(self, msg, original_command, enabled)

    def handle_insert(self: Any, msg: dict[str, Any]) -> Any:
        return _dispatch(self, msg, original_insert, enabled)

    NeoSQLiteHandler.handle_command = handle_command  # type: ignore[method-assign]
    NeoSQLiteHandler.handle_insert = handle_insert  # type: ignore[method-assign]


def _exit_when_orphaned() -> None:
    """Exit the process when stdin hits EOF or the parent process goes away."""
    parent = os.getppid()

    def read_stdin() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 4096):  # raw fd: no buffered-reader lock held at interpreter exit
                pass
        os._exit(0)

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=read_stdin, name="stdin-eof", daemon=True).start()
    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()


def _serve(argv: list[str] | None = None) -> None:
    """Entry point of the server subprocess: apply workarounds, then serve forever."""
    parser = argparse.ArgumentParser(description="nx-27017 launcher for tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--disable", action="append", default=[], choices=[*WORKAROUNDS, "all"])
    args = parser.parse_args(argv)
    enabled = frozenset(WORKAROUNDS) - _check_workarounds(args.disable)

    _exit_when_orphaned()
    # SQLite runs in autocommit/WAL mode, so an abrupt exit loses no acknowledged write.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))

    import asyncio
    import logging
    from concurrent.futures import ThreadPoolExecutor

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if "datetime" in enabled:
        _install_precise_datetime()
    if "fallback" in enabled:
        _install_fallback()
    if "dotted" in enabled:
        _install_dotted()
    if "fam-errors" in enabled:
        _install_fam_errors()
    if "cs-fulldoc" in enabled:
        _install_cs_fulldoc()
    if "cursor-ids" in enabled:
        _install_cursor_ids()
    if "compound-id" in enabled:
        _install_compound_id()
    _install_request_hooks(enabled)

    from nx_27017.handler import NeoSQLiteHandler
    from nx_27017.server import run_server

    handler = NeoSQLiteHandler(args.db, journal_mode="WAL")

    async def main() -> None:
        # Every request runs in the default executor; waiting getMores hold a thread each.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=SERVER_THREADS, thread_name_prefix="nx-request")
        )
        await run_server(HOST, args.port, handler)

    print(
        f"nx-27017 starting: {args.db} on {HOST}:{args.port} pid={os.getpid()} "
        f"workarounds={','.join(sorted(enabled)) or 'none'}",
        flush=True,
    )
    asyncio.run(main())


if __name__ == "__main__":
    _serve()
