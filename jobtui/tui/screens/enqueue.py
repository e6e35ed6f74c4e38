"""``n``: enqueue a new job — task name (with suggestions), label, JSON data, delay."""

from __future__ import annotations

import json
from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static, TextArea

from queuecore import Blueprint, Task
from queuecore._time import MAX_SECONDS
from queuecore.job import check_data, depth_message
from queuecore.printable import printable

from ..widgets.filters import suggestions


def parse_data(text: str) -> tuple[dict[str, object] | None, str]:
    """The job data from the form's text, or None and why it is not valid."""
    if not text.strip():
        return {}, "empty: the job gets {}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except RecursionError:  # deeper than Python can decode: far past the limit
        return None, depth_message()
    if not isinstance(value, dict):
        return None, f"job data must be a JSON object {{…}}, not {type(value).__name__}"
    try:
        check_data(value)
    except (TypeError, ValueError) as exc:
        return None, str(exc)
    return value, "valid JSON object"


def parse_delay(text: str) -> tuple[float | None, str]:
    """The delay in seconds from the form's text."""
    if not text.strip():
        return 0.0, ""
    try:
        value = float(text)
    except ValueError:
        return None, "delay must be a number of seconds"
    if value != value:  # nan
        return None, "delay must be a number of seconds"
    if value < 0:
        return None, "delay must be zero or more seconds"
    if value > MAX_SECONDS:  # inf included
        return None, "delay must be at most 100 years"
    return value, ""


#: Below this many terminal rows the enqueue form is shown compact.
SHORT_HEIGHT = 34


class EnqueueScreen(ModalScreen[Blueprint | None]):
    """The form; dismisses with a Blueprint (ctrl+s / Enqueue) or None (escape)."""

    BINDINGS = [  # noqa: RUF012
        Binding("ctrl+s", "submit", "Enqueue", id="enqueue-submit"),
        Binding("escape", "cancel", "Cancel", id="enqueue-cancel"),
    ]

    def __init__(
        self, names: list[str] | None = None, name: str = "", tasks: Mapping[str, Task] | None = None
    ) -> None:
        super().__init__()
        self.names = sorted(names or [])
        self.initial_name = name
        #: The tasks this dashboard hosts (``--workers``): data for one of them is checked
        #: against its model as it is typed (a job of another task is checked by its worker).
        self.tasks = dict(tasks or {})

    def compose(self) -> ComposeResult:
        names = suggestions(self.names)  # stored names: only those shown as they are
        with VerticalScroll(id="enqueue-dialog", classes="dialog"):
            yield Static("Enqueue a job", id="enqueue-title")
            yield Label("Task name")
            yield Input(
                self.initial_name,
                placeholder="task name (→ accepts a suggestion)",
                suggester=SuggestFromList(names, case_sensitive=True) if names else None,
                id="enqueue-name",
            )
            yield Label("Label (optional: at most one active job per task and label)")
            yield Input(placeholder="label", id="enqueue-label")
            yield Label("Data (a JSON object)")
            # a placeholder, not text: what is typed is the data, never typed in front of a "{}"
            yield TextArea("", placeholder="{}", id="enqueue-data", soft_wrap=True, show_line_numbers=False)
            yield Static("", id="enqueue-data-status")
            yield Label("Delay (seconds)")
            yield Input(placeholder="0 (may run now)", id="enqueue-delay")
            yield Static("", id="enqueue-error")
            with Horizontal(classes="buttons"):
                yield Button("Enqueue (ctrl+s)", variant="primary", id="enqueue-ok")
                yield Button("Cancel (esc)", id="enqueue-no")

    def on_mount(self) -> None:
        self.query_one("#enqueue-name", Input).focus()
        self.validate_form()
        self.on_resize()

    def on_resize(self) -> None:
        """On a short terminal (24 rows) the form goes compact so all of it, buttons
        included, fits without scrolling; it scrolls if it still does not."""
        short = self.app.size.height < SHORT_HEIGHT
        self.query_one("#enqueue-dialog").set_class(short, "-short")
        for widget in self.query("#enqueue-dialog Input, #enqueue-dialog Button"):
            widget.compact = short  # type: ignore[attr-defined]

    def validate_form(self) -> Blueprint | None:
        """Check every field, show the problems, and return the blueprint when valid."""
        name = self.query_one("#enqueue-name", Input).value.strip()
        label = self.query_one("#enqueue-label", Input).value.strip()
        data, data_message = parse_data(self.query_one("#enqueue-data", TextArea).text)
        task = self.tasks.get(name)
        if data is not None and task is not None:
            problem = task.problem(data)
            if problem is not None:
                data, data_message = None, problem
            elif task.model is not None:
                data_message = f"valid data for task {name!r}"
        delay, delay_message = parse_delay(self.query_one("#enqueue-delay", Input).value)
        status = self.query_one("#enqueue-data-status", Static)
        # as is, never markup; a task's own message may quote the data typed or pasted
        status.update(Text(("✓ " if data is not None else "✗ ") + printable(data_message, layout=True)))
        status.set_class(data is None, "invalid")
        status.set_class(data is not None, "valid")
        problems = []
        if not name:
            problems.append("a task name is required")
        if data is None:
            problems.append("fix the data")
        if delay is None:
            problems.append(delay_message)
        self.query_one("#enqueue-error", Static).update("; ".join(problems))
        self.query_one("#enqueue-ok", Button).disabled = bool(problems)
        if problems or data is None or delay is None:
            return None
        return Blueprint(name, label=label, data=data, delay=delay)

    def on_input_changed(self, _: Input.Changed) -> None:
        self.validate_form()

    def on_text_area_changed(self, _: TextArea.Changed) -> None:
        self.validate_form()

    def on_input_submitted(self, _: Input.Submitted) -> None:
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "enqueue-ok":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        blueprint = self.validate_form()
        if blueprint is None:
            problems = str(self.query_one("#enqueue-error", Static).content)
            self.notify(f"The form has problems: {problems}", severity="warning")
            return
        self.dismiss(blueprint)

    def action_cancel(self) -> None:
        self.dismiss(None)
