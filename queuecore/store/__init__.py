"""Storage engines and :func:`connect`, which picks one by the URI's scheme (:mod:`.registry`)."""

from __future__ import annotations

from ._limits import check_limit
from .base import MODE_CHANGE_FEED, MODE_CHANGE_STREAM, MODE_POLLING, MODE_RECONNECTING, QUERY_TIMEOUT, Store
from .registry import open_uri

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
    """Open a store with the engine of the URI's scheme (:mod:`queuecore.store.registry`):
    ``mongodb://…``/``mongodb+srv://…`` select MongoDB (database from the URI path, default
    ``queuecore``); ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a plain path
    select the embedded SQLite engine; an installed package may add a scheme (entry point
    group ``queuecore.engines``). Any other scheme is a ConnectError naming the known ones.

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
    store = await open_uri(uri, collection=collection, timeout=timeout, create=create)
    store.query_timeout = limit
    return store
