"""Exceptions raised by queuecore and by task handlers."""

from __future__ import annotations


class QueueError(Exception):
    """Base class of every error queuecore raises itself."""


class ConnectError(QueueError):
    """The store could not be opened (invalid URI, unreachable database), or a write found
    the database unreachable within the connect timeout (MongoDB: the client's
    server-selection timeout). Such a write may be retried once the database is back.

    The message names the problem and never contains a password.
    """


class StoreGone(QueueError):
    """The store's file was deleted, replaced or truncated while it was open (SQLite): this
    store stopped writing, so nothing is written into a file that took its place. Every
    later call raises it again; open the store anew (``create=False`` refuses to make an
    empty one) once the right file is back.
    """


class MissingJobError(QueueError):
    """Complete, fail or cancel found no dequeued job with that id (the original's "missing job")."""

    def __init__(self, message: str = "missing job") -> None:
        super().__init__(message)


class TransitionError(QueueError):
    """An operator action that the job's current status does not allow."""


class QueryTimeout(QueueError):
    """A filtered read (``store.find``/``store.count`` with filter terms) ran longer than the
    store's ``query_timeout`` and the database stopped it (SQLite: interrupted by a progress
    handler; MongoDB: ``maxTimeMS``). Nothing was changed; the store goes on working.

    The message is "filter took longer than N s"; ``seconds`` is N.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"filter took longer than {seconds:g} s")
        #: The limit that was exceeded, in seconds.
        self.seconds = seconds


class Error(Exception):
    """Raised by a handler to end an attempt with a reason.

    ``retry=True`` fails the job so it is retried after a backoff delay;
    ``retry=False`` (the default) cancels it for good.
    """

    def __init__(self, reason: str, retry: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry

    def __repr__(self) -> str:
        return f"Error({self.reason!r}, retry={self.retry})"


def E(reason: str, retry: bool = False) -> Error:
    """Short-hand for :class:`Error`, as in the original ``axe.E``."""
    return Error(reason, retry)
