"""The dashboard's store lifetime: open it (and the hosted workers), say why it cannot be
opened, retry, and let go of it when its file went.

The bottom layer of :class:`~jobtui.tui.app.JobTUI` (the live feed, :mod:`.live_feed`, builds
on it): a store opens in a Textual worker and its outcome arrives as a message, so a slow or
unreachable database never blocks a key.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import App
from textual.message import Message
from textual.worker import WorkerState

import queuecore
from queuecore import ConnectError, Queue, Store
from queuecore.uri import mask

from ..live import LiveModel
from ..workers import WorkersError, build_queue
from .screens import ConnectionScreen
from .widgets.chrome import store_title


class Connected(Message, namespace="job_tui"):
    """The store is open (and the workers run, if any)."""


class ConnectFailed(Message, namespace="job_tui"):
    """The store could not be opened (or, with another ``title``, stopped)."""

    def __init__(self, problem: str, title: str = "Cannot open the job store") -> None:
        super().__init__()
        self.problem = problem
        self.title = title


class StoreConnection(App[None]):
    """Opens and closes the app's store and hosted queue (the settings are :class:`JobTUI`'s)."""

    uri: str
    collection: str
    query_timeout: float | None
    read_only: bool
    workers_spec: str | None
    refresh_interval: float
    page: int
    count_cap: int | None
    display_uri: str
    store: Store | None
    model: LiveModel | None
    queue: Queue | None
    #: The store's file went while open: a retry opens it again, never creates it.
    _store_went: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = None
        self.model = None
        self.queue = None
        self._store_went = False

    def _describe_store(self) -> str:
        """The header's subtitle: what the open store says of itself (``store.location``);
        before it opens, the masked URI and the collection."""
        if self.store is None:
            return store_title(f"{mask(self.uri)} · {self.collection}", None, self.read_only)
        return store_title(self.store.location, self.store.retention, self.read_only)

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def connect(self) -> None:
        """Open the store and, with ``workers``, start the queue (once: a later retry keeps them)."""
        if self.store is not None:
            return
        try:
            create = not (self.read_only or self._store_went)  # read-only never makes a store
            store = await queuecore.connect(
                self.uri, collection=self.collection, query_timeout=self.query_timeout, create=create
            )
        except ConnectError as exc:
            self.post_message(ConnectFailed(str(exc)))
            return
        except Exception as exc:  # anything else from a driver: still one clear line, masked
            self.post_message(ConnectFailed(mask(f"{type(exc).__name__}: {exc}")))
            return
        store.keep_loop_free = True  # the UI thread draws frames and takes keys: no store call there
        self.store = store
        self.model = LiveModel(store, page=self.page, counts_interval=self.refresh_interval)
        self.model.count_cap = self.count_cap
        if self.workers_spec:
            try:
                queue = build_queue(store, self.workers_spec)
                await queue.run()
                self.queue = queue
                self.add_class("-workers")  # notifications keep clear of the workers panel
            except (WorkersError, Exception) as exc:
                self.notify(f"Workers not started: {exc}", severity="error", timeout=15)
        self.post_message(Connected())

    def _show_connected(self) -> None:
        """Take the connection-problem screen away and name the store in the header."""
        if isinstance(self.screen, ConnectionScreen):
            self.pop_screen()
        # one under another screen (help, audit, the palette's) goes when that one closes:
        # ConnectionScreen.on_screen_resume
        self.sub_title = self._describe_store()

    def on_job_tui_connect_failed(self, message: ConnectFailed) -> None:
        if isinstance(self.screen, ConnectionScreen):
            self.screen.show_problem(message.problem, message.title)
            self.notify("Still cannot connect.", severity="error")
        else:
            self.push_screen(ConnectionScreen(message.problem, self.display_uri, message.title))

    def action_retry_connect(self) -> None:
        """Try to open the store again (not while an attempt still runs: cancelling it midway,
        after the store opened, would leave a half-started connection behind)."""
        if any(
            w.group == "connect" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.workers
        ):
            self.notify("Still connecting…", timeout=2)
            return
        self.notify("Connecting…", timeout=2)
        self.connect()

    async def _store_gone(self, problem: str) -> None:
        """The store's file was deleted or replaced: stop the hosted workers (nothing can be
        written) and say so; a retry opens the file once it is back, and never makes a new one."""
        self._store_went = True
        store, queue = self.store, self.queue
        self.store = self.model = self.queue = None
        if queue is not None:
            await queue.close(grace=0)
        if store is not None:
            await store.close()
        hint = " — r opens it again once it is back (an empty store is never made in its place)"
        self.post_message(ConnectFailed(problem + hint, "The job store stopped"))

    async def close_store(self) -> None:
        """On the way out: stop the hosted workers gracefully, then close the store."""
        if self.queue is not None:
            await self.queue.close()
        if self.store is not None:
            await self.store.close()
