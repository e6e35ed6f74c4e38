"""Reaching PostgreSQL: the connection pool, how values are read, and driver errors as the
queue's own (one message naming the server, the password never shown).

psycopg 3's asyncio API with its pool (``psycopg_pool.AsyncConnectionPool``): connections in
autocommit (each guarded write is its own transaction; batches open one explicitly), the
session's time zone UTC, ``jsonb`` received as text (the codec decodes it, and bounds how deep),
a time Python cannot hold received as its text (:class:`~.codec.BadTime`) rather than failing
the whole read. A connection idle for a second is checked when taken from the pool, so a store
goes on after the server restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import psycopg
import psycopg_pool
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.string import TextLoader

from ...errors import ConnectError
from ...uri import mask
from .codec import BadTime

if TYPE_CHECKING:
    from .store import PostgresStore

T = TypeVar("T")
P = ParamSpec("P")

#: Connections a store's pool keeps at most (a watcher has one of its own besides).
POOL_SIZE = 8


class _Timestamptz(TimestamptzLoader):
    """A ``timestamptz`` as a datetime, or as its text when Python cannot hold it."""

    def load(self, data: Any) -> Any:
        try:
            return super().load(data)
        except psycopg.DataError:
            return BadTime(bytes(data).decode("utf-8", "replace"))


#: The pool logs each failed reconnection as a warning; with no logging configured Python would
#: print those on stderr (over a dashboard's screen). An application's own handlers still get them.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

ADAPTERS = psycopg.adapt.AdaptersMap(psycopg.adapters)
ADAPTERS.register_loader("jsonb", TextLoader)
ADAPTERS.register_loader("json", TextLoader)
ADAPTERS.register_loader("timestamptz", _Timestamptz)


#: A connection taken from the pool is checked (one round trip) when it was last used longer
#: ago than this: a busy store pays nothing, an idle one finds a server restart before its
#: next statement does (a restart within this time fails that statement once: ConnectError).
CHECK_AFTER = 1.0
_last_used: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()


async def _check(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's ``check``: a connection idle longer than ``CHECK_AFTER`` is tried first."""
    if time.monotonic() - _last_used.get(conn, 0.0) > CHECK_AFTER:
        await psycopg_pool.AsyncConnectionPool.check_connection(conn)


def connect_kwargs(uri: str, timeout: float) -> dict[str, Any]:
    """The options every connection of a store is made with."""
    kwargs: dict[str, Any] = {"autocommit": True, "context": ADAPTERS, "options": "-c TimeZone=UTC"}
    if "connect_timeout" not in uri:
        kwargs["connect_timeout"] = max(2, math.ceil(timeout))
    return kwargs


async def open_pool(uri: str, timeout: float) -> psycopg_pool.AsyncConnectionPool:
    """A pool of connections to ``uri``, open with one connection made (ConnectError otherwise)."""
    shown = mask(uri)
    try:
        psycopg.conninfo.conninfo_to_dict(uri)
    except psycopg.ProgrammingError as exc:
        raise ConnectError(f"invalid PostgreSQL URI {shown}: {scrub(exc, uri)}") from None
    # one connection first: a refusal (no such database, a wrong password) is said at once,
    # where the pool would retry until the timeout
    try:
        async with asyncio.timeout(timeout):
            probe = await psycopg.AsyncConnection.connect(uri, **connect_kwargs(uri, timeout))
    except TimeoutError:
        raise ConnectError(
            f"cannot reach PostgreSQL at {shown}: no connection within {timeout:g} s"
        ) from None
    except psycopg.Error as exc:
        raise ConnectError(f"cannot reach PostgreSQL at {shown}: {scrub(exc, uri)}") from None
    except Exception as exc:  # the driver failed inside itself: one message, never a traceback
        raise ConnectError(
            f"cannot open PostgreSQL at {shown}: {type(exc).__name__}: {scrub(exc, uri)}"
        ) from None
    await probe.close()
    pool: psycopg_pool.AsyncConnectionPool = psycopg_pool.AsyncConnectionPool(
        uri,
        kwargs=connect_kwargs(uri, timeout),
        min_size=1,
        max_size=POOL_SIZE,
        open=False,
        timeout=timeout,
        check=_check,
        name="queuecore",
    )
    try:
        await pool.open(wait=True, timeout=timeout)
    except Exception as exc:
        await pool.close()
        raise ConnectError(f"cannot reach PostgreSQL at {shown}: {scrub(exc, uri)}") from None
    return pool


def scrub(exc: BaseException, uri: str = "") -> str:
    """A driver error's first line, without anything that looks like a password."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    from ...uri import password

    secret = password(uri) if uri else ""
    if secret:
        message = message.replace(secret, "***")
    return mask(message)


@contextlib.contextmanager
def reachable(display_uri: str) -> Iterator[None]:
    """A lost or unreachable server as ConnectError: nothing was written, or the write's
    outcome is unknown; the caller may retry (transitions are guarded by attempt)."""
    try:
        yield
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        if isinstance(exc, psycopg.errors.QueryCanceled):
            raise
        raise ConnectError(f"cannot reach PostgreSQL at {display_uri}: {scrub(exc)}") from None


def reaching(
    method: Callable[Concatenate[PostgresStore, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[PostgresStore, P], Coroutine[Any, Any, T]]:
    """Run a store method under :func:`reachable`."""

    @functools.wraps(method)
    async def run(store: PostgresStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with reachable(store.display_uri):
            return await method(store, *args, **kwargs)

    return run


@contextlib.asynccontextmanager
async def connection(pool: psycopg_pool.AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of the pool for one call; its last use is noted for :func:`_check` (not
    with the pool's ``reset``: that hands every returned connection to a worker task, which a
    waiting caller then waits for)."""
    async with pool.connection() as conn:
        try:
            yield conn
        finally:
            _last_used[conn] = time.monotonic()


__all__ = [
    "ADAPTERS",
    "POOL_SIZE",
    "connect_kwargs",
    "connection",
    "open_pool",
    "reachable",
    "reaching",
    "scrub",
]
