"""Which engine opens a store URI: a registry by URI scheme.

A URI ``scheme://…`` is opened by the engine registered for ``scheme``; anything else — a
plain path, also a Windows one (``C:\\jobs.db``) — is a SQLite file. The built-in engines:

=================  ==================================================
``mongodb``        :func:`queuecore.store.mongo.connect_mongo`
``mongodb+srv``    the same
``sqlite``         :class:`queuecore.store.sqlite.SQLiteStore` (``sqlite:///relative.db``,
                   ``sqlite:////absolute.db``; also every plain path)
``postgresql``     :func:`queuecore.store.postgres.open_store`
``postgres``       the same
=================  ==================================================

Each engine is imported only when a URI of its scheme is opened: opening a SQLite store
never imports pymongo.

**Adding an engine** (another package): one entry point in the group ``queuecore.engines``
per scheme; its name is the scheme, its object an async callable opening the store::

    [project.entry-points."queuecore.engines"]
    postgresql = "queuecore_pg:open_store"

    async def open_store(uri: str, *, collection: str, timeout: float, create: bool, **options) -> Store:
        ...

``open_store`` gets the whole URI and ``connect()``'s options, returns an open
:class:`~queuecore.store.base.Store`, and raises :class:`~queuecore.errors.ConnectError`
(password masked, see :func:`queuecore.uri.mask`) for anything the user can fix: a bad URI,
an unreachable server, ``create=False`` and no store there. ``connect()`` sets the store's
``query_timeout`` afterwards. Entry points are read only for a scheme that is not built in
(and to list the known schemes in an error); a built-in scheme cannot be taken over.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from ..errors import ConnectError
from ..uri import mask
from .base import Store

#: The entry point group where packages register engines (name: the scheme).
GROUP = "queuecore.engines"

#: What an engine provides: ``await open_store(uri, collection=…, timeout=…, create=…)``.
Opener = Callable[..., Awaitable[Store]]

#: The built-in engines by scheme, as ``module:attribute`` (imported when first used).
BUILTIN: dict[str, str] = {
    "mongodb": "queuecore.store.mongo:connect_mongo",
    "mongodb+srv": "queuecore.store.mongo:connect_mongo",
    "sqlite": "queuecore.store.sqlite:open_store",
    "postgresql": "queuecore.store.postgres:open_store",
    "postgres": "queuecore.store.postgres:open_store",
}
#: The scheme whose engine opens a plain path.
PATH_SCHEME = "sqlite"

#: ``scheme://`` at the start of a URI (RFC 3986's scheme characters).
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def scheme_of(uri: str) -> str | None:
    """The scheme of ``uri`` (``mongodb`` of ``mongodb://h/db``), or None for a plain path."""
    match = _SCHEME.match(uri)
    return match.group(1) if match else None


def schemes() -> list[str]:
    """Every scheme an engine is known for: the built-in ones, then the installed ones."""
    return [*BUILTIN, *sorted(_installed())]


def check(uri: str) -> str:
    """The scheme whose engine opens ``uri`` (:data:`PATH_SCHEME` for a plain path), found
    without loading the engine (for a command line to check a URI before it opens anything);
    raises ConnectError (password masked, the known schemes listed) for a scheme no engine is
    known for."""
    scheme = scheme_of(uri) or PATH_SCHEME
    if scheme not in BUILTIN and scheme not in _installed():
        raise ConnectError(_unsupported(uri, scheme))
    return scheme


def opener(uri: str) -> Opener:
    """The engine that opens ``uri``; raises ConnectError (password masked) for a scheme no
    engine is known for, or an engine that cannot be loaded."""
    scheme = scheme_of(uri)
    if scheme is None:
        scheme = PATH_SCHEME
    if scheme in BUILTIN:
        return cast(Opener, _load(BUILTIN[scheme]))
    installed = _installed().get(scheme)
    if installed is None:
        raise ConnectError(_unsupported(uri, scheme))
    try:
        found = installed.load()
    except Exception as exc:  # a broken or half-installed package: one message, no traceback
        raise ConnectError(
            f"cannot load the engine for {scheme}:// ({installed.value}): {type(exc).__name__}: {exc}"
        ) from None
    if not callable(found):
        raise ConnectError(f"the engine for {scheme}:// ({installed.value}) is not callable")
    return cast(Opener, found)


async def open_uri(uri: str, *, collection: str, timeout: float, create: bool) -> Store:
    """Open ``uri`` with its engine (see the module docstring)."""
    return await opener(uri)(uri, collection=collection, timeout=timeout, create=create)


def _unsupported(uri: str, scheme: str) -> str:
    """The one-line error for a URI of a scheme no engine is known for (password masked)."""
    return f"unsupported URI scheme {scheme!r} in {mask(uri)!r}: {_known()}"


def _known() -> str:
    """The known schemes, for a message."""
    forms = ["sqlite:///" if s == "sqlite" else f"{s}://" for s in schemes()]
    return f"the known schemes are {', '.join(forms)} (or a file path, for SQLite)"


def _installed() -> dict[str, EntryPoint]:
    """The engines installed packages register, by scheme (built-in schemes left out)."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        if point.name not in BUILTIN and _SCHEME.match(f"{point.name}://"):
            found.setdefault(point.name, point)
    return found


def _load(target: str) -> Any:
    """The object ``module:attribute`` names (imports the module)."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


__all__ = ["BUILTIN", "GROUP", "PATH_SCHEME", "Opener", "check", "open_uri", "opener", "scheme_of", "schemes"]
