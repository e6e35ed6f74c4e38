"""The options every command shares, and what they resolve to.

Every command takes ``--store URI`` (any scheme the engine registry knows, or a SQLite file
path), its shorthands ``--mongo``/``--sqlite``, and ``--collection`` (also accepted before the
subcommand, with ``--profile`` and ``--read-only``: :class:`RootOptions`); without them the
store is ``$JOBTUI_STORE``, ``$JOBTUI_MONGO_URI``, ``$JOBTUI_SQLITE`` or the embedded SQLite
file in the user data directory (:func:`store_target`). Nothing here knows an engine: the
registry (:mod:`queuecore.store.registry`) checks a URI's scheme. Values typed on the command
line (statuses, job data, ids) are checked here, before any store is opened, so a typo fails
fast.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from queuecore import Query
from queuecore.query import STATUS_VALUES
from queuecore.uri import mask

from ..config import Profile, UserConfig, load_config, resolve_uri
from . import ids
from .session import error_line, fail

#: Environment variable: "1" starts the dashboard read-only and refuses mutating commands.
ENV_READ_ONLY = "JOBTUI_READ_ONLY"


StoreUri = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URI",
        show_default=False,
        help=(
            "The store: a URI of any installed engine (mongodb://…, sqlite:///…) or a SQLite file"
            " path (default: $JOBTUI_STORE, $JOBTUI_MONGO_URI, $JOBTUI_SQLITE, else the embedded"
            " store in the user data directory)."
        ),
    ),
]
Mongo = Annotated[
    str | None,
    typer.Option(
        "--mongo",
        metavar="URI",
        show_default=False,
        help="Shorthand for --store with a MongoDB URI ($JOBTUI_MONGO_URI).",
    ),
]
Sqlite = Annotated[
    str | None,
    typer.Option(
        "--sqlite",
        metavar="PATH",
        show_default=False,
        help="Shorthand for --store with a SQLite file ($JOBTUI_SQLITE).",
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

    store: str | None = None
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
                typer.echo(f"warning: {error_line(self.config.problem)} (using the defaults)", err=True)
        return self.config

    def chosen_profile(self) -> Profile | None:
        """The ``--profile`` connection, or None (an unknown name is one error line)."""
        if self.profile is None:
            return None
        try:
            return self.user_config().profile(self.profile)
        except ValueError as exc:
            fail(str(exc))


def store_target(
    ctx: typer.Context, store: str | None, mongo: str | None, sqlite: str | None, collection: str | None
) -> Target:
    """The store of a command: its own options, else those before the subcommand, else a
    profile, else the environment and the default (:func:`jobtui.config.resolve_uri`)."""
    root: RootOptions = ctx.find_root().obj or RootOptions()
    for option, value in (
        *(("--store", v) for v in (store, root.store)),
        *(("--mongo", v) for v in (mongo, root.mongo)),
        *(("--sqlite", v) for v in (sqlite, root.sqlite)),
        *(("--collection", v) for v in (collection, root.collection)),
    ):
        if value is not None and not value.strip():  # an unset shell variable: never the default store
            fail(f"{option} was given an empty value")
    if store is None and mongo is None and sqlite is None:
        store, mongo, sqlite = root.store, root.mongo, root.sqlite
    profile = root.chosen_profile()
    if profile is not None and (store or mongo or sqlite):
        fail("give either --profile or --store/--mongo/--sqlite, not both")
    collection = collection or root.collection or (profile.collection if profile else None) or "jobs"
    try:
        uri = profile.uri() if profile is not None else resolve_uri(store=store, mongo=mongo, sqlite=sqlite)
    except ValueError as exc:
        fail(str(exc))
    return Target(uri, collection)


def is_read_only(ctx: typer.Context) -> bool:
    """Whether the dashboard runs, and the commands are, read-only: ``--read-only``, a read-only
    profile or ``$JOBTUI_READ_ONLY``."""
    root: RootOptions = ctx.find_root().obj or RootOptions()
    profile = root.chosen_profile()
    if profile is not None and profile.read_only:
        return True
    return root.read_only or os.environ.get(ENV_READ_ONLY, "").strip().lower() in ("1", "true", "yes", "on")


def mutating(ctx: typer.Context, command: str) -> None:
    """The one gate every command that changes jobs passes (refused in read-only mode)."""
    if is_read_only(ctx):
        fail(f"read-only mode: `jobtui {command}` changes jobs and is disabled")


def parse_statuses(values: list[str] | None) -> list[str] | None:
    """``--status`` values (repeated, or comma lists) as statuses; an unknown one is an error."""
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


def parse_data(raw: str | None) -> dict[str, Any]:
    """``--data``: a JSON object, or ``@file.json``, checked as the store will check it."""
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


def job_id_query(raw: str) -> Query:
    """The ``id:`` query of a typed id, a short id or any part of one (checked before
    connecting, so a typo fails fast); :func:`jobtui.cli.ids.resolve` finds its job."""
    try:
        return ids.id_query(raw)
    except ValueError as exc:
        fail(str(exc))
