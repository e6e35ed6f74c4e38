"""A command's session with the store: open it, run the command's action, close it — and
every error the user or the environment can cause as one line on stderr.

Errors print exactly one line, ``error: …``, and exit 1 (130 when interrupted); the store's
password never appears in one, whoever wrote the message (:func:`scrub`). The connection and
query time limits come from the environment.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

import queuecore
from queuecore import Store
from queuecore.printable import one_line
from queuecore.store import QUERY_TIMEOUT
from queuecore.uri import password as uri_password

from ..workers import WorkersError
from . import ids

if TYPE_CHECKING:
    from .options import Target

T = TypeVar("T")

#: Environment variable: seconds to wait for the store before giving up (default 5).
ENV_CONNECT_TIMEOUT = "JOBTUI_CONNECT_TIMEOUT"
#: Environment variable: seconds a filter's store query may take (default 5; 0: no limit).
ENV_QUERY_TIMEOUT = "JOBTUI_QUERY_TIMEOUT"


def fail(message: str, target: Target | None = None, code: int = 1) -> NoReturn:
    """Print ``error: message`` as one line on stderr (password scrubbed) and exit."""
    typer.echo(f"error: {error_line(scrub(message, target))}", err=True)
    raise typer.Exit(code)


def error_line(message: str) -> str:
    """``message`` on one line, printable (errors quote stored values: names, reasons)."""
    # pymongo appends a long topology dump to server-selection errors; it names nothing new
    return one_line(str(message).split(", Topology Description:", 1)[0])


def scrub(message: str, target: Target | None) -> str:
    """Remove the target's password from ``message``, whatever produced it."""
    if target is None:
        return message
    message = message.replace(target.uri, target.display)
    password = _password(target.uri)
    if password:
        message = message.replace(password, "***")
    return message


def _password(uri: str) -> str | None:
    return uri_password(uri) or None


def connect_timeout() -> float:
    """``$JOBTUI_CONNECT_TIMEOUT`` in seconds (at least 0.1; unset or not a number: 5)."""
    raw = os.environ.get(ENV_CONNECT_TIMEOUT, "")
    try:
        return max(0.1, float(raw)) if raw else 5.0
    except ValueError:
        return 5.0


def query_timeout() -> float | None:
    """``$JOBTUI_QUERY_TIMEOUT`` as ``connect(query_timeout=…)``: seconds, 0 for no limit; a
    value that is not a number of seconds is one error line (not silently the default)."""
    raw = os.environ.get(ENV_QUERY_TIMEOUT, "").strip()
    if not raw:
        return QUERY_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        fail(f"{ENV_QUERY_TIMEOUT} must be a number of seconds (0: no limit), not {raw!r}")
    return seconds or None


#: Exceptions that are the user's or the environment's problem: one line, no traceback.
EXPECTED: tuple[type[BaseException], ...] = (
    queuecore.QueueError,  # ConnectError, TransitionError, MissingJobError, ...
    WorkersError,
    ValueError,  # invalid ids, statuses, oversized or non-JSON data
    TypeError,
    OSError,
)


def run(target: Target, action: Callable[[Store], Awaitable[T]], *, create: bool = True) -> T:
    """Open the store, run ``action`` on it, close it; known errors become one line and exit 1
    (an unsupported filter, one over the time limit: ``QueryError``, ``QueryTimeout``).
    ``create=False`` (the commands that only read): a missing SQLite store is an error, never made."""
    limit = query_timeout()
    driver_errors: tuple[type[Exception], ...] = ()  # the open store's (a bug is a traceback)

    async def main() -> T:
        nonlocal driver_errors
        store = await queuecore.connect(
            target.uri,
            collection=target.collection,
            timeout=connect_timeout(),
            query_timeout=limit,
            create=create,
        )
        driver_errors = store.driver_errors
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except ids.IdError as exc:  # no job, or several: the candidates under the error line
        typer.echo(f"error: {error_line(str(exc))}", err=True)
        for line in exc.lines:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        fail("interrupted", target, code=130)
    except EXPECTED as exc:
        fail(str(exc) or type(exc).__name__, target)
    except Exception as exc:
        if isinstance(exc, driver_errors):  # the database's problem, as its driver says it
            fail(f"{type(exc).__name__}: {exc}", target)
        raise
