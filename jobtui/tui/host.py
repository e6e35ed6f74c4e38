"""How the dashboard's screens talk to the app, and nothing else of it.

A screen *reads* the app's state through :class:`Host` — the live model, the store, the hosted
queue, the mode, the filter being loaded — and *asks* for anything that opens a screen or
changes jobs by posting one of the messages below, which bubble up to the app
(:class:`~jobtui.tui.app.JobTUI` handles them; :mod:`jobtui.tui.operator` does the changes).
So a screen never knows the app's class, and the app's other members are free to change.

Changing the filter or the order is a call (:meth:`Host.apply_filter`, :meth:`Host.apply_sort`),
not a message: a key typed while a filter loads must see that filter
(:attr:`Host.wanted_filter`) at once, and a message would be handled after the next key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from bson import ObjectId
from textual.dom import DOMNode
from textual.message import Message

from queuecore import Job, Queue, Store
from queuecore.sort import Sort

from ..bulk import BulkKind
from ..live import LiveModel
from ..view import Filter

if TYPE_CHECKING:
    from .commands import CommandLine


class Host(Protocol):
    """What a screen may read of the app, and the calls that change what the jobs screen shows."""

    #: The live model of the jobs screen (None until connected).
    model: LiveModel | None
    #: The open store (None until connected, and after it went).
    store: Store | None
    #: The queue hosting ``--workers`` (None without).
    queue: Queue | None
    read_only: bool
    #: Seconds between the clock's refreshes.
    refresh_interval: float
    #: The store's URI as shown (password masked).
    display_uri: str
    #: The keymap applied (binding id → keys).
    keymap: dict[str, str]
    #: The ``:`` command line.
    command_line: CommandLine

    @property
    def wanted_filter(self) -> Filter:
        """The filter a key changes: the one being loaded, else the one shown."""
        ...

    @property
    def search_shown(self) -> bool:
        """Whether the filter bar says "searching…"."""
        ...

    def key_names(self, binding_id: str, default: str) -> str:
        """The key(s) of a binding as the operator has them."""
        ...

    def apply_filter(self, new: Filter) -> None:
        """Show the jobs matching ``new``."""
        ...

    def apply_sort(self, new: Sort) -> None:
        """Order the window by ``new``."""
        ...


def host(node: DOMNode) -> Host:
    """The app of ``node``, as the screens see it."""
    return cast(Host, node.app)


# -- what screens ask for ------------------------------------------------------------------


class OpenDetail(Message):
    """Show job ``job_id`` in full."""

    def __init__(self, job_id: ObjectId) -> None:
        super().__init__()
        self.job_id = job_id


class OpenAudit(Message):
    """Show the audit log."""


class OpenEnqueue(Message):
    """Open the enqueue form."""


class CancelJob(Message):
    """Confirm, then cancel ``job``; ``on_done`` runs once it is done."""

    def __init__(self, job: Job, on_done: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.job = job
        self.on_done = on_done


class RequeueJob(Message):
    """Re-enqueue ``job``; ``on_done`` runs once it is done."""

    def __init__(self, job: Job, on_done: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.job = job
        self.on_done = on_done


class BulkAction(Message):
    """Cancel or re-enqueue the marked jobs, or those the filter matches (asks first)."""

    def __init__(self, kind: BulkKind) -> None:
        super().__init__()
        self.kind = kind


class LoadMore(Message):
    """Fetch the next page of the jobs window (the table scrolled near its end)."""


__all__ = [
    "BulkAction",
    "CancelJob",
    "Host",
    "LoadMore",
    "OpenAudit",
    "OpenDetail",
    "OpenEnqueue",
    "RequeueJob",
    "host",
]
