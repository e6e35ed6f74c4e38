"""``--store URI``: a store of any engine the registry knows — built in, or installed by a
package — opens with it, given before or after the subcommand, for the dashboard too, or from
``$JOBTUI_STORE`` or a profile's ``store =``; ``--mongo``/``--sqlite`` stay its shorthands.
An unknown scheme is the registry's one line (the known schemes listed, the password masked),
two store options are one error, and jobtui names a store as the store says (its location,
its live feed), so a new engine needs no edit in jobtui."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import wrapped_engine
from support.cli import assert_one_line_error
from support.targets import StoreTarget
from support.tui import started, wait_for
from typer.testing import CliRunner, Result

import jobtui.cli.root
import queuecore
from jobtui.cli import app
from jobtui.config import Profile, load_config, resolve_uri
from jobtui.live import mode_label
from jobtui.tui.app import JobTUI
from jobtui.tui.widgets.summary import SummaryBar, connection_text
from queuecore import Blueprint
from queuecore.store import registry

SECRET = "hunter2pw"
#: The built-in schemes as an unknown scheme's error lists them, in the registry's order.
BUILTIN_SCHEMES = ["sqlite:///" if s == "sqlite" else f"{s}://" for s in registry.BUILTIN]


@pytest.fixture
def wrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store URI of a third engine, installed by an entry point (tests/support/wrapped_engine.py)."""
    wrapped_engine.install(tmp_path / "site", monkeypatch)
    return f"{wrapped_engine.SCHEME}://{tmp_path}/jobs.db"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment naming no store and no config file of the user's."""
    return {
        "JOBTUI_CONFIG": str(tmp_path / "no-config.toml"),
        "JOBTUI_STORE": "",
        "JOBTUI_MONGO_URI": "",
        "JOBTUI_SQLITE": "",
    }


@pytest.fixture
def dashboard(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The store URIs ``jobtui`` (no subcommand) would start the dashboard on."""
    calls: list[str] = []
    monkeypatch.setattr(jobtui.cli.root, "run_dashboard", lambda target, **_: calls.append(target.uri))
    return calls


def invoke(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, args, env=env)


def names(result: Result) -> list[str]:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return [job["name"] for job in json.loads(result.stdout)]


def test_every_engine_opens_with_store_before_or_after_the_command(
    target: StoreTarget, env: dict[str, str]
) -> None:
    where = ["--store", target.uri, "--collection", target.collection]
    made = invoke(["enqueue", "after", *where], env)
    assert made.exit_code == 0, made.stderr
    assert invoke([*where, "enqueue", "before"], env).exit_code == 0
    assert sorted(names(invoke([*where, "ls", "--json"], env))) == ["after", "before"]
    stats = invoke(["stats", "--json", *where], env)
    assert json.loads(stats.stdout)["engine"] == target.engine


def test_each_shorthand_and_profile_key_opens_the_store_store_opens(
    target: StoreTarget, env: dict[str, str]
) -> None:
    """``--mongo``/``--sqlite`` and the profile keys ``mongo =``/``sqlite =`` are kept; an engine
    without a shorthand is named by a profile's ``store =``."""
    support = target.support
    invoke(["enqueue", "via-store", "--store", target.uri, "--collection", target.collection], env)
    option = support.cli_option or "--store"
    short = invoke(["ls", "--json", option, target.uri, "--collection", target.collection], env)
    assert names(short) == ["via-store"]
    config = Path(env["JOBTUI_CONFIG"])
    key, collection = support.profile_key or "store", target.collection
    config.write_text(f'[profiles.p]\n{key} = "{target.uri}"\ncollection = "{collection}"\n')
    assert names(invoke(["--profile", "p", "ls", "--json"], env)) == ["via-store"]


def test_an_installed_engine_works_everywhere_with_no_edit_in_jobtui(
    wrapped: str, tmp_path: Path, env: dict[str, str], dashboard: list[str]
) -> None:
    assert invoke(["enqueue", "mail", "--store", wrapped], env).exit_code == 0
    assert (tmp_path / "jobs.db").exists()
    assert names(invoke(["--store", wrapped, "ls", "--json"], env)) == ["mail"]
    stats = json.loads(invoke(["stats", "--json", "--store", wrapped], env).stdout)
    assert (stats["engine"], stats["store"]) == ("wrapped", wrapped)
    assert names(invoke(["ls", "--json"], {**env, "JOBTUI_STORE": wrapped})) == ["mail"]
    Path(env["JOBTUI_CONFIG"]).write_text(f'[profiles.w]\nstore = "{wrapped}"\n')
    assert names(invoke(["--profile", "w", "ls", "--json"], env)) == ["mail"]
    assert invoke(["--store", wrapped], env).exit_code == 0
    assert dashboard == [wrapped]


def test_an_installed_engines_driver_errors_are_one_line_other_errors_a_traceback(
    wrapped: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine names its driver's errors (``Store.driver_errors``): a database-side problem
    of an engine jobtui has never heard of is one line; a bug stays a traceback."""
    assert invoke(["enqueue", "mail", "--store", wrapped], env).exit_code == 0

    async def broken(self: object, *args: object, **kwargs: object) -> None:
        raise wrapped_engine.WrappedDriverError("disk on fire\nsecond line")

    monkeypatch.setattr(wrapped_engine.WrappedStore, "find", broken)
    assert_one_line_error(invoke(["ls", "--store", wrapped], env), "WrappedDriverError: disk on fire")

    async def buggy(self: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the engine")

    monkeypatch.setattr(wrapped_engine.WrappedStore, "find", buggy)
    result = invoke(["ls", "--store", wrapped], env)
    assert isinstance(result.exception, RuntimeError)


async def test_the_dashboard_names_an_installed_engine_as_its_store_says(
    wrapped: str, tmp_path: Path
) -> None:
    """The header says where the store is and the indicator that its feed is live, in the
    engine's own words (``store.location``, ``store.mode``)."""
    async with await queuecore.connect(wrapped) as store:
        await queuecore.enqueue(store, Blueprint("mail"))
    dashboard = JobTUI(wrapped)
    async with dashboard.run_test(size=(120, 30)) as pilot:
        await started(pilot, rows=1)
        await wait_for(pilot, lambda: dashboard.sub_title == f"wrapped {tmp_path}/jobs.db")
        bar = dashboard.screen.query_one(SummaryBar)
        await wait_for(pilot, lambda: "● live (wrapped feed)" in bar.plain())


def test_any_live_feed_is_labelled_live() -> None:
    assert mode_label("wrapped-feed") == "live (wrapped feed)"
    assert mode_label("change-stream") == "live (change stream)"
    assert mode_label("change-feed") == "live (change feed)"
    assert (mode_label("polling"), mode_label("reconnecting")) == ("polling", "reconnecting…")
    label = connection_text("wrapped-feed", mode_label("wrapped-feed"))
    assert label.plain == "● live (wrapped feed)"
    assert {str(span.style) for span in label.spans} == {"bold green"}


UNKNOWN = f"pg://user:{SECRET}@db.example.com/jobs"


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["ls", "--store", UNKNOWN], {}),
        (["--store", UNKNOWN, "enqueue", "mail"], {}),
        (["--store", UNKNOWN], {}),  # the dashboard
        (["stats"], {"JOBTUI_STORE": UNKNOWN}),
    ],
)
def test_an_unknown_scheme_is_one_line_naming_the_known_ones(
    args: list[str],
    extra: dict[str, str],
    wrapped: str,
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    line = assert_one_line_error(
        invoke(args, {**env, **extra}),
        "unsupported URI scheme 'pg' in 'pg://user:***@db.example.com/jobs'",
        f"the known schemes are {', '.join([*BUILTIN_SCHEMES, 'wrapped://'])}",
    )
    assert SECRET not in line
    assert sorted(tmp_path.iterdir()) == before  # nothing was created


def test_a_profile_store_of_an_unknown_scheme_is_the_same_line(tmp_path: Path, env: dict[str, str]) -> None:
    Path(env["JOBTUI_CONFIG"]).write_text('[profiles.p]\nstore = "pg://ops@h/jobs"\n')
    assert_one_line_error(
        invoke(["--profile", "p", "ls"], env), "profile 'p': store: unsupported URI scheme 'pg'"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "--store", "a.db", "--sqlite", "b.db"],
        ["ls", "--store", "a.db", "--mongo", "mongodb://h/db"],
        ["ls", "--mongo", "mongodb://h/db", "--sqlite", "b.db"],
        ["--store", "a.db", "--mongo", "mongodb://h/db", "ls"],
        ["--store", "a.db", "--sqlite", "b.db"],  # the dashboard
    ],
)
def test_two_store_options_are_one_error(
    args: list[str], tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    given = " and ".join(a for a in args if a in ("--store", "--mongo", "--sqlite"))
    assert_one_line_error(invoke(args, env), f"give one of --store, --mongo, --sqlite, not {given}")
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "b.db").exists()


def test_which_store_wins(tmp_path: Path, env: dict[str, str], dashboard: list[str]) -> None:
    """An option, then the profile, then ``$JOBTUI_STORE``, ``$JOBTUI_MONGO_URI``,
    ``$JOBTUI_SQLITE``; a command's own option over the one before it."""
    store, mongo, sqlite = (str(tmp_path / "store.db"), "mongodb://h/db", str(tmp_path / "sqlite.db"))
    every = {**env, "JOBTUI_STORE": store, "JOBTUI_MONGO_URI": mongo, "JOBTUI_SQLITE": sqlite}
    option = str(tmp_path / "option.db")
    for args, environ in [
        (["--store", option], every),
        ([], every),
        ([], {**every, "JOBTUI_STORE": ""}),
        ([], {**env, "JOBTUI_SQLITE": sqlite}),
    ]:
        assert invoke(args, environ).exit_code == 0
    Path(env["JOBTUI_CONFIG"]).write_text(f'[profiles.p]\nstore = "{tmp_path / "profile.db"}"\n')
    assert invoke(["--profile", "p"], every).exit_code == 0
    assert dashboard == [
        f"sqlite:///{option}",
        f"sqlite:///{store}",
        mongo,
        f"sqlite:///{sqlite}",
        f"sqlite:///{tmp_path / 'profile.db'}",
    ]
    mine = tmp_path / "mine.db"
    made = invoke(["--store", option, "enqueue", "x", "--sqlite", str(mine)], env)
    assert made.exit_code == 0 and mine.exists() and not Path(option).exists()


def test_a_plain_path_is_a_sqlite_file(
    tmp_path: Path, env: dict[str, str], dashboard: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert invoke(["--store", "rel.db"], env).exit_code == 0
    assert invoke(["--store", "sqlite:///rel.db"], env).exit_code == 0
    assert dashboard == [f"sqlite:///{tmp_path}/rel.db", "sqlite:///rel.db"]
    assert_one_line_error(invoke(["ls", "--store", "sqlite://rel.db"], env), "invalid SQLite URI")
    for value in (f" mongodb://user:{SECRET}@h/db", f"user:{SECRET}@h/db", f"mongodb:user:{SECRET}@h"):
        line = assert_one_line_error(
            invoke(["ls", "--store", value], env), "--store expects a store URI (scheme://…) or a file path"
        )
        assert SECRET not in line
    assert_one_line_error(invoke(["ls", "--store", " "], env), "--store was given an empty value")
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_password_env_fills_any_uri_with_a_user_name(wrapped: str, tmp_path: Path) -> None:
    profile = Profile("w", store="wrapped://ops@db.example.com/jobs", password_env="PW")
    assert profile.uri({"PW": "p:w"}) == "wrapped://ops:p%3Aw@db.example.com/jobs"
    with pytest.raises(ValueError, match=r"password_env needs a user name in the URI"):
        Profile("w", store=wrapped, password_env="PW").uri({"PW": "x"})
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.w]\nstore = "wrapped://ops:{SECRET}@h/jobs"\n')
    problem = load_config(config).problem
    assert problem is not None and SECRET not in problem
    assert "line 2" in problem and "store: the URI holds a secret" in problem and "$JOBTUI_STORE" in problem


def test_the_store_variable_comes_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JOBTUI_MONGO_URI", "mongodb://h/db")
    monkeypatch.setenv("JOBTUI_STORE", str(tmp_path / "jobs.db"))
    assert resolve_uri() == f"sqlite:///{tmp_path}/jobs.db"
    assert resolve_uri(mongo="mongodb://other/db") == "mongodb://other/db"
    monkeypatch.setenv("JOBTUI_STORE", f"pg://u:{SECRET}@h/db")
    with pytest.raises(ValueError, match=r"^JOBTUI_STORE: unsupported URI scheme 'pg'") as info:
        resolve_uri()
    assert SECRET not in str(info.value)


def test_help_names_the_store_option(env: dict[str, str]) -> None:
    for args in (["--help"], ["ls", "--help"], ["work", "--help"]):
        shown = invoke(args, {**env, "COLUMNS": "200"}).stdout
        assert "--store" in shown and "Shorthand for --store" in shown, args
