"""``?``: every key of the dashboard, by where it applies, generated from the bindings.

Remapped keys (``[keys]`` of the config file) are shown as remapped; in read-only
mode the keys that change jobs are left out. The binding ids are listed too:
they are what ``[keys]`` remaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keymap import APP_BINDINGS, bindings_of, key_label

#: The ``:`` commands, for the help.
COMMAND_HELP = (
    (":status failed[,…] | all", "Show these statuses (enqueued running completed failed cancelled stalled)"),
    (":name TASK", "Only this task (no name: every task)"),
    (
        ":sort COLUMN [asc|desc]",
        "Order by age, name, label, status, attempts, available, started or ended (:sort: newest first)",
    ),
    (":filter NAME", "Apply a saved filter ([filters] of the config file)"),
    (":save NAME", "Save the current filter under NAME"),
    (":clear", "Clear every filter"),
    (":audit  :workers  :help  :q", "Audit log · focus the workers panel · keys · quit"),
)

#: The filter language (``/``), for the help.
FILTER_HELP = (
    ('disk  "disk full"', "Free text: id (full or short), task, label, reason"),
    ("status:failed,stalled", "Statuses (running = in time, stalled = past its timeout)"),
    ("name:send_email  label:x", "Task name, label (exactly; name:~regex)"),
    ("reason:~time(out)?", "Reason contains, or matches a regex (~)"),
    ("data.user_id=42", "Job data at a path: = != < > <= >="),
    ("age:<1h  attempts:>2", "Created less than an hour ago; more than 2 attempts"),
    ("!term", "Negates a term; terms combine with AND"),
)


def sections(read_only: bool = False) -> list[tuple[str, list[Binding]]]:
    """The key sections shown by the help screen (mutating keys left out when read-only)."""
    from ..widgets import FilterInput, JobsTable, WorkersPanel
    from .audit import AuditScreen
    from .detail import JobDetailScreen
    from .enqueue import EnqueueScreen
    from .jobs import JobsScreen
    from .jobs_keys import READ_ONLY_HIDDEN

    def bindings(items: Iterable[BindingType]) -> list[Binding]:
        out = bindings_of(items)
        if read_only:
            out = [b for b in out if b.action.split("(")[0].removeprefix("app.") not in READ_ONLY_HIDDEN]
        return out

    return [
        ("Everywhere", bindings(APP_BINDINGS)),
        ("Jobs table", bindings(JobsTable.BINDINGS) + bindings(JobsScreen.BINDINGS)),
        ("Filter inputs (/, t, :)", bindings(FilterInput.BINDINGS)),
        ("Workers panel (w to focus)", bindings(WorkersPanel.BINDINGS)),
        ("Job detail", bindings(JobDetailScreen.BINDINGS)),
        ("Audit log (A, :audit)", bindings(AuditScreen.BINDINGS)),
        ("Enqueue form", [] if read_only else bindings(EnqueueScreen.BINDINGS)),
    ]


#: Below this terminal width the help leaves out the binding ids and wraps long keys.
NARROW = 110


def help_table(
    read_only: bool = False, keymap: Mapping[str, str] | None = None, *, narrow: bool = False
) -> Table:
    """The keys as a rich table (key, what, binding id). ``narrow`` (an 80-column terminal):
    without the id column, long keys and examples wrapped, so the descriptions stay readable."""
    table = Table(box=None, show_header=False, padding=(0, 2) if not narrow else (0, 1))
    if narrow:
        table.add_column("key", style="bold cyan", max_width=22, overflow="fold")
    else:
        table.add_column("key", style="bold cyan", no_wrap=True)
    table.add_column("what", ratio=1)
    if not narrow:
        table.add_column("id", style="dim", no_wrap=True)

    def add_row(key: str | Text, what: str, id: str = "") -> None:
        # every cell as Text: a str cell is Rich markup, which ate "[filters]" and "[,…]"
        cells = [key, what, *(() if narrow else (id,))]
        table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))

    for title, items in sections(read_only):
        if not items:
            continue
        add_row(Text(title, style="bold underline"), "")
        for binding in items:
            add_row(key_label(binding, keymap), binding.description or binding.action, binding.id or "")
        add_row("", "")
    add_row("ctrl+p", "Command palette: every action by name")
    add_row("", "")
    add_row(Text("Command line (:)", style="bold underline"), "")
    for command, what in COMMAND_HELP:
        add_row(command, what)
    add_row("", "")
    add_row(Text("Filter language (/)", style="bold underline"), "")
    for example, what in FILTER_HELP:
        add_row(example, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Lists every key; ``escape``, ``q`` or ``?`` closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help-close")]  # noqa: RUF012

    _narrow = False

    def compose(self) -> ComposeResult:
        keymap = getattr(self.app, "keymap", {})
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static(Text("jobtui keys", style="bold"), id="help-title")
            if keymap:
                yield Static(Text("Keys remapped by the config file are shown as remapped.", style="dim"))
            yield Static(self._table(), id="help-keys")

    def _table(self) -> Table:
        self._narrow = self.app.size.width < NARROW
        read_only = getattr(self.app, "read_only", False)
        return help_table(read_only, getattr(self.app, "keymap", {}), narrow=self._narrow)

    def on_resize(self) -> None:
        if (self.app.size.width < NARROW) != self._narrow:  # crossed the width: lay it out again
            self.query_one("#help-keys", Static).update(self._table())
