"""The filter bar: what the window is filtered by, and the inputs to change it.

Three inputs share the bar (one shown at a time): ``/`` the filter language,
``t`` the task name, ``:`` the command line. A problem with what was typed is
shown on the line under the input, which stays open; the filter does not change.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from queuecore.printable import printable
from queuecore.sort import NEWEST, Sort

from ... import format as fmt
from ... import present
from ...view import STATUS_ORDER, Filter

#: Placeholders of the inputs, by field.
PLACEHOLDERS = {
    "text": "filter: text, status:failed, name:x, label:x, data.k=v, reason:~regex, age:<1h, !negate — enter",
    "name": "task name — enter applies, empty clears",
    "command": "command: status failed · name x · sort age · filter NAME · save NAME · audit · workers · q",
}


def filter_text(
    current: Filter,
    shown: int,
    exhausted: bool,
    marked: int = 0,
    paused: int | None = None,
    *,
    compact: bool = False,
    view: ViewState | None = None,
) -> Text:
    """``searching… ▲ 3 newer · 1:enqueued 2:running … · task: x · query: status:failed · 42 shown ·
    3 marked · sort: name asc · following · PAUSED``; ``compact`` (a narrow terminal): ``1:enq 2:run …``."""
    names = present.SHORT_NAMES if compact else present.STATUS_NAMES
    view = view or ViewState()
    text = Text()
    if view.searching:  # a new filter is loading: the rows are still the filter shown here
        text.append(" searching… ", style="bold reverse yellow")
        text.append(" ")
    if view.unseen:
        what = "newer" if view.sort.default else "new above"
        jump = f" — {view.jump} jumps" if compact else f" — press {view.jump} to jump"
        text.append(f" ▲ {view.unseen} {what}{jump} ", style="bold reverse cyan")
        text.append(" ")
    if paused is not None:
        text.append(
            f" PAUSED · {paused} change{'s' if paused != 1 else ''} pending ", style="bold reverse yellow"
        )
        text.append(" ")
    for index, status in enumerate(STATUS_ORDER, start=1):
        on = status in current.statuses
        style = present.STATUS_STYLES[status] + " reverse" if on else "dim"
        text.append(f"{index}:{names[status]}", style=style)
        text.append(" ")
    if "dequeued" in current.statuses:
        text.append("running+stalled ", style=present.STATUS_STYLES["dequeued"] + " reverse")
    if not current.statuses:
        text.append("(all) ", style="bold")
    if current.name:
        text.append("· task: ", style="dim")
        text.append(printable(current.name), style="bold")
        text.append(" ")
    if current.text:  # a filter-language query, shown as typed (not as a Python string)
        text.append("· query: ", style="dim")
        text.append(printable(current.text), style="bold")
        text.append(" ")
    text.append(f"· {shown}{'' if exhausted else '+'} shown", style="dim")
    if marked:
        text.append(f" · {marked} marked", style="bold magenta")
    if not view.sort.default:
        text.append(" · sort: ", style="dim")
        text.append(view.sort.describe(), style="bold")
    if view.following:
        text.append(" · ", style="dim")
        text.append("following", style="bold green")
    elif view.follow_stopped:
        text.append(f" · follow off ({view.follow} resumes)", style="yellow")
    return text


def suggestions(names: list[str]) -> list[str]:
    """The names an input may suggest: those a terminal shows as they are. A suggestion is
    written into the input when accepted, so a name holding control or bidi characters
    (a hostile producer's) is left out rather than shown changed — accepted, its visible
    form would name another task."""
    return [name for name in names if printable(name) == name]


class ViewState(NamedTuple):
    """What the bar says about the view besides the filter: the order, follow mode, the jobs
    that arrived above the viewport, and the keys that act on them (as the keymap has them)."""

    sort: Sort = NEWEST
    following: bool = False
    follow_stopped: bool = False
    unseen: int = 0
    jump: str = "g/home"
    follow: str = "f"
    #: A new filter has been loading for a while (the bar still describes the one shown).
    searching: bool = False


class FilterInput(Input):
    """A one-line input of the filter bar; ``escape`` gives up, ``enter`` applies."""

    BINDINGS = [Binding("escape", "dismiss", "Close (keep the filter)", id="filter-cancel")]  # noqa: RUF012

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


class FilterBar(Vertical):
    """Shows the combined filter; hosts the filter, task-name and command inputs when editing."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield Static(id="filter-state")
            for field in ("text", "name", "command"):
                yield FilterInput(field, placeholder=PLACEHOLDERS[field], id=f"filter-{field}")
        yield Static(id="filter-message")

    def on_mount(self) -> None:
        for input in self.query(FilterInput):
            input.display = False
        self.query_one("#filter-message", Static).display = False

    def show(
        self,
        current: Filter,
        shown: int,
        exhausted: bool,
        marked: int = 0,
        paused: int | None = None,
        view: ViewState | None = None,
    ) -> None:
        """Render the current filter (and the marks, pause state, order and follow mode)."""
        state = self.query_one("#filter-state", Static)
        text = filter_text(current, shown, exhausted, marked, paused, view=view)
        if 0 < state.content_size.width < text.cell_len:  # a narrow terminal: keep it on one line
            text = filter_text(current, shown, exhausted, marked, paused, compact=True, view=view)
        fmt.set_content(state, text)

    @property
    def editing(self) -> str | None:
        """The field whose input is open, or None."""
        for input in self.query(FilterInput):
            if input.display:
                return input.field
        return None

    def edit(self, field: str, value: str, names: list[str] | None = None) -> None:
        """Open the input for ``field`` ("text", "name" or "command") with ``value``."""
        for input in self.query(FilterInput):
            input.display = input.field == field
        self.problem(None)
        input = self.query_one(f"#filter-{field}", FilterInput)
        if names is not None:
            input.suggester = SuggestFromList(suggestions(names), case_sensitive=False)
        input.value = value
        input.cursor_position = len(value)
        # focus now, not after the queued events (``focus()`` defers): keys typed right after
        # the ``/`` (a paste, a fast typist) must reach the input, not the table
        self.screen.set_focus(input)

    def problem(self, message: str | None) -> None:
        """Show ``message`` under the open input (None hides it)."""
        line = self.query_one("#filter-message", Static)
        line.update(Text(f"✗ {printable(message)}", style="bold red") if message else "")
        line.display = bool(message)

    @property
    def message(self) -> str:
        """The message under the input ('' when none)."""
        line = self.query_one("#filter-message", Static)
        if not line.display:
            return ""
        content = line.content
        return content.plain if isinstance(content, Text) else str(content)

    def close(self) -> None:
        """Hide the inputs and the message."""
        for input in self.query(FilterInput):
            input.display = False
        self.problem(None)

    def plain(self) -> str:
        """The bar's text (for tests)."""
        content = self.query_one("#filter-state", Static).content
        return content.plain if isinstance(content, Text) else str(content)
