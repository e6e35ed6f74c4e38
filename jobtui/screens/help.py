"""``?``: every key of the dashboard, by where it applies, generated from the bindings."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def key_label(binding: Binding) -> str:
    """How a binding's key is written in the help (``key_display`` wins)."""
    if binding.key_display:
        return binding.key_display
    names = {"slash": "/", "question_mark": "?", "escape": "esc", "plus": "+", "minus": "-"}
    return ", ".join(names.get(k.strip(), k.strip()) for k in binding.key.split(","))


def sections(read_only: bool = False) -> list[tuple[str, list[Binding]]]:
    """The key sections shown by the help screen (mutating keys left out when read-only)."""
    from ..app import JobTUI
    from ..widgets import FilterInput, JobsTable, WorkersPanel
    from .detail import JobDetailScreen
    from .enqueue import EnqueueScreen
    from .jobs import MUTATING, JobsScreen

    def bindings(items: Iterable[BindingType]) -> list[Binding]:
        out = [b for b in items if isinstance(b, Binding)]
        if read_only:
            out = [b for b in out if b.action.split("(")[0].removeprefix("app.") not in MUTATING]
        return out

    return [
        ("Everywhere", bindings(JobTUI.BINDINGS)),
        ("Jobs table", bindings(JobsTable.BINDINGS) + bindings(JobsScreen.BINDINGS)),
        ("Filter inputs", bindings(FilterInput.BINDINGS)),
        ("Workers panel (w to focus)", bindings(WorkersPanel.BINDINGS)),
        ("Job detail", bindings(JobDetailScreen.BINDINGS)),
        ("Enqueue form", bindings(EnqueueScreen.BINDINGS)),
    ]


def help_table(read_only: bool = False) -> Table:
    """The keys as a rich table."""
    table = Table(box=None, show_header=False, padding=(0, 2))
    table.add_column("key", style="bold cyan", no_wrap=True)
    table.add_column("what")
    for title, items in sections(read_only):
        if not items:
            continue
        table.add_row(Text(title, style="bold underline"), "")
        for binding in items:
            table.add_row(key_label(binding), binding.description or binding.action)
        table.add_row("", "")
    table.add_row("ctrl+p", "Command palette: every action by name")
    return table


class HelpScreen(ModalScreen[None]):
    """Lists every key; ``escape``, ``q`` or ``?`` closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help-close")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static(Text("jobtui keys", style="bold"), id="help-title")
            yield Static(help_table(getattr(self.app, "read_only", False)), id="help-keys")
