"""The question of a bulk action (``C``, ``R``): it opens at once and counts, then asks.

The dialog is shown the moment the key is pressed, saying "counting…" (with how many jobs
were looked at so far) while the jobs are collected off the key path; until the count is
there every key but ``escape`` (which gives up) is swallowed, so keys typed meanwhile
never reach the jobs screen (``n`` does not open the enqueue form under it) and ``y``
answers nothing not yet asked. Then it asks with the exact count, and an optional reason
(recorded in the audit log and as the jobs' reason). For more than
:data:`~jobtui.bulk.TYPE_TO_CONFIRM` jobs ``y`` is not enough: the count must be typed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from queuecore.printable import printable
from queuecore.uri import mask

from ...bulk import Plan, Progress
from .confirm import ConfirmScreen
from .enqueue import SHORT_HEIGHT

#: The longest reason the dialog takes.
MAX_REASON = 500


class BulkAnswer(NamedTuple):
    """ "Yes" to a bulk question: the plan asked about and the operator's reason ('' for none)."""

    plan: Plan
    reason: str


def typed_count(text: str) -> int | None:
    """The number typed to confirm ("30000", "30,000", "30 000", "30_000"), or None."""
    digits = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    return int(digits) if digits.isdigit() else None


class BulkConfirmScreen(ModalScreen[BulkAnswer | None]):
    """Counts with ``plan(progress)``, then asks; dismisses with a :class:`BulkAnswer`, or None
    (``n``, ``escape``, or nothing to do — that is notified). Same keys and binding ids as
    :class:`ConfirmScreen`; while counting only ``escape`` acts."""

    BINDINGS = ConfirmScreen.BINDINGS

    def __init__(self, title: str, yes: str, plan: Callable[[Progress], Awaitable[Plan]]) -> None:
        super().__init__()
        self.title_text = title
        self.yes = yes
        self._make_plan = plan
        #: The plan once counted (None while counting).
        self.plan: Plan | None = None

    @property
    def question(self) -> str:
        """The text the dialog shows (the question, or "counting…")."""
        return str(self.query_one("#bulk-question", Static).content)

    def compose(self) -> ComposeResult:
        with Vertical(id="bulk-dialog", classes="dialog"):
            yield Static(f"{self.title_text}: counting…", id="bulk-question", markup=False)
            yield Static("", id="bulk-typed-label")
            yield Input(placeholder="the number of jobs", id="bulk-typed", restrict=r"[0-9, _]*")
            yield Label("Reason (optional; the audit log and the jobs keep it)", id="bulk-reason-label")
            yield Input(placeholder="why", id="bulk-reason", max_length=MAX_REASON)
            yield Static("", id="bulk-problem")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="warning", id="confirm-yes", disabled=True)
                yield Button("No (esc)", id="confirm-no")

    def on_resize(self) -> None:
        """On a short terminal the fields go compact (one row each), as in the enqueue form."""
        short = self.app.size.height < SHORT_HEIGHT
        for widget in self.query("#bulk-dialog Input, #bulk-dialog Button"):
            widget.compact = short  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self.on_resize()
        for id in ("#bulk-typed-label", "#bulk-typed", "#bulk-reason-label", "#bulk-reason"):
            self.query_one(id).display = False
        self.query_one("#confirm-no", Button).focus()
        self.run_worker(self._count(), name="counting jobs", exit_on_error=False)

    async def _count(self) -> None:
        try:
            plan = await self._make_plan(self._progress)
        except Exception as exc:  # a screen's worker errors do not reach the app's handler
            self.notify(mask(f"Counting the jobs failed: {exc}"), severity="error", timeout=10)
            self.dismiss(None)
            return
        if plan.problem or not plan.ids:
            self.notify(plan.problem or "Nothing to do.", severity="warning")
            self.dismiss(None)
            return
        self._ask(plan)

    def _progress(self, seen: int) -> None:
        if self.plan is None:
            self.query_one("#bulk-question", Static).update(
                f"{self.title_text}: counting… {seen:,} jobs so far"
            )

    def _ask(self, plan: Plan) -> None:
        """Show the question with the count; focus where the answer is typed."""
        self.plan = plan
        self.query_one("#bulk-question", Static).update(printable(plan.question, layout=True))
        for id in ("#bulk-reason-label", "#bulk-reason"):
            self.query_one(id).display = True
        no = self.query_one("#confirm-no", Button)
        no.label = "No (n/esc)" if not plan.typed else "No (esc)"
        no.refresh(layout=True)
        if plan.typed:
            label = self.query_one("#bulk-typed-label", Static)
            label.update(f"Type {len(plan.ids)} and enter to confirm (for so many jobs 'y' is not enough)")
            yes = self.query_one("#confirm-yes", Button)
            yes.label = f"{self.yes} (enter)"
            yes.refresh(layout=True)  # its width follows the new label
            label.display = True
            typed = self.query_one("#bulk-typed", Input)
            typed.display = True
            self.call_after_refresh(typed.focus)  # focusable once laid out
        else:
            self.query_one("#confirm-yes", Button).disabled = False

    def _confirmed(self) -> bool:
        """Whether "yes" may be taken now (counted; for many jobs, the count typed)."""
        if self.plan is None:
            return False
        if not self.plan.typed:
            return True
        return typed_count(self.query_one("#bulk-typed", Input).value) == len(self.plan.ids)

    def on_key(self, event: events.Key) -> None:
        if self.plan is None and event.key != "escape":
            event.stop()  # counting: swallowed, never handed to a binding or the screen below
            event.prevent_default()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "bulk-typed":
            self.query_one("#confirm-yes", Button).disabled = not self._confirmed()
            self.query_one("#bulk-problem", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_answer(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        """``y`` / ``n`` (or the buttons, or enter in a field)."""
        if not answer:
            self.dismiss(None)
            return
        if self.plan is None:
            return
        if not self._confirmed():
            self.query_one("#bulk-problem", Static).update(
                f"Type {len(self.plan.ids)} (the number of jobs) to confirm."
            )
            self.query_one("#bulk-typed", Input).focus()
            return
        reason = self.query_one("#bulk-reason", Input).value
        self.dismiss(BulkAnswer(self.plan, reason))
