"""The dashboard's live feed: follow the open store's changes, load a filter, an order or the
next page of the window, and hand each resulting :class:`~jobtui.view.Delta` to the jobs screen.

The middle layer of :class:`~jobtui.tui.app.JobTUI`, on top of :mod:`.connection` (which opens
the store and makes the :class:`~jobtui.live.LiveModel`). Every store query runs in a Textual
worker; a newer filter cancels the one still loading, and a feed that fails is reopened with
backoff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from textual import work

import queuecore
from queuecore import QueryTimeout
from queuecore.query import QueryError
from queuecore.sort import Sort

from ..live import LiveModel
from ..view import Delta, Filter
from .connection import Connected, StoreConnection
from .screens import JobsScreen

#: Seconds a live feed must stay up before its next failure backs off from the start again.
FEED_HEALTHY_AFTER = 60.0
#: A filter still loading after this many seconds shows "searching…" in the filter bar (a quick
#: load never flashes it).
SEARCHING_AFTER = 0.15


class LiveFeed(StoreConnection):
    """Keeps the jobs screen's window in step with the store (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The filter being loaded (the window still shows the previous one), or None.
        self.searching: Filter | None = None
        self._searching_since = 0.0
        self._loading_more = False

    @property
    def jobs_screen(self) -> JobsScreen | None:
        """The jobs screen (the bottom of the stack)."""
        for screen in self.screen_stack:
            if isinstance(screen, JobsScreen):
                return screen
        return None

    def on_job_tui_connected(self, _: Connected) -> None:
        self._show_connected()
        self.watch_store()
        screen = self.jobs_screen
        if screen is not None:
            screen.render_state()
            screen.tick()

    @work(exclusive=True, group="watch", exit_on_error=False)
    async def watch_store(self) -> None:
        """Follow the store's changes; a failed feed is reported and reopened with backoff."""
        failures = 0
        loop = asyncio.get_running_loop()
        while self.model is not None:
            began = loop.time()
            try:
                await self.model.run(self._deliver)
            except asyncio.CancelledError:
                raise
            except queuecore.StoreGone as exc:
                await self._store_gone(str(exc))
                return
            except Exception as exc:
                # A feed that stayed up for a while starts its backoff afresh; one that fails
                # again right after reopening (its first snapshot loads fine) backs off further.
                if loop.time() - began > FEED_HEALTHY_AFTER:
                    failures = 0
                failures += 1
                self.notify(f"Live updates interrupted: {exc}", severity="warning")
                delay = queuecore.backoff(0.5, 10, 2, failures).total_seconds()
                await asyncio.sleep(delay)

    def _deliver(self, delta: Delta) -> None:
        screen = self.jobs_screen
        if screen is not None:
            screen.post_message(JobsScreen.Changed(delta))

    @work(group="load", exit_on_error=False)
    async def _run_model(self, op: Callable[[LiveModel], Awaitable[Delta]]) -> None:
        if self.model is None:
            return
        self._deliver(await op(self.model))

    def apply_filter(self, new: Filter) -> None:
        """Show the jobs matching ``new`` (a server-side reload; a paused view resumes).

        The store query runs in a worker, never blocking a key: while it runs the filter bar
        says "searching…", and a newer filter cancels it (the store stops the query). Over
        the store's time limit the view keeps the previous filter and says so."""
        if self.model is None:
            return
        screen = self.jobs_screen
        if screen is not None and screen.paused:
            screen.resume()
        self.searching, self._searching_since = new, time.monotonic()
        self.set_timer(SEARCHING_AFTER, self._show_state)
        self._load_filter(new)

    @property
    def wanted_filter(self) -> Filter:
        """The filter a key changes: the one being loaded, else the one shown."""
        if self.searching is not None:
            return self.searching
        return self.model.filter if self.model is not None else Filter()

    @property
    def search_shown(self) -> bool:
        """Whether the filter bar says "searching…" (a filter has been loading a while)."""
        return self.searching is not None and time.monotonic() - self._searching_since >= SEARCHING_AFTER

    @work(exclusive=True, group="filter", exit_on_error=False)
    async def _load_filter(self, new: Filter) -> None:
        try:
            if self.model is None:
                return
            delta = await self.model.set_filter(new)
        except (QueryTimeout, QueryError) as exc:  # over the time limit, or refused by the database
            self.notify(f"{exc} — still showing the previous filter.", severity="error", timeout=10)
            return
        finally:
            if self.searching is new:  # not replaced by a newer filter meanwhile
                self.searching = None
            self._show_state()
        self._deliver(delta)

    def _show_state(self) -> None:
        screen = self.jobs_screen
        if screen is not None:
            screen.render_state()

    def apply_sort(self, new: Sort) -> None:
        """Order the window by ``new`` (a server-side reload; a paused view resumes)."""
        if self.model is None:
            return
        screen = self.jobs_screen
        if screen is not None and screen.paused:
            screen.resume()
        self._run_model(lambda m: m.set_sort(new))

    def load_more(self) -> None:
        """Fetch the next page of the window when there is one (one fetch at a time)."""
        if self.model is None or self.model.exhausted or self._loading_more:
            return
        self._loading_more = True
        self._load_more()

    @work(group="load", exit_on_error=False)
    async def _load_more(self) -> None:
        try:
            if self.model is not None:
                self._deliver(await self.model.load_more())
        finally:
            self._loading_more = False

    @work(exclusive=True, group="aggregates", exit_on_error=False)
    async def _refresh_aggregates(self) -> None:
        """The clock's work on the model: timed counts, stalls, time-dependent filters."""
        if self.model is not None and self.model.loaded:
            delta = await self.model.tick()
            if delta:
                self._deliver(delta)
