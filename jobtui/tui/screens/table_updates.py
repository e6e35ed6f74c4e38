"""How the live model's changes reach the jobs table: at a capped rate, and not while paused.

The first change after a quiet spell is shown at once, later ones are merged and shown
together at most every ``APPLY_INTERVAL`` seconds, so 1,000 change events per second cost ten
table updates and key presses are not queued behind them. While the view is paused (``p``)
the table keeps what it shows and the changes are only counted; a resume shows them all.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bson import ObjectId
from textual.css.query import NoMatches
from textual.timer import Timer

from queuecore import Job

from ...format import utcnow
from ...view import Delta

if TYPE_CHECKING:
    from .jobs import JobsScreen

#: The table shows the model's changes at most this often (seconds).
APPLY_INTERVAL = 0.1


class TableUpdates:
    """The jobs screen's queue of model changes for its table, and its pause."""

    def __init__(self, screen: JobsScreen) -> None:
        self.screen = screen
        #: While paused: the jobs as the table shows them (None when not paused).
        self.frozen: dict[ObjectId, Job] | None = None
        #: While paused: how many rows differ between the table and the model.
        self.pending = 0
        #: Changes of the model not shown yet (merged), and the timer that will show them.
        self._queued: Delta | None = None
        self._timer: Timer | None = None
        self._applied_at = float("-inf")

    def add(self, delta: Delta) -> None:
        """Queue the model's changes; show them now or at the end of the current interval.

        A reload (a filter change, a reconnect) is shown at once.
        """
        if self._queued is None:
            self._queued = Delta()
        self._queued.merge(delta)
        wait = self._applied_at + APPLY_INTERVAL - time.monotonic()
        if wait <= 0 or delta.reloaded:
            self.apply()
        elif self._timer is None:
            self._timer = self.screen.set_timer(wait, self.apply, name="jobtui-apply")

    def apply(self) -> None:
        """Show the queued changes of the model in one table update."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        delta, self._queued = self._queued, None
        screen = self.screen
        model = screen.tui.model
        if delta is None or model is None:
            return
        self._applied_at = time.monotonic()
        try:
            if self.frozen is not None:
                self._count_pending()
            elif delta.reloaded:
                self.show_all(arrivals=not delta.refiltered)
            elif delta.changed:
                screen.table.sync({str(i): model.get(i) for i in delta.changed}, utcnow(), delta.added)
            screen.render_state()
        except NoMatches:  # the app is closing: its widgets went before this timer
            return

    def show_all(self, arrivals: bool = True) -> None:
        """Make the table show exactly the model's window (in its order). ``arrivals``: rows
        new to the table arrived (a reset, a resume) rather than being a new selection."""
        model = self.screen.tui.model
        if model is None:
            return
        table = self.screen.table
        jobs = model.ordered()
        wanted = {str(j.id): j for j in jobs}
        shown = table.keys()
        changed: dict[str, Job | None] = {k: None for k in shown if k not in wanted}
        kept = [k for k in shown if k in wanted]
        added = any(k not in table._cells for k in wanted) or kept != [k for k in wanted if k in table._cells]
        changed.update(wanted)
        table.sync(changed, utcnow(), added, arrivals=arrivals)

    def _count_pending(self) -> None:
        """How many rows differ between the frozen table and the model (added, gone, changed)."""
        model = self.screen.tui.model
        if model is None or self.frozen is None:
            return
        frozen, now = self.frozen, model.jobs
        gone = len(frozen.keys() - now.keys())
        self.pending = gone + sum(1 for id, job in now.items() if frozen.get(id) != job)

    def freeze(self) -> None:
        """Pause: the table keeps showing the model's latest changes, exactly those."""
        model = self.screen.tui.model
        if model is None:
            return
        self.apply()
        self.frozen = dict(model.jobs)
        self.pending = 0

    def resume(self) -> None:
        """Leave the pause: show everything that changed meanwhile."""
        if self.frozen is None:
            return
        self.frozen = None
        self.pending = 0
        self.show_all()
        model = self.screen.tui.model
        if model is not None:
            self.screen.table.tick({str(j.id): j for j in model.jobs.values()}, utcnow())
