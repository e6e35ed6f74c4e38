"""The ``jobtui`` command: the dashboard, and a typer CLI for scripts.

``jobtui`` with no subcommand runs the dashboard (Textual is imported only then, so
the scripting commands start fast). Every command takes ``--mongo``/``--sqlite``/
``--collection`` (also accepted before the subcommand); without them the store is
``$JOBTUI_MONGO_URI``, ``$JOBTUI_SQLITE`` or the embedded SQLite file in the user
data directory. Errors print exactly one line, ``error: …``, on stderr and exit 1;
passwords in URIs are never printed. Stored text (job names, labels, data, reasons, notes,
worker names, audit entries) is untrusted: every line, table cell and log record shows it
through :func:`queuecore.printable.printable`, and ``--json`` through ``json_text``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer

import queuecore
from queuecore import Job, Query, Status, Store
from queuecore.printable import PrintableRecords, json_text, one_line, printable
from queuecore.query import STATUS_VALUES
from queuecore.sort import NAMES as SORT_NAMES
from queuecore.sort import Sort, SortError
from queuecore.store import QUERY_TIMEOUT
from queuecore.uri import is_mongo, mask, sqlite_path
from queuecore.uri import password as uri_password

from . import __version__, actions, cli_ids, cli_table
from . import format as fmt
from .cli_help import Command, Group
from .config import Profile, UserConfig, load_config, resolve_uri
from .format import flat as _flat
from .format import shown as _shown
from .present import CLI_STYLES, finite, iso, job_json, json_default, show_rows
from .workers import HandlerThreads, WorkersError, build_queue, load_tasks

T = TypeVar("T")

#: Environment variable: seconds to wait for the store before giving up (default 5).
ENV_CONNECT_TIMEOUT = "JOBTUI_CONNECT_TIMEOUT"
#: Environment variable: seconds a filter's store query may take (default 5; 0: no limit).
ENV_QUERY_TIMEOUT = "JOBTUI_QUERY_TIMEOUT"
#: Environment variable: "1" starts the dashboard read-only and refuses mutating commands.
ENV_READ_ONLY = "JOBTUI_READ_ONLY"

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

# -- options shared by every command -------------------------------------------

Mongo = Annotated[
    str | None,
    typer.Option(
        "--mongo", metavar="URI", show_default=False, help="MongoDB URI (default: $JOBTUI_MONGO_URI)."
    ),
]
Sqlite = Annotated[
    str | None,
    typer.Option(
        "--sqlite",
        metavar="PATH",
        show_default=False,
        help="SQLite file (default: $JOBTUI_SQLITE or the embedded store in the user data directory).",
    ),
]
Collection = Annotated[
    str | None,
    typer.Option(
        "--collection", metavar="NAME", show_default=False, help="Collection/table \\[default: jobs]."
    ),
]
#: The help of a command's job id argument.
ID_HELP = "The job id: all 24 hex digits, or the short id `jobtui ls` shows (any unique part)."
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


@dataclass(frozen=True)
class Target:
    """Where the jobs are: a store URI and a collection (table) name."""

    uri: str
    collection: str

    @property
    def display(self) -> str:
        """The URI with its password masked."""
        return mask(self.uri)


@dataclass
class RootOptions:
    """The options given before the subcommand (defaults for every subcommand)."""

    mongo: str | None = None
    sqlite: str | None = None
    collection: str | None = None
    read_only: bool = False
    #: ``--profile NAME``: a connection from the user config file.
    profile: str | None = None
    config: UserConfig | None = None

    def user_config(self) -> UserConfig:
        """The user config file, read once (a bad file: defaults and a warning on stderr)."""
        if self.config is None:
            self.config = load_config()
            if self.config.problem:
                typer.echo(f"warning: {_one_line(self.config.problem)} (using the defaults)", err=True)
        return self.config

    def chosen_profile(self) -> Profile | None:
        """The ``--profile`` connection, or None (an unknown name is one error line)."""
        if self.profile is None:
            return None
        try:
            return self.user_config().profile(self.profile)
        except ValueError as exc:
            fail(str(exc))


def fail(message: str, target: Target | None = None, code: int = 1) -> NoReturn:
    """Print ``error: message`` as one line on stderr (password scrubbed) and exit."""
    typer.echo(f"error: {_one_line(_scrub(message, target))}", err=True)
    raise typer.Exit(code)


def _one_line(message: str) -> str:
    """``message`` on one line, printable (errors quote stored values: names, reasons)."""
    # pymongo appends a long topology dump to server-selection errors; it names nothing new
    return one_line(str(message).split(", Topology Description:", 1)[0])


def _scrub(message: str, target: Target | None) -> str:
    """Remove the target's password from ``message``, whatever produced it."""
    if target is None:
        return message
    message = message.replace(target.uri, target.display)
    password = _password(target.uri)
    if password:
        message = message.replace(password, "***")
    return message


def _password(uri: str) -> str | None:
    return uri_password(uri) or None


def _target(ctx: typer.Context, mongo: str | None, sqlite: str | None, collection: str | None) -> Target:
    """The store of a command: its own options, else those before the subcommand, else defaults."""
    root: RootOptions = ctx.find_root().obj or RootOptions()
    for option, value in (
        *(("--mongo", v) for v in (mongo, root.mongo)),
        *(("--sqlite", v) for v in (sqlite, root.sqlite)),
        *(("--collection", v) for v in (collection, root.collection)),
    ):
        if value is not None and not value.strip():  # an unset shell variable: never the default store
            fail(f"{option} was given an empty value")
    if mongo is None and sqlite is None:
        mongo, sqlite = root.mongo, root.sqlite
    profile = root.chosen_profile()
    if profile is not None and (mongo or sqlite):
        fail("give either --profile or --mongo/--sqlite, not both")
    collection = collection or root.collection or (profile.collection if profile else None) or "jobs"
    try:
        uri = profile.uri() if profile is not None else resolve_uri(mongo, sqlite)
    except ValueError as exc:
        fail(str(exc))
    target = Target(uri, collection)
    if not is_mongo(uri):
        try:
            sqlite_path(uri)
        except ValueError as exc:
            fail(str(exc), target)
    return target


def _read_only(ctx: typer.Context) -> bool:
    root: RootOptions = ctx.find_root().obj or RootOptions()
    profile = root.chosen_profile()
    if profile is not None and profile.read_only:
        return True
    return root.read_only or os.environ.get(ENV_READ_ONLY, "").strip().lower() in ("1", "true", "yes", "on")


def _mutating(ctx: typer.Context, command: str) -> None:
    """The one gate every command that changes jobs passes (refused in read-only mode)."""
    if _read_only(ctx):
        fail(f"read-only mode: `jobtui {command}` changes jobs and is disabled")


def _connect_timeout() -> float:
    raw = os.environ.get(ENV_CONNECT_TIMEOUT, "")
    try:
        return max(0.1, float(raw)) if raw else 5.0
    except ValueError:
        return 5.0


def _query_timeout() -> float | None:
    """``$JOBTUI_QUERY_TIMEOUT`` as ``connect(query_timeout=…)``: seconds, 0 for no limit; a
    value that is not a number of seconds is one error line (not silently the default)."""
    raw = os.environ.get(ENV_QUERY_TIMEOUT, "").strip()
    if not raw:
        return QUERY_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        fail(f"{ENV_QUERY_TIMEOUT} must be a number of seconds (0: no limit), not {raw!r}")
    return seconds or None


#: Exceptions that are the user's or the environment's problem: one line, no traceback.
_EXPECTED: tuple[type[BaseException], ...] = (
    queuecore.QueueError,  # ConnectError, TransitionError, MissingJobError, ...
    WorkersError,
    ValueError,  # invalid ids, statuses, oversized or non-JSON data
    TypeError,
    OSError,
)


def run(target: Target, action: Callable[[Store], Awaitable[T]], *, create: bool = True) -> T:
    """Open the store, run ``action`` on it, close it; known errors become one line and exit 1
    (an unsupported filter, one over the time limit: ``QueryError``, ``QueryTimeout``).
    ``create=False`` (the commands that only read): a missing SQLite store is an error, never made."""
    limit = _query_timeout()

    async def main() -> T:
        store = await queuecore.connect(
            target.uri,
            collection=target.collection,
            timeout=_connect_timeout(),
            query_timeout=limit,
            create=create,
        )
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except cli_ids.IdError as exc:  # no job, or several: the candidates under the error line
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        for line in exc.lines:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        fail("interrupted", target, code=130)
    except _EXPECTED as exc:
        fail(str(exc) or type(exc).__name__, target)
    except Exception as exc:
        if type(exc).__module__.startswith(("pymongo", "bson", "sqlite3")):
            fail(f"{type(exc).__name__}: {exc}", target)
        raise


def _audit_warning(action: str, exc: Exception) -> None:
    """The change is done but its audit entry was not written: a warning on stderr, not an error."""
    typer.echo(f"warning: the audit log was not written: {_one_line(str(exc))}", err=True)


#: Records the commands' changes in the audit log (source ``cli``).
AUDIT = actions.AuditLog("cli", _audit_warning)


# -- JSON and display helpers ----------------------------------------------------


def _print_json(value: Any) -> None:
    """Print ``value`` as standard JSON: a NaN or ±Infinity (a handler's result, another program's
    document) becomes null, as in JavaScript's JSON.stringify, since no JSON parser reads NaN."""
    try:
        text = json.dumps(value, indent=2, default=json_default, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(finite(value), indent=2, default=json_default, ensure_ascii=False)
    typer.echo(json_text(text))  # C1, DEL and bidi controls as \uXXXX: a terminal reads this too


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _parse_statuses(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    statuses = []
    for value in values:
        for part in value.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in STATUS_VALUES:  # the stored statuses, running and stalled
                fail(f"unknown status {part!r}; expected one of {', '.join(STATUS_VALUES)}")
            statuses.append(part)
    return statuses or None


def _parse_data(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if raw.startswith("@"):
        try:
            with open(raw[1:], encoding="utf-8") as fh:
                raw = fh.read()
        except OSError as exc:
            fail(f"invalid --data: cannot read {raw[1:]}: {exc.strerror or exc}")
        except UnicodeDecodeError as exc:
            fail(f"invalid --data: {raw[1:]} is not UTF-8 text ({exc.reason} at byte {exc.start})")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail(f"invalid --data: {exc}")
    except RecursionError:  # deeper than Python can decode: far past the limit
        from queuecore.job import depth_message

        fail(f"invalid --data: {depth_message()}")
    if not isinstance(data, dict):
        fail(f"invalid --data: expected a JSON object, got {type(data).__name__}")
    try:
        from queuecore.job import check_data

        check_data(data)
    except (TypeError, ValueError) as exc:
        fail(f"invalid --data: {exc}")
    return data


def _job_id(raw: str) -> Query:
    """The ``id:`` query of a typed id, a short id or any part of one (checked before
    connecting, so a typo fails fast); :func:`jobtui.cli_ids.resolve` finds its job."""
    try:
        return cli_ids.id_query(raw)
    except ValueError as exc:
        fail(str(exc))


# -- the dashboard -----------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jobtui {__version__} (queuecore {queuecore.__version__})")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
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
        mongo=mongo, sqlite=sqlite, collection=collection, read_only=read_only, profile=profile
    )
    if ctx.invoked_subcommand is not None:
        if workers:  # the dashboard's option: silently ignored, it would look like it worked
            hint = " (headless workers: jobtui work MODULE)" if ctx.invoked_subcommand == "work" else ""
            fail(f"--workers is an option of the dashboard, not of {ctx.invoked_subcommand}{hint}")
        return
    config = ctx.obj.user_config()
    target = _target(ctx, mongo, sqlite, collection)
    if workers:
        try:
            load_tasks(workers)  # a bad spec is one line here, not a crash inside the TUI
        except WorkersError as exc:
            fail(str(exc), target)
    run_dashboard(target, workers=workers, refresh=refresh, read_only=_read_only(ctx), config=config)


def run_dashboard(
    target: Target,
    *,
    workers: str | None,
    refresh: float,
    read_only: bool,
    config: UserConfig | None = None,
) -> None:
    """Start the Textual dashboard (imported here so the other commands never load Textual)."""
    from .app import JobTUI

    dashboard = JobTUI(
        target.uri,
        collection=target.collection,
        workers=workers,
        refresh=refresh,
        read_only=read_only,
        config=config,
        query_timeout=_query_timeout(),
    )
    dashboard.run()
    if dashboard.return_code:  # it ended on an error (Textual has shown it): tell the shell too
        raise typer.Exit(dashboard.return_code)


# -- commands for scripts ------------------------------------------------------------


@app.command(cls=Command)
def enqueue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The task name.")],
    data: Annotated[
        str | None, typer.Option("--data", metavar="JSON", help="Job data: a JSON object, or @file.json.")
    ] = None,
    label: Annotated[
        str, typer.Option("--label", metavar="L", help="Skip if a job with this name and label is active.")
    ] = "",
    delay: Annotated[
        float, typer.Option("--delay", min=0, metavar="S", help="Seconds before the job may run.")
    ] = 0.0,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            metavar="MODULE[:ATTR]",
            envvar="JOBTUI_TASKS",
            help="Check the name and data against these tasks (as `jobtui work` loads them) first.",
        ),
    ] = None,
    as_json: AsJson = False,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Enqueue a job; prints its id (nothing, and a note on stderr, when its label de-duplicates it).

    Without --tasks any name and JSON object are accepted (the tasks live in the workers): a
    job no worker knows waits, and data failing the task's model is cancelled by the worker.
    """
    _mutating(ctx, "enqueue")
    if not name.strip():
        fail("the task name must not be empty")
    payload = _parse_data(data)
    if tasks is not None:
        _check_task(tasks, name, payload)
    target = _target(ctx, mongo, sqlite, collection)
    blueprint = queuecore.Blueprint(name, label=label, data=payload, delay=delay)

    async def act(store: Store) -> Job | None:
        return await actions.enqueue(store, AUDIT, blueprint)

    job = run(target, act)
    if job is None:
        typer.echo(f"skipped: a job {name!r} with label {label!r} is already active", err=True)
        if as_json:
            _print_json({"skipped": True, "name": name, "label": label})
        return
    if as_json:
        _print_json(job_json(job))
    else:
        typer.echo(str(job.id))


def _check_task(spec: str, name: str, data: dict[str, Any]) -> None:
    """Refuse (one line, exit 1) a task name ``spec`` does not define, or data its model rejects."""
    try:
        known = {t.name: t for t in load_tasks(spec)}
    except WorkersError as exc:
        fail(str(exc))
    task = known.get(name)
    if task is None:
        fail(f"unknown task {name!r}: {spec} defines {', '.join(sorted(known))}")
    problem = task.problem(data)
    if problem is not None:
        fail(problem)


@app.command("ls", cls=Command)
def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status", "-s", metavar="S", help="Only these statuses (repeatable, or a comma list)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", metavar="N", help="Only this task.")] = None,
    text: Annotated[
        str | None, typer.Option("--text", "-t", metavar="T", help="Search id, name, label and reason.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, metavar="K", help="At most K jobs.")] = 50,
    query: Annotated[
        str | None,
        typer.Option(
            "--query", "-q", metavar="FILTER", help="A filter, e.g. 'status:failed age:<1h !reason:timeout'."
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            metavar="FIELD",
            show_default=False,
            help=f"Order by {', '.join(SORT_NAMES)}; '-FIELD' or 'FIELD desc': descending"
            " \\[default: newest first].",
        ),
    ] = None,
    width: Annotated[
        int | None,
        typer.Option(
            "--width",
            min=0,
            metavar="COLS",
            show_default=False,
            help="Fit the table to COLS columns (0: no limit)"
            " \\[default: $COLUMNS, else the terminal's; piped: none].",
        ),
    ] = None,
    as_json: AsJson = False,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """List jobs, newest first (or --sort). Piped, every cell is printed whole."""
    statuses = _parse_statuses(status)
    try:
        parsed = queuecore.parse(query) if query else None
    except queuecore.QueryError as exc:
        fail(f"invalid filter: {exc}")
    try:
        order = Sort.parse(sort) if sort is not None else None
    except SortError as exc:
        fail(f"invalid --sort: {exc}")
    target = _target(ctx, mongo, sqlite, collection)
    jobs = run(
        target,
        lambda store: store.find(
            status=statuses, name=name, text=text, limit=limit, query=parsed, sort=order
        ),
        create=False,
    )
    if as_json:
        _print_json([job_json(j) for j in jobs])
        return
    if not jobs:
        typer.echo("no jobs match", err=True)
        return
    cli_table.print_jobs(jobs, cli_table.output_width(width))


@app.command(cls=Command)
def show(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(metavar="ID", help=ID_HELP)],
    as_json: AsJson = False,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Show one job: its fields, data, result and history."""
    job_id = _job_id(id)
    target = _target(ctx, mongo, sqlite, collection)
    job = run(target, lambda store: cli_ids.resolve(store, job_id), create=False)
    if as_json:
        _print_json(job_json(job))
        return
    _print_job(job)


def _print_job(job: Job) -> None:
    from rich.highlighter import JSONHighlighter
    from rich.table import Table

    console = _console()
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for key, value in show_rows(job, datetime.now(UTC)):
        if value:
            fields.add_row(key, value)
    console.print(fields)
    for title, value in (("data", job.data), ("result", job.result)):
        if value:
            console.print(f"\n[bold]{title}[/]")
            # as rich.json.JSON shows it, but from json_text: control and bidi characters in
            # keys and strings stay \uXXXX escapes (JSON re-encodes them raw)
            encoded = json.dumps(value, indent=2, default=json_default, ensure_ascii=False)
            shown = JSONHighlighter()(json_text(encoded))
            shown.no_wrap, shown.overflow = True, None
            console.print(shown)
    if job.events:
        history = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
        for column in ("AT", "STATUS", "REASON"):
            history.add_column(column)
        for event in job.events:
            history.add_row(iso(event.at) or "", _shown(event.status), _shown(event.reason, layout=True))
        console.print("\n[bold]history[/]")
        console.print(history)


@app.command(cls=Command)
def cancel(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(metavar="ID", help=ID_HELP)],
    reason: Annotated[str, typer.Option("--reason", "-r", metavar="R", help="Why.")] = actions.CANCEL_REASON,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Cancel a job: at once if it waits, by a cancellation request if it runs."""
    _mutating(ctx, "cancel")
    job_id = _job_id(id)
    target = _target(ctx, mongo, sqlite, collection)

    async def act(store: Store) -> Job:
        found = await cli_ids.resolve(store, job_id)
        return await actions.cancel(store, AUDIT, found.id, reason)

    job = run(target, act)
    if job.status == Status.CANCELLED:
        typer.echo(f"cancelled {job.id}")
    else:
        typer.echo(f"cancellation requested for {job.id} (running on {printable(job.worker or 'a worker')})")


@app.command(cls=Command)
def requeue(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(metavar="ID", help=ID_HELP)],
    delay: Annotated[
        float, typer.Option("--delay", min=0, metavar="S", help="Seconds before it may run.")
    ] = 0.0,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Re-enqueue a failed, cancelled or completed job (attempts start again)."""
    _mutating(ctx, "requeue")
    job_id = _job_id(id)
    target = _target(ctx, mongo, sqlite, collection)

    async def act(store: Store) -> Job:
        found = await cli_ids.resolve(store, job_id)
        return await actions.requeue(store, AUDIT, found.id, delay)

    job = run(target, act)
    typer.echo(f"re-enqueued {job.id}")


@app.command(cls=Command)
def stats(
    ctx: typer.Context,
    as_json: AsJson = False,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Count the jobs per status."""
    target = _target(ctx, mongo, sqlite, collection)

    async def gather(store: Store) -> dict[str, Any]:
        counts = await store.counts()
        return {
            "store": store.display_uri,
            "engine": store.engine,
            "collection": store.collection,
            # stored statuses; running + stalled split dequeued
            "counts": {k: n for k, n in counts.items() if k not in ("running", "stalled")},
            "running": counts["running"],
            "stalled": counts["stalled"],
            "total": counts.total,
        }

    result = run(target, gather, create=False)
    if as_json:
        _print_json(result)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, show_footer=True)
    table.add_column("STATUS", footer="total")
    table.add_column("JOBS", justify="right", footer=str(result["total"]))
    for status, count in result["counts"].items():
        table.add_row(f"[{CLI_STYLES.get(status, 'bold')}]{_shown(status)}[/]", str(count))
        if status == Status.DEQUEUED.value:
            table.add_row("[dim]  running[/]", f"[dim]{result['running']}[/]")
            table.add_row("[dim]  stalled[/]", f"[dim]{result['stalled']}[/]")
    console = _console()
    console.print(f"[bold]{_shown(result['store'])}[/] ({result['engine']}, {_shown(result['collection'])})")
    console.print(table)


@app.command("audit", cls=Command)
def audit_log(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, metavar="K", help="At most K entries.")] = 20,
    as_json: AsJson = False,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Show the latest operator actions (who changed which jobs, when, from where), newest first."""
    target = _target(ctx, mongo, sqlite, collection)
    entries = run(target, lambda store: store.find_audit(limit), create=False)
    if as_json:
        _print_json(
            [
                {"at": iso(e.at), "who": e.who, "source": e.source, "action": e.action}
                | {"ids": e.ids, "detail": e.detail}
                for e in entries
            ]
        )
        return
    if not entries:
        typer.echo("no operator actions recorded", err=True)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("AT", "WHO", "FROM", "ACTION", "JOBS", "DETAIL"):
        table.add_column(column, no_wrap=column != "DETAIL", overflow="ellipsis")
    for e in entries:
        jobs = e.ids[0] if len(e.ids) == 1 else str(len(e.ids))
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            _shown(e.who),
            _shown(e.source),
            _shown(e.action),
            _shown(jobs),
            _flat(e.detail),
        )
    _console().print(table)


# -- the headless worker host --------------------------------------------------------

log = logging.getLogger("jobtui.work")
log.addFilter(PrintableRecords())  # its lines name jobs and quote their reasons


@app.command(cls=Command)
def work(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(metavar="MODULE[:ATTR]", help="The tasks to host.")],
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            metavar="S",
            help="On stop, running jobs get this long before they fail for retry.",
        ),
    ] = 10.0,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Run the workers of MODULE headless until Ctrl-C or SIGTERM, then stop gracefully.

    Job outcomes are logged to stderr as they happen (from the store's change feed;
    a MongoDB server without change streams only polls, and then logs none).
    """
    _mutating(ctx, "work")
    target = _target(ctx, mongo, sqlite, collection)
    try:
        names = [t.name for t in load_tasks(spec)]
    except WorkersError as exc:
        fail(str(exc), target)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(PrintableRecords())  # every record printed, a library's too
    logging.basicConfig(
        handlers=[handler], level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )

    async def host(store: Store) -> None:
        await _host_workers(store, spec, names, grace)

    run(target, host)


async def _host_workers(store: Store, spec: str, names: list[str], grace: float) -> None:
    """Run the queue until a stop signal; close it so no running job is left claimed. When the
    store's file goes (StoreGone) the queue has stopped: raise it (one ``error:`` line, exit 1)."""
    stop = asyncio.Event()

    def report(exc: BaseException) -> None:
        if isinstance(exc, queuecore.StoreGone):
            stop.set()  # said once, as the error line
            return
        log.warning("problem: %s", _one_line(str(exc) or type(exc).__name__))

    queue = build_queue(store, spec, reporter=report, grace=grace)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(HandlerThreads())  # a stuck `def` handler cannot keep us from exiting

    def on_signal() -> None:
        if stop.is_set():
            log.info("still stopping: running jobs get up to %gs in all", grace)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    outcomes = _OutcomeLog(f"{socket.gethostname()}:{os.getpid()}:", set(names))
    follow = asyncio.create_task(outcomes.follow(store))
    try:
        await queue.run()
        if queue.gone is None:
            log.info("working: %s on %s (%s)", ", ".join(names), store.display_uri, store.collection)
            await stop.wait()
        if queue.gone is not None:  # nothing can be written any more: running jobs are let go
            await queue.close(grace=0)
            raise queue.gone
        running = [id for s in queue.stats() for id in s.current]
        log.info("stopping: waiting up to %gs for %d running job(s)", grace, len(running))
        await queue.close()
        for id in running:  # their outcome, even if the change feed has not delivered it yet
            job = await store.get(id)
            if job is not None:
                outcomes.log(job)
        log.info("stopped")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await queue.close()


class _OutcomeLog:
    """Logs each status change of the jobs this process works on, once."""

    def __init__(self, worker_prefix: str, names: set[str]) -> None:
        self.worker_prefix = worker_prefix
        self.names = names
        self.seen: dict[Any, tuple[str, int]] = {}

    async def follow(self, store: Store) -> None:
        """Log from the store's change feed until cancelled."""
        async for change in store.watch():
            if change.job is not None:
                self.log(change.job)

    def log(self, job: Job) -> None:
        """Log ``job``'s status if it is one of ours and changed since last logged."""
        if job.malformed or job.name not in self.names or not job.worker.startswith(self.worker_prefix):
            return
        status = str(job.status)
        if self.seen.get(job.id) == (status, job.attempts):
            return
        self.seen[job.id] = (status, job.attempts)
        if len(self.seen) > 10_000:  # bounded: forget the oldest jobs
            del self.seen[next(iter(self.seen))]
        what = f"{job.name} {job.id} (attempt {job.attempts})"
        if status == Status.DEQUEUED:
            if job.cancel_reason is None:
                log.info("started    %s", what)
            return
        took = ""
        if job.started and job.ended and job.ended >= job.started:
            took = f" in {fmt.duration((job.ended - job.started).total_seconds())}"
        if status == Status.COMPLETED:
            log.info("completed  %s%s", what, took)
        elif status == Status.FAILED:
            wait = fmt.duration((job.available - datetime.now(UTC)).total_seconds()) if job.available else "?"
            log.info("failed     %s%s: %s (retry in %s)", what, took, _one_line(job.reason), wait)
        elif status == Status.CANCELLED:
            log.info("cancelled  %s%s: %s", what, took, _one_line(job.reason))


# -- the demo --------------------------------------------------------------------------


@app.command(cls=Command)
def demo(
    ctx: typer.Context,
    seed_only: Annotated[bool, typer.Option("--seed-only", help="Seed the demo jobs and exit.")] = False,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.05, metavar="S", help="Refresh interval.")
    ] = 1.0,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Seed a lively mix of jobs and open the dashboard hosting the example workers.

    Without --mongo/--sqlite/--profile the demo uses its own SQLite file (demo.db in the
    user data directory), never your default store.
    """
    from . import demo as demo_module

    _mutating(ctx, "demo")
    root: RootOptions = ctx.find_root().obj or RootOptions()
    if not any((mongo, sqlite, root.mongo, root.sqlite, root.profile)):
        sqlite = str(demo_module.default_demo_path())
    target = _target(ctx, mongo, sqlite, collection)
    try:
        spec = demo_module.example_tasks_spec()
    except FileNotFoundError as exc:
        fail(str(exc))
    jobs = run(target, demo_module.seed)
    typer.echo(f"seeded {len(jobs)} demo jobs into {target.display} ({target.collection})", err=True)
    if seed_only:
        return
    run_dashboard(target, workers=spec, refresh=refresh, read_only=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
