"""Storage engines and :func:`connect`, which picks one from the URI."""

from __future__ import annotations

from ..uri import is_mongo, sqlite_path
from .base import MODE_CHANGE_FEED, MODE_CHANGE_STREAM, MODE_POLLING, MODE_RECONNECTING, Store

__all__ = [
    "MODE_CHANGE_FEED",
    "MODE_CHANGE_STREAM",
    "MODE_POLLING",
    "MODE_RECONNECTING",
    "Store",
    "connect",
]


async def connect(uri: str, *, collection: str = "jobs", timeout: float = 5.0, create: bool = True) -> Store:
    """Open a store: ``mongodb://…``/``mongodb+srv://…`` select MongoDB (database from
    the URI path, default ``queuecore``); ``sqlite:///relative.db``,
    ``sqlite:////absolute.db`` or a plain path select the embedded SQLite engine.

    Raises :class:`queuecore.ConnectError` with a clear message (password masked)
    for an invalid URI or an unreachable database (after ``timeout`` seconds).
    ``create=False`` (for readers): a SQLite file that does not exist or lacks the
    collection's table, or a MongoDB collection that does not exist, is
    ``ConnectError("no store at …")``, and nothing is created (no file, no index).
    """
    from ..errors import ConnectError

    if not isinstance(uri, str) or not uri.strip():
        raise ConnectError("no store URI given")
    if is_mongo(uri):
        from .mongo import connect_mongo

        return await connect_mongo(uri, collection, timeout=timeout, create=create)
    try:
        path = sqlite_path(uri)
    except ValueError as exc:
        raise ConnectError(str(exc)) from None
    from .sqlite import SQLiteStore

    try:
        store = SQLiteStore(path, collection, create=create)
    except ValueError as exc:
        raise ConnectError(str(exc)) from None
    await store.open()
    return store
