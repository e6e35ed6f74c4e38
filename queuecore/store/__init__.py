"""Storage engines and :func:`connect`, which picks one from the URI."""

from __future__ import annotations

from ..uri import is_mongo, sqlite_path
from ._limits import check_limit
from .base import MODE_CHANGE_FEED, MODE_CHANGE_STREAM, MODE_POLLING, MODE_RECONNECTING, QUERY_TIMEOUT, Store

__all__ = [
    "MODE_CHANGE_FEED",
    "MODE_CHANGE_STREAM",
    "MODE_POLLING",
    "MODE_RECONNECTING",
    "QUERY_TIMEOUT",
    "Store",
    "connect",
]


async def connect(
    uri: str,
    *,
    collection: str = "jobs",
    timeout: float = 5.0,
    query_timeout: float | None = QUERY_TIMEOUT,
    create: bool = True,
) -> Store:
    """Open a store: ``mongodb://…``/``mongodb+srv://…`` select MongoDB (database from
    the URI path, default ``queuecore``); ``sqlite:///relative.db``,
    ``sqlite:////absolute.db`` or a plain path select the embedded SQLite engine.

    Raises :class:`queuecore.ConnectError` with a clear message (password masked)
    for an invalid URI or an unreachable database (after ``timeout`` seconds).

    ``query_timeout``: seconds a filtered ``find``/``count`` may run (default 5) before the
    database stops it with :class:`queuecore.QueryTimeout` ("filter took longer than N s");
    None for no limit. It becomes ``store.query_timeout``, which may be changed later.

    ``create=False`` (for readers): a SQLite file that does not exist or lacks the
    collection's table, or a MongoDB collection that does not exist, is
    ``ConnectError("no store at …")``, and nothing is created (no file, no index).
    """
    from ..errors import ConnectError

    limit = check_limit(query_timeout)
    if not isinstance(uri, str) or not uri.strip():
        raise ConnectError("no store URI given")
    if is_mongo(uri):
        from .mongo import connect_mongo

        mongo = await connect_mongo(uri, collection, timeout=timeout, create=create)
        mongo.query_timeout = limit
        return mongo
    try:
        path = sqlite_path(uri)
    except ValueError as exc:
        raise ConnectError(str(exc)) from None
    from .sqlite import SQLiteStore

    try:
        store = SQLiteStore(path, collection, create=create)
    except ValueError as exc:
        raise ConnectError(str(exc)) from None
    store.query_timeout = limit
    await store.open()
    return store
