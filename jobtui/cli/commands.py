"""The commands for scripts: ``enqueue``, ``ls``, ``show``, ``cancel``, ``requeue``, ``stats``,
``audit`` and ``demo``.

Each resolves its options (:mod:`.options`), runs one action on the store
(:func:`.session.run`) and prints (:mod:`.render`). Changes go through :mod:`jobtui.actions`,
as the dashboard's do, and are recorded in the audit log with source ``cli``; every command
that changes jobs passes :func:`.options.mutating` first (refused in read-only mode). They are
registered on the app, in the order ``--help`` lists them, by :mod:`jobtui.cli`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

import queuecore
from queuecore import Job, Status, Store
from queuecore.printable import printable
from queuecore.sort import NAMES as SORT_NAMES
from queuecore.sort import Sort, SortError

from .. import actions
from ..present import iso, job_json
from ..workers import WorkersError, load_tasks
from . import ids, render
from . import root as cli_root
from .options import (
    ID_HELP,
    AsJson,
    Collection,
    Mongo,
    RootOptions,
    Sqlite,
    StoreUri,
    job_id_query,
    mutating,
    parse_data,
    parse_statuses,
    store_target,
)
from .render import print_json
from .session import error_line, fail, run


def _audit_warning(action: str, exc: Exception) -> None:
    """The change is done but its audit entry was not written: a warning on stderr, not an error."""
    typer.echo(f"warning: the audit log was not written: {error_line(str(exc))}", err=True)


#: Records the commands' changes in the audit log (source ``cli``).
AUDIT = actions.AuditLog("cli", _audit_warning)


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
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Enqueue a job; prints its id (nothing, and a note on stderr, when its label de-duplicates it).

    Without --tasks any name and JSON object are accepted (the tasks live in the workers): a
    job no worker knows waits, and data failing the task's model is cancelled by the worker.
    """
    mutating(ctx, "enqueue")
    if not name.strip():
        fail("the task name must not be empty")
    payload = parse_data(data)
    if tasks is not None:
        _check_task(tasks, name, payload)
    target = store_target(ctx, store_uri, mongo, sqlite, collection)
    blueprint = queuecore.Blueprint(name, label=label, data=payload, delay=delay)

    async def act(store: Store) -> Job | None:
        return await actions.enqueue(store, AUDIT, blueprint)

    job = run(target, act)
    if job is None:
        typer.echo(f"skipped: a job {name!r} with label {label!r} is already active", err=True)
        if as_json:
            print_json({"skipped": True, "name": name, "label": label})
        return
    if as_json:
        print_json(job_json(job))
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
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """List jobs, newest first (or --sort). Piped, every cell is printed whole."""
    statuses = parse_statuses(status)
    try:
        parsed = queuecore.parse(query) if query else None
    except queuecore.QueryError as exc:
        fail(f"invalid filter: {exc}")
    try:
        order = Sort.parse(sort) if sort is not None else None
    except SortError as exc:
        fail(f"invalid --sort: {exc}")
    target = store_target(ctx, store_uri, mongo, sqlite, collection)
    jobs = run(
        target,
        lambda store: store.find(
            status=statuses, name=name, text=text, limit=limit, query=parsed, sort=order
        ),
        create=False,
    )
    if as_json:
        print_json([job_json(j) for j in jobs])
        return
    if not jobs:
        typer.echo("no jobs match", err=True)
        return
    render.print_jobs(jobs, render.output_width(width))


def show(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(metavar="ID", help=ID_HELP)],
    as_json: AsJson = False,
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Show one job: its fields, data, result and history."""
    job_id = job_id_query(id)
    target = store_target(ctx, store_uri, mongo, sqlite, collection)
    job = run(target, lambda store: ids.resolve(store, job_id), create=False)
    if as_json:
        print_json(job_json(job))
        return
    render.print_job(job)


def cancel(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(metavar="ID", help=ID_HELP)],
    reason: Annotated[str, typer.Option("--reason", "-r", metavar="R", help="Why.")] = actions.CANCEL_REASON,
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Cancel a job: at once if it waits, by a cancellation request if it runs."""
    mutating(ctx, "cancel")
    job_id = job_id_query(id)
    target = store_target(ctx, store_uri, mongo, sqlite, collection)

    async def act(store: Store) -> Job:
        found = await ids.resolve(store, job_id)
        return await actions.cancel(store, AUDIT, found.id, reason)

    job = run(target, act)
    if job.status == Status.CANCELLED:
        typer.echo(f"cancelled {job.id}")
    else:
        typer.echo(f"cancellation requested for {job.id} (running on {printable(job.worker or 'a worker')})")


def requeue(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(metavar="ID", help=ID_HELP)],
    delay: Annotated[
        float, typer.Option("--delay", min=0, metavar="S", help="Seconds before it may run.")
    ] = 0.0,
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Re-enqueue a failed, cancelled or completed job (attempts start again)."""
    mutating(ctx, "requeue")
    job_id = job_id_query(id)
    target = store_target(ctx, store_uri, mongo, sqlite, collection)

    async def act(store: Store) -> Job:
        found = await ids.resolve(store, job_id)
        return await actions.requeue(store, AUDIT, found.id, delay)

    job = run(target, act)
    typer.echo(f"re-enqueued {job.id}")


def stats(
    ctx: typer.Context,
    as_json: AsJson = False,
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Count the jobs per status."""
    target = store_target(ctx, store_uri, mongo, sqlite, collection)

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
        print_json(result)
        return
    render.print_stats(result)


def audit_log(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, metavar="K", help="At most K entries.")] = 20,
    as_json: AsJson = False,
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Show the latest operator actions (who changed which jobs, when, from where), newest first."""
    target = store_target(ctx, store_uri, mongo, sqlite, collection)
    entries = run(target, lambda store: store.find_audit(limit), create=False)
    if as_json:
        print_json(
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
    render.print_audit(entries)


# -- the demo --------------------------------------------------------------------------


def demo(
    ctx: typer.Context,
    seed_only: Annotated[bool, typer.Option("--seed-only", help="Seed the demo jobs and exit.")] = False,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.05, metavar="S", help="Refresh interval.")
    ] = 1.0,
    store_uri: StoreUri = None,
    mongo: Mongo = None,
    sqlite: Sqlite = None,
    collection: Collection = None,
) -> None:
    """Seed a lively mix of jobs and open the dashboard hosting the example workers.

    Without --store/--mongo/--sqlite/--profile the demo uses its own SQLite file (demo.db in
    the user data directory), never your default store.
    """
    from .. import demo as demo_module

    mutating(ctx, "demo")
    root: RootOptions = ctx.find_root().obj or RootOptions()
    if not any((store_uri, mongo, sqlite, root.store, root.mongo, root.sqlite, root.profile)):
        sqlite = str(demo_module.default_demo_path())
    target = store_target(ctx, store_uri, mongo, sqlite, collection)
    try:
        spec = demo_module.example_tasks_spec()
    except FileNotFoundError as exc:
        fail(str(exc))
    jobs = run(target, demo_module.seed)
    typer.echo(f"seeded {len(jobs)} demo jobs into {target.display} ({target.collection})", err=True)
    if seed_only:
        return
    cli_root.run_dashboard(target, workers=spec, refresh=refresh, read_only=False)
