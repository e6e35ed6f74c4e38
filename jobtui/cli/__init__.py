"""The ``jobtui`` command: the dashboard, and a typer CLI for scripts.

``jobtui`` with no subcommand runs the dashboard (:mod:`.root`; Textual is imported only then,
so the scripting commands start fast). The commands for scripts are :mod:`.commands`, the
headless worker host :mod:`.work`; what they share is :mod:`.options` (the store options and
typed values), :mod:`.session` (one store per command, one-line errors) and :mod:`.render`
(JSON, tables). Errors print exactly one line, ``error: …``, on stderr and exit 1; passwords
in URIs are never printed. Stored text (job names, labels, data, reasons, notes, worker names,
audit entries) is untrusted: every line, table cell and log record shows it through
:func:`queuecore.printable.printable`, and ``--json`` through ``json_text``.
"""

from __future__ import annotations

from . import commands, work
from .help import Command
from .root import app, run_dashboard

# Registered here, in the order ``jobtui --help`` lists them.
app.command(cls=Command)(commands.enqueue)
app.command("ls", cls=Command)(commands.list_jobs)
app.command(cls=Command)(commands.show)
app.command(cls=Command)(commands.cancel)
app.command(cls=Command)(commands.requeue)
app.command(cls=Command)(commands.stats)
app.command("audit", cls=Command)(commands.audit_log)
app.command(cls=Command)(work.work)
app.command(cls=Command)(commands.demo)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main", "run_dashboard"]
