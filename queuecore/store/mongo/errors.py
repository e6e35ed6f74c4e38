"""Driver errors as the queue's own: one message naming the server, the password never shown.

PyMongo's messages carry a topology dump and may quote the URI; an operator needs "cannot reach
MongoDB at …" or "authentication failed …", and code needs :class:`~queuecore.errors.ConnectError`
or :class:`~queuecore.store.base.LockConflict`, never a raw driver exception.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure

from ...errors import ConnectError
from ...uri import mask
from ..common import LockConflict

if TYPE_CHECKING:
    from .store import MongoStore

T = TypeVar("T")
P = ParamSpec("P")

#: The name of the unique sparse index on ``lock`` (an active labeled job's name and label).
LOCK_INDEX = "queuecore_lock"
#: MongoDB's duplicate key error codes.
DUPLICATE_KEY = (11000, 11001)
#: Server error codes an operator can act on when opening the store.
_AUTH_FAILED = 18
_UNAUTHORIZED = 13


@contextlib.contextmanager
def reachable(display_uri: str) -> Iterator[None]:
    """Turn "the server is unreachable" (no server within the client's server-selection
    timeout, a dropped connection) into ConnectError: nothing was written, or the write's
    outcome is unknown; the caller may retry (queue transitions are guarded by attempt)."""
    try:
        yield
    except ConnectionFailure as exc:
        raise ConnectError(f"cannot reach MongoDB at {display_uri}: {brief(exc)}") from None


def reaching(
    method: Callable[Concatenate[MongoStore, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[MongoStore, P], Coroutine[Any, Any, T]]:
    """Run a store method under :func:`reachable`: for every read and write, an
    unreachable server is a ConnectError naming it, never a raw driver error."""

    @functools.wraps(method)
    async def run(store: MongoStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with reachable(store.display_uri):
            return await method(store, *args, **kwargs)

    return run


@contextlib.contextmanager
def lock_conflicts() -> Iterator[None]:
    """A duplicate key on the name+label lock as :class:`LockConflict`."""
    try:
        yield
    except DuplicateKeyError as exc:
        if is_lock_conflict(exc.details, str(exc)):
            raise LockConflict(str(exc)) from None
        raise


def is_lock_conflict(details: Mapping[str, Any] | None, message: str) -> bool:
    """Whether a duplicate key error (its details and message) is the label's lock."""
    details = details or {}
    pattern = details.get("keyPattern") or {}
    return "lock" in pattern or LOCK_INDEX in message or "lock" in str(details.get("keyValue", {}))


def brief(exc: BaseException) -> str:
    """A driver error's message without pymongo's topology dump, password masked."""
    return scrub(exc).split(", Topology Description:", 1)[0]


def refusal(shown: str, exc: OperationFailure) -> str:
    """What the server's refusal to open the store means, for an operator (not "unreachable")."""
    detail = scrub(exc).split(", full error:", 1)[0]
    if exc.code == _AUTH_FAILED:
        return f"authentication failed for MongoDB at {shown}: check the user and password"
    if exc.code == _UNAUTHORIZED:
        return f"MongoDB at {shown} refused: the user may not use this database ({detail})"
    return f"MongoDB at {shown} refused to open the jobs collection: {detail}"


def scrub(exc: BaseException) -> str:
    """An exception's message, without anything that looks like a password."""
    return mask(str(exc))


def internal(exc: BaseException, password: str) -> str:
    """An unexpected exception as ``Type: message``, without the password (for ConnectError)."""
    message = str(exc).replace(password, "***") if password else str(exc)
    return f"the driver failed with {type(exc).__name__}: {mask(message)}".rstrip(": ")
