"""Shown when the store cannot be opened: the problem (password masked) and a retry key."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from queuecore.printable import printable

from ..widgets.chrome import AppFooter


class ConnectionScreen(Screen[None]):
    """The connection problem; ``r`` retries, ``q`` quits."""

    BINDINGS = [  # noqa: RUF012
        Binding("r", "app.retry_connect", "Retry", id="retry"),
        Binding("q", "app.quit", "Quit", id="quit-connection"),
    ]

    def __init__(self, problem: str, uri: str, title: str = "Cannot open the job store") -> None:
        super().__init__()
        self.problem = printable(problem, layout=True)  # a server's or driver's words
        self.uri = printable(uri)
        self.heading = title

    def compose(self) -> ComposeResult:
        with Vertical(id="connection-dialog", classes="dialog"):
            yield Static(Text(self.heading, style="bold red"), id="connection-title")
            yield Static(Text(self.problem), id="connection-problem")
            yield Static(Text.assemble(("store: ", "dim"), self.uri), id="connection-uri")
            yield Static(Text("Press r to retry, q to quit.", style="dim"), id="connection-hint")
        yield AppFooter()

    def on_screen_resume(self) -> None:
        """Back on top (a help or audit screen closed) after a retry connected meanwhile: go."""
        if getattr(self.app, "store", None) is not None:
            self.dismiss()

    def show_problem(self, problem: str, title: str = "Cannot open the job store") -> None:
        """Replace the problem text (after a failed retry)."""
        self.problem = printable(problem, layout=True)
        self.heading = title
        self.query_one("#connection-problem", Static).update(Text(self.problem))
        self.query_one("#connection-title", Static).update(Text(title, style="bold red"))
