"""The filter bar: what the window is filtered by, and the inputs to change it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from ..live import STATUS_ORDER, Filter
from . import format as fmt


def filter_text(current: Filter, shown: int, exhausted: bool) -> Text:
    """``[1 enqueued] [2 running] … · task: x · text: 'y'  · 42 shown``."""
    text = Text()
    for index, status in enumerate(STATUS_ORDER, start=1):
        on = status.value in current.statuses
        style = fmt.STATUS_STYLES[status.value] + (" reverse" if on else "") if on else "dim"
        text.append(f"{index}:{fmt.STATUS_NAMES[status.value]}", style=style)
        text.append(" ")
    if not current.statuses:
        text.append("(all) ", style="bold")
    if current.name:
        text.append("· task: ", style="dim")
        text.append(current.name, style="bold")
        text.append(" ")
    if current.text:
        text.append("· text: ", style="dim")
        text.append(repr(current.text), style="bold")
        text.append(" ")
    text.append(f"· {shown}{'' if exhausted else '+'} shown", style="dim")
    return text


class FilterInput(Input):
    """A one-line input of the filter bar; ``escape`` gives up, ``enter`` applies."""

    BINDINGS = [Binding("escape", "dismiss", "Cancel", id="filter-cancel")]  # noqa: RUF012

    class Dismissed(Message):
        """The operator gave up editing this filter."""

        def __init__(self, field: str) -> None:
            super().__init__()
            self.field = field

    def __init__(self, field: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.field = field

    def action_dismiss(self) -> None:
        self.post_message(self.Dismissed(self.field))


class FilterBar(Horizontal):
    """Shows the combined filter; hosts the text-search and task-name inputs when editing."""

    def compose(self) -> ComposeResult:
        yield Static(id="filter-state")
        yield FilterInput(
            "text", placeholder="search id, task, label, reason — enter applies", id="filter-text"
        )
        yield FilterInput("name", placeholder="task name — enter applies, empty clears", id="filter-name")

    def on_mount(self) -> None:
        for input in self.query(FilterInput):
            input.display = False

    def show(self, current: Filter, shown: int, exhausted: bool) -> None:
        """Render the current filter."""
        self.query_one("#filter-state", Static).update(filter_text(current, shown, exhausted))

    def edit(self, field: str, value: str, names: list[str] | None = None) -> None:
        """Open the input for ``field`` ("text" or "name") with ``value``."""
        for input in self.query(FilterInput):
            input.display = input.field == field
        input = self.query_one(f"#filter-{field}", FilterInput)
        if names is not None:
            input.suggester = SuggestFromList(names, case_sensitive=False)
        input.value = value
        input.focus()

    def close(self) -> None:
        """Hide the inputs."""
        for input in self.query(FilterInput):
            input.display = False

    def plain(self) -> str:
        """The bar's text (for tests)."""
        content = self.query_one("#filter-state", Static).content
        return content.plain if isinstance(content, Text) else str(content)
