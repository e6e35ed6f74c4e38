"""Opening the MongoDB engine: the client's options from the URI, the database, the first checks.

Every way this can fail is one :class:`~queuecore.errors.ConnectError` naming the problem, the
password masked: an invalid URI (also an option value pymongo would only warn about and
ignore), an unreachable server, a refusal (authentication, permissions), a missing collection
for a reader (``create=False``), or the driver failing inside itself.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import ConfigurationError, ConnectionFailure, InvalidURI

from ...errors import ConnectError
from ...uri import mask
from ...uri import password as uri_password
from .errors import internal, scrub
from .store import MongoStore


async def connect_mongo(
    uri: str, collection: str, *, timeout: float = 5.0, poll_interval: float = 1.0, create: bool = True
) -> MongoStore:
    """Open the MongoDB engine; raises ConnectError naming the problem (password masked)."""
    shown = mask(uri)
    password = uri_password(uri)
    options: dict[str, Any] = {"tz_aware": True}
    if "datetimeconversion" not in uri.lower():
        # a date outside Python's range (another program's document) comes back as a DatetimeMS,
        # so that job is salvaged as malformed; by default decoding it fails the whole read
        options["datetime_conversion"] = "DATETIME_AUTO"
    if "serverselectiontimeoutms" not in uri.lower():
        options["serverSelectionTimeoutMS"] = int(timeout * 1000)
    if "connecttimeoutms" not in uri.lower():
        options["connectTimeoutMS"] = int(timeout * 1000)
    try:
        with warnings.catch_warnings():
            # pymongo only warns about an invalid option value and ignores it (a bad
            # serverSelectionTimeoutMS would wait 30 s): refuse the URI instead
            warnings.simplefilter("error", UserWarning)
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, **options)
    except (InvalidURI, ConfigurationError, ValueError, TypeError, UserWarning) as exc:
        message = str(exc).replace(password, "***") if password else str(exc)
        raise ConnectError(f"invalid MongoDB URI {shown}: {mask(message)}") from None
    except Exception as exc:  # a driver-internal failure: still one message, never a traceback
        raise ConnectError(f"invalid MongoDB URI {shown}: {internal(exc, password)}") from None
    try:
        database = client.get_default_database(default="queuecore").name
    except ConfigurationError as exc:
        await _close_quietly(client)
        raise ConnectError(f"invalid MongoDB URI {shown}: {exc}") from None
    store = MongoStore(client, database, collection, shown, poll_interval=poll_interval)
    try:
        await store.open(create=create)
    except ConnectError as exc:
        await _close_quietly(client)
        message = str(exc).replace(password, "***") if password else str(exc)
        raise ConnectError(message) from None
    except (TimeoutError, ConnectionFailure) as exc:
        await _close_quietly(client)
        raise ConnectError(f"cannot reach MongoDB at {shown}: {scrub(exc)}") from None
    except Exception as exc:
        # the driver failed inside itself (a server that breaks the SCRAM handshake makes
        # pymongo raise KeyError('payload')): one message, password masked, never a traceback
        await _close_quietly(client)
        raise ConnectError(f"cannot open MongoDB at {shown}: {internal(exc, password)}") from None
    return store


async def _close_quietly(client: AsyncMongoClient[dict[str, Any]]) -> None:
    """Close a client that failed to open; a failure to close must not hide why it failed."""
    with contextlib.suppress(Exception):
        await client.close()


__all__ = ["connect_mongo"]
