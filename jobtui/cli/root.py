"""The ``jobtui`` command itself: its typer app, the options given before a subcommand, and
the dashboard it runs when none is given.

Textual is imported only when the dashboard starts (:func:`run_dashboard`), so the scripting
commands start fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

import queuecore

from .. import __version__
from ..config import UserConfig
from ..workers import WorkersError, load_tasks
from .help import Group
from .options import Collection, Mongo, RootOptions, Sqlite, StoreUri, Target, is_read_only, store_target
from .session import fail, query_timeout

app = typer.Typer(
    name="jobtui",
    cls=Group,
    help="A live terminal dashboard for queuecore jobs, and commands for scripts.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jobtui {__version__} (queuecore {queuecore.__version__})")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers",
            metavar="MODULE[:ATTR]",
            help="Also host these tasks in the dashboard (a module, or a path to a .py file).",
        ),
    ] = None,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.05, metavar="S", help="Refresh/polling interval in seconds.")
    ] = 1.0,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Disable every action that changes jobs ($JOBTUI_READ_ONLY=1)."),
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            show_default=False,
            help="Connect with \\[profiles.NAME] of the config file ($JOBTUI_CONFIG).",
        ),
    ] = None,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """Run the live dashboard (no subcommand), or one of the commands below."""
    ctx.obj = RootOptions(
        store=store_uri,
        mongo=mongo,
        sqlite=sqlite,
        collection=collection,
        read_only=read_only,
        profile=profile,
    )
    if ctx.invoked_subcommand is not None:
        if workers:  # the dashboard's option: silently ignored, it would look like it worked
            hint = " (headless workers: jobtui work MODULE)" if ctx.invoked_subcommand == "work" else ""
            fail(f"--workers is an option of the dashboard, not of {ctx.invoked_subcommand}{hint}")
        return
    config = ctx.obj.user_config()
    target = store_target(ctx, store_uri, mongo, sqlite, collection)
    if workers:
        try:
            load_tasks(workers)  # a bad spec is one line here, not a crash inside the TUI
        except WorkersError as exc:
            fail(str(exc), target)
    run_dashboard(target, workers=workers, refresh=refresh, read_only=is_read_only(ctx), config=config)


def run_dashboard(
    target: Target,
    *,
    workers: str | None,
    refresh: float,
    read_only: bool,
    config: UserConfig | None = None,
) -> None:
    """Start the Textual dashboard (imported here so the other commands never load Textual)."""
    from ..tui.app import JobTUI

    dashboard = JobTUI(
        target.uri,
        collection=target.collection,
        workers=workers,
        refresh=refresh,
        read_only=read_only,
        config=config,
        query_timeout=query_timeout(),
    )
    dashboard.run()
    if dashboard.return_code:  # it ended on an error (Textual has shown it): tell the shell too
        raise typer.Exit(dashboard.return_code)
