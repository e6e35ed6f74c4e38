"""``A`` / ``:audit``: the audit log — who did what to which jobs, newest first."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from queuecore.audit import AuditEntry, history
from queuecore.printable import printable

from ... import format as fmt
from ..host import Host, host
from ..widgets.chrome import AppFooter, AppHeader

#: (column key, header, width).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("at", "when", 19),
    ("who", "who", 22),
    ("source", "from", 5),
    ("action", "what", 16),
    ("count", "ids", 5),
    ("detail", "detail", 40),
)
#: How many entries the screen reads.
LIMIT = 500


def entry_row(entry: AuditEntry) -> tuple[str | Text, ...]:
    """The cells of one entry (Text: a str cell is read as markup, and details hold job names;
    every stored value made printable, since any program may write the log)."""
    return (
        fmt.when(entry.at),
        Text(fmt.truncate(entry.who, 22)),
        fmt.safe_text(entry.source),
        fmt.safe_text(entry.action, "bold"),
        str(len(entry.ids)),
        Text(fmt.truncate(entry.detail, 40)),
    )


def entry_detail(entry: AuditEntry) -> Text:
    """The line under the table: everything about the selected entry, ids in full."""
    text = Text.assemble(
        (fmt.when(entry.at), "bold"),
        "  ",
        printable(entry.who),
        (f" ({printable(entry.source)})", "dim"),
        "  ",
        (printable(entry.action), "bold"),
    )
    if entry.detail:
        text.append(f"  {printable(entry.detail)}")
    count = len(entry.ids)
    text.append(f"\n{count} id{'s' if count != 1 else ''}: ", style="dim")
    text.append(printable(" ".join(entry.ids)) if entry.ids else "—")
    return text


class AuditScreen(Screen[None]):
    """The audit log, re-read every refresh interval; the selected entry's ids below."""

    BINDINGS = [  # noqa: RUF012
        Binding("escape,backspace", "app.pop_screen", "Back", id="audit-back"),
        Binding("r", "reload", "Reload", id="audit-reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[AuditEntry] = []

    @property
    def tui(self) -> Host:
        """The app, as screens see it (:mod:`jobtui.tui.host`)."""
        return host(self)

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(Text("loading the audit log…", style="dim"), id="audit-status")
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="audit-detail")
        yield AppFooter()

    def on_mount(self) -> None:
        self.sub_title = "audit log"
        table = self.query_one("#audit-table", DataTable)
        for key, header, width in COLUMNS:
            table.add_column(header, key=key, width=width)
        table.focus()
        self.reload()
        self.set_interval(max(2.0, self.tui.refresh_interval), self.reload)

    def action_reload(self) -> None:
        self.reload()

    @work(exclusive=True, group="audit", exit_on_error=False)
    async def reload(self) -> None:
        """Re-read the log (off the UI path) and show it, keeping the cursor on its entry."""
        store = self.tui.store
        status = self.query_one("#audit-status", Static)
        if store is None:  # opened from the connection-problem screen (the palette): say so
            status.update(Text("not connected to a store: the log shows once it is", style="yellow"))
            return
        entries = await history(store, limit=LIMIT)
        status.update(
            Text(
                f"{len(entries)} most recent operator action{'s' if len(entries) != 1 else ''}"
                + (" (the newest 500)" if len(entries) >= LIMIT else ""),
                style="dim",
            )
        )
        if entries == self.entries:
            return
        table = self.query_one("#audit-table", DataTable)
        keep = table.cursor_row
        self.entries = entries
        table.clear()
        for entry in entries:
            table.add_row(*entry_row(entry))
        if entries:
            table.move_cursor(row=min(keep, len(entries) - 1), animate=False)
        self.show_selected()

    def selected(self) -> AuditEntry | None:
        """The entry under the cursor."""
        table = self.query_one("#audit-table", DataTable)
        if not self.entries:
            return None
        try:
            table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0))
        except CellDoesNotExist:
            return None
        return self.entries[min(table.cursor_row, len(self.entries) - 1)]

    def show_selected(self) -> None:
        """Show the selected entry in full under the table."""
        entry = self.selected()
        detail = self.query_one("#audit-detail", Static)
        detail.update(entry_detail(entry) if entry else Text("no operator action recorded yet", style="dim"))

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self.show_selected()

    def detail_plain(self) -> str:
        """The detail line's text (for tests)."""
        content = self.query_one("#audit-detail", Static).content
        return content.plain if isinstance(content, Text) else str(content)


__all__ = ["AuditScreen", "entry_detail", "entry_row"]
