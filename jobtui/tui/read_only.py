"""Read-only mode's answer to a mutating key: one "read-only" notification, not silence.

In read-only mode the bindings that change jobs or workers are hidden (``check_action``
returns False, so the footer, the help and the palette leave them out) — and Textual then
drops their keys without a word, which looks like a broken key. The app's ``run_action``
(which every binding, footer click and palette command goes through) asks
:meth:`ReadOnlyNotice.refuse` first: an action that read-only mode hides is answered with a
notification naming it, and the key counts as handled (no other binding runs in its place).
Pressing the key again while that notification is still shown adds no second one.
"""

from __future__ import annotations

import time
from typing import Any

#: How each hidden action is named in the notification.
WHAT = {
    "cancel": "cancel",
    "requeue": "re-enqueue",
    "enqueue": "enqueue",
    "requeue_failed": "bulk re-enqueue",
    "bulk_cancel": "bulk cancel",
    "toggle_pause": "pausing workers",
    "scale": "scaling workers",
    "mark": "marking jobs",
    "mark_range": "marking jobs",
    "clear_marks": "marking jobs",
}
#: Seconds the notification stays (and the same one is not repeated).
SHOWN_FOR = 4.0


def action_name(action: str) -> str:
    """``app.scale(1)`` → ``scale``: the action a binding runs, without namespace or arguments."""
    return action.split("(", 1)[0].strip().removeprefix("app.")


class ReadOnlyNotice:
    """Answers a hidden action with one notification (see the module docstring)."""

    def __init__(self, hidden: frozenset[str]) -> None:
        self.hidden = hidden
        self._shown: dict[str, float] = {}

    def refuse(self, app: Any, action: str, namespace: Any) -> bool:
        """Whether ``action`` (run on ``namespace``, else the app) is one read-only mode hides;
        if so the operator is told, once while the notification shows."""
        name = action_name(action)
        if name not in self.hidden:
            return False
        target = app if namespace is None or action.strip().startswith("app.") else namespace
        if target.check_action(name, ()) is not False:  # another screen's action of that name
            return False
        what = WHAT.get(name, name.replace("_", " "))  # never an action's code name
        message = f"Read-only: {what} is disabled (the dashboard runs read-only)."
        now = time.monotonic()
        if now - self._shown.get(message, float("-inf")) >= SHOWN_FOR:
            self._shown[message] = now
            app.notify(message, severity="warning", timeout=SHOWN_FOR)
        return True
