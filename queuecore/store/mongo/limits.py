"""Time limits on filtered reads, MongoDB's way (see :mod:`queuecore.store._limits`).

``maxTimeMS`` on the ``find``/``aggregate`` (``count_documents``) command; the server's
``ExecutionTimeout`` (code 50) becomes :class:`~queuecore.errors.QueryTimeout`, and so does a
read the client gives up (:func:`mongo_read`): a server that ignores ``maxTimeMS`` or is too
busy to answer is not taken for an unreachable one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from pymongo.errors import ConnectionFailure, ExecutionTimeout

try:  # the driver's "operation cancelled": its pool interrupted a read (private in pymongo 4)
    from pymongo.errors import _OperationCancelled
except ImportError:  # pragma: no cover - another pymongo: only timeouts are recognised
    _OperationCancelled = ()  # type: ignore[assignment,misc]

from ...errors import QueryTimeout

T = TypeVar("T")


def mongo_options(seconds: float | None) -> dict[str, Any]:
    """The keyword of a filtered ``find`` (``max_time_ms``) for this limit ({} without one)."""
    return {} if seconds is None else {"max_time_ms": max(1, math.ceil(seconds * 1000))}


def count_options(seconds: float | None) -> dict[str, Any]:
    """The keyword of a filtered ``count_documents`` (``maxTimeMS``) for this limit."""
    return {} if seconds is None else {"maxTimeMS": max(1, math.ceil(seconds * 1000))}


#: Seconds past the limit the client waits for the server's own stop (``ExecutionTimeout``)
#: before it gives the read up itself: for a server that ignores ``maxTimeMS`` or never answers.
CLIENT_GRACE = 1.0


async def mongo_read(call: Awaitable[T], seconds: float | None) -> T:
    """``await call`` (a filtered ``find``/``count_documents``) under the limit ``seconds``.

    Stopped by the server (``ExecutionTimeout``, ``maxTimeMS`` exceeded) or on the client —
    given up :data:`CLIENT_GRACE` seconds after the limit, or interrupted by the driver once it
    ran past the limit (its monitor, not answered while the server is busy, cancels the
    pool's reads: "operation cancelled"; a ``socketTimeoutMS``) — it is :class:`QueryTimeout`,
    never "cannot reach MongoDB". The driver closes a connection whose read was given up.
    """
    if seconds is None:
        return await call
    started = time.monotonic()
    deadline = asyncio.timeout(seconds + CLIENT_GRACE)
    try:
        async with deadline:
            return await call
    except ExecutionTimeout:
        raise QueryTimeout(seconds) from None
    except TimeoutError:
        if deadline.expired():  # the client's own deadline
            raise QueryTimeout(seconds) from None
        raise
    except ConnectionFailure as exc:
        if time.monotonic() - started >= seconds and (exc.timeout or isinstance(exc, _OperationCancelled)):
            raise QueryTimeout(seconds) from None
        raise


__all__ = ["CLIENT_GRACE", "count_options", "mongo_options", "mongo_read"]
