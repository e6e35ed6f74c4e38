"""The garbage collector's full passes, moved to moments when nobody is typing.

A full pass (generation 2) walks every object the dashboard holds: 30–150 ms on these
machines with a 100,000-job store open and a bulk action running, all of it on the event
loop's thread — a key pressed then waits for it (it was the longest key → render delay,
``python -m bench tui``). The young generations stay automatic (each pass is short and
frees most cycles); the full pass runs from the app's clock when no key or mouse event came
for :data:`IDLE` seconds, and at the latest :data:`LONGEST` seconds after the previous one
(so memory is reclaimed even under a keyboard held down for minutes).

Objects alive when the app mounts (imports, styles, widgets) live as long as it: they are
frozen (``gc.freeze``), so no pass walks them. :meth:`IdleCollector.stop` undoes both,
for a process that goes on after the app (the test suite runs hundreds of apps).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

#: Seconds without input after which a due full pass runs.
IDLE = 1.0
#: A full pass is due this long (seconds) after the previous one…
EVERY = 10.0
#: …and runs even with input arriving once this long (seconds) has passed.
LONGEST = 120.0
#: The full generation's threshold while the app runs: never reached by itself.
_NEVER = 1 << 30


class IdleCollector:
    """Runs the collector's full passes when input is idle (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._thresholds: tuple[int, int, int] | None = None
        self._frozen = False
        self._input = clock()
        self._collected = clock()

    @property
    def running(self) -> bool:
        """Whether automatic full passes are held back now."""
        return self._thresholds is not None

    def start(self) -> None:
        """Freeze what is alive and hold automatic full passes back (until :meth:`stop`)."""
        if self._thresholds is not None:
            return
        if not self._frozen:
            gc.freeze()
            self._frozen = True
        young, middle, _ = self._thresholds = gc.get_threshold()
        gc.set_threshold(young, middle, _NEVER)
        self._collected = self.clock()

    def stop(self) -> None:
        """Give the collector back its thresholds and the frozen objects."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    def touch(self) -> None:
        """Input arrived (a key, the mouse): no full pass for :data:`IDLE` seconds."""
        self._input = self.clock()

    def tick(self) -> bool:
        """From the app's clock: run a full pass if one is due; whether it ran."""
        if self._thresholds is None:
            return False
        now = self.clock()
        since = now - self._collected
        if since < EVERY or (now - self._input < IDLE and since < LONGEST):
            return False
        gc.collect()
        self._collected = self.clock()
        return True


__all__ = ["EVERY", "IDLE", "LONGEST", "IdleCollector"]
