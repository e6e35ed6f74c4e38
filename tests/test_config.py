"""The user config file: TOML loading, connection profiles, saved filters, bad files, key remapping.

The file is found through ``$JOBTUI_CONFIG`` here (never the real user config directory).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.targets import StoreTarget
from support.tui import enqueue, notes, started, static_text, wait_for
from textual.widgets import Static
from typer.testing import CliRunner

import jobtui.cli
import jobtui.cli.root
from jobtui.config import ENV_CONFIG, Profile, config_path, load_config, save_filter
from jobtui.tui.app import JobTUI
from jobtui.tui.screens import ConfirmScreen, HelpScreen

SAMPLE = """\
# jobtui settings
[keys]
cancel = "k"
help = "f1"

[filters]
failed_mail = "status:failed name:send-mail"

[profiles.prod]
mongo = "mongodb://ops@db.example.com:27017/jobs"
collection = "prod_jobs"
password_env = "PROD_MONGO_PASSWORD"
read_only = true

[profiles.local]
sqlite = "./jobs.db"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- loading ------------------------------------------------------------------------------


def test_loads_keys_filters_and_profiles(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SAMPLE))
    assert config.problem is None
    assert config.keys == {"cancel": "k", "help": "f1"}
    assert config.key_lines == {"cancel": 3, "help": 4}
    assert config.filters == {"failed_mail": "status:failed name:send-mail"}
    assert config.profiles["prod"] == Profile(
        "prod",
        mongo="mongodb://ops@db.example.com:27017/jobs",
        collection="prod_jobs",
        password_env="PROD_MONGO_PASSWORD",
        read_only=True,
    )
    assert config.profiles["local"].sqlite == "./jobs.db"


def test_the_path_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CONFIG, str(tmp_path / "mine.toml"))
    assert config_path() == tmp_path / "mine.toml"
    monkeypatch.delenv(ENV_CONFIG)
    assert config_path().name == "config.toml" and "jobtui" in str(config_path())
    missing = load_config(tmp_path / "absent.toml")
    assert missing.problem is None and missing.keys == {} and missing.profiles == {}


def test_profile_password_comes_from_the_environment_never_the_file(tmp_path: Path) -> None:
    prod = load_config(write(tmp_path, SAMPLE)).profile("prod")
    uri = prod.uri({"PROD_MONGO_PASSWORD": "s3cr:t/@pw"})
    assert uri == "mongodb://ops:s3cr%3At%2F%40pw@db.example.com:27017/jobs"
    with pytest.raises(ValueError, match=r"PROD_MONGO_PASSWORD .* is not set"):
        prod.uri({})
    # a password written into the file is refused, with its line
    bad = load_config(write(tmp_path, '[profiles.x]\nmongo = "mongodb://ops:hunter2@h/db"\n'))
    assert bad.problem is not None and "line 2" in bad.problem and "password_env" in bad.problem
    assert "hunter2" not in bad.problem
    assert bad.profiles == {}


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        # an unescaped "/" in the password: still a password in the user info
        ("mongodb://ops:hun/ter2@h/db", "a password in the user info"),
        ("mongodb://ops@h/db?password=hunter2", "option password"),
        (
            "mongodb://ops@h/db?tls=true&tlsCertificateKeyFilePassword=hunter2",
            "option tlsCertificateKeyFilePassword",
        ),
        ("mongodb://ops@h/db?proxyHost=p&proxyPassword=hunter2", "option proxyPassword"),
        ("mongodb://ops@h/db?ssl_pem_passphrase=hunter2", "option ssl_pem_passphrase"),
        (
            "mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:hunter2",
            "authMechanismProperties AWS_SESSION_TOKEN",
        ),
        # percent-encoded separators: named, the value never quoted
        (
            "mongodb://ops@127.0.0.1:1/db?authMechanismProperties=AWS_SESSION_TOKEN%3Ahunter2",
            "authMechanismProperties AWS_SESSION_TOKEN",
        ),
        (
            "mongodb://h/db?authMechanismProperties=SERVICE_NAME%3Amongodb%2CAWS_SESSION_TOKEN%3Ahunter2",
            "authMechanismProperties AWS_SESSION_TOKEN",
        ),
        ("mongodb://ops@h/db?tlsCertificateKeyFilePassword%3Dhunter2", "option tlsCertificateKeyFile"),
        # no separator at all: the name may hold the value, so it is not quoted
        ("mongodb://ops@h/db?tlsCertificateKeyFilePasswordhunter2", "named like a secret (not shown)"),
        ("mongodb://h/db?authMechanismProperties=AWS_SESSION_TOKENhunter2", "like a secret (not shown)"),
    ],
)
def test_a_profile_uri_holding_any_secret_is_refused(tmp_path: Path, uri: str, named: str) -> None:
    """As the README says: a password in the user info, an option named like a password,
    passphrase, secret or token, or such an authMechanismProperties entry — refused with the
    line, the secret never quoted; also when the CLI is asked for that profile."""
    path = write(tmp_path, f'[profiles.prod]\ncollection = "jobs"\nmongo = "{uri}"\n')
    bad = load_config(path)
    assert bad.problem is not None and bad.profiles == {}
    assert bad.problem.startswith(f"config file {path}, line 3: "), bad.problem
    assert named in bad.problem and "password_env" in bad.problem
    assert "hunter2" not in bad.problem
    result = CliRunner().invoke(jobtui.cli.app, ["--profile", "prod", "stats"], env={ENV_CONFIG: str(path)})
    assert result.exit_code == 1 and "no profile 'prod'" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_a_profile_uri_without_secrets_is_kept(tmp_path: Path) -> None:
    """Options that only look like secrets by their place are fine (OIDC's TOKEN_RESOURCE)."""
    uri = "mongodb://ops@h/db?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:api"
    config = load_config(write(tmp_path, f'[profiles.p]\nmongo = "{uri}"\n'))
    assert config.problem is None and config.profiles["p"].mongo == uri


@pytest.mark.parametrize(
    "value",
    [
        "mongodb://ops:hunter2@h/db",
        " mongodb://ops:hunter2@h/db",  # whitespace around a scheme
        "mongodb:ops:hunter2@h",  # a scheme without "//"
        "sqlite:ops:hunter2@x.db",
        "ops:hunter2@h/db",  # credentials, no scheme: the masker hides them
    ],
)
def test_a_profile_sqlite_value_of_another_scheme_is_refused(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f'[profiles.p]\nsqlite = "{value}"\n')
    bad = load_config(path)
    assert bad.problem is not None and bad.profiles == {}
    assert "line 2" in bad.problem and "sqlite:///" in bad.problem and "hunter2" not in bad.problem


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ('[keys]\ncancel = "C"\nhelp = \n', 3, "Invalid value"),
        ("[keys]\ncancel = 3\n", 2, "expected keys as a string"),
        ('[filters]\n"bad name" = "x"\n', 2, "a name is letters, digits"),
        ('[profiles.p]\nsqlite = "a.db"\nhost = "h"\n', 3, "unknown key 'host'"),
        ('[profiles.p]\ncollection = "c"\n', 1, 'needs exactly one of store = "URI", mongo'),
        ('[profiles.p]\nstore = "a.db"\nsqlite = "b.db"\n', 1, "needs exactly one of store"),
        ('[profiles.p]\nmongo = "sqlite:///x.db"\n', 1, "expected a mongodb:// URI"),
        ("colour = 'red'\n", 1, "unknown setting 'colour'"),
    ],
)
def test_a_bad_file_is_one_message_naming_file_and_line(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    path = write(tmp_path, text)
    config = load_config(path)
    assert config.problem is not None
    assert config.problem.startswith(f"config file {path}, line {line}: "), config.problem
    assert needle in config.problem
    assert "\n" not in config.problem
    # the defaults are used
    assert config.keys == {} and config.filters == {} and config.profiles == {}


def test_save_filter_edits_one_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, SAMPLE)
    save_filter(path, "mine", 'name:"a b" reason:~"x\\"y"')
    save_filter(path, "failed_mail", "status:failed")
    text = path.read_text(encoding="utf-8")
    assert text.startswith('# jobtui settings\n[keys]\ncancel = "k"')
    config = load_config(path)
    assert config.problem is None
    assert config.filters == {"failed_mail": "status:failed", "mine": 'name:"a b" reason:~"x\\"y"'}
    assert config.profiles["prod"].password_env == "PROD_MONGO_PASSWORD"
    # a new file gets a [filters] section
    fresh = tmp_path / "sub" / "new.toml"
    save_filter(fresh, "a", "b")
    assert load_config(fresh).filters == {"a": "b"}


# -- the CLI -------------------------------------------------------------------------------


def profile_for(target: StoreTarget) -> str:
    return f'[profiles.here]\nstore = "{target.uri}"\ncollection = "{target.collection}"\n'


def test_cli_profile_connects_with_its_store_and_collection(target: StoreTarget, tmp_path: Path) -> None:
    path = write(tmp_path, profile_for(target))
    runner = CliRunner()
    env = {ENV_CONFIG: str(path)}
    made = runner.invoke(jobtui.cli.app, ["--profile", "here", "enqueue", "via-profile"], env=env)
    assert made.exit_code == 0, made.stderr
    listed = runner.invoke(jobtui.cli.app, ["--profile", "here", "ls", "--json"], env=env)
    assert [j["name"] for j in json.loads(listed.stdout)] == ["via-profile"]
    unknown = runner.invoke(jobtui.cli.app, ["--profile", "nope", "ls"], env=env)
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == f"error: no profile 'nope' in {path} (profiles: here)"
    both = runner.invoke(jobtui.cli.app, ["--profile", "here", "ls", "--sqlite", "x.db"], env=env)
    assert both.exit_code == 1 and "either --profile or --store/--mongo/--sqlite" in both.stderr


def test_cli_read_only_profile_refuses_changes(target: StoreTarget, tmp_path: Path) -> None:
    path = write(tmp_path, profile_for(target) + "read_only = true\n")
    result = CliRunner().invoke(
        jobtui.cli.app, ["--profile", "here", "enqueue", "x"], env={ENV_CONFIG: str(path)}
    )
    assert result.exit_code == 1 and "read-only" in result.stderr


@pytest.fixture
def dashboard(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Captures what ``jobtui`` (no subcommand) would start the dashboard with."""
    calls: list[dict[str, Any]] = []

    def fake(target: Any, **kw: Any) -> None:
        calls.append({"uri": target.uri, "collection": target.collection, **kw})

    monkeypatch.setattr(jobtui.cli.root, "run_dashboard", fake)
    return calls


def test_cli_dashboard_profile_takes_the_password_from_the_environment(
    tmp_path: Path, dashboard: list[dict[str, Any]]
) -> None:
    path = write(tmp_path, SAMPLE)
    env = {ENV_CONFIG: str(path), "PROD_MONGO_PASSWORD": "pa:ss"}
    result = CliRunner().invoke(jobtui.cli.app, ["--profile", "prod"], env=env)
    assert result.exit_code == 0, result.stderr
    (call,) = dashboard
    assert call["uri"] == "mongodb://ops:pa%3Ass@db.example.com:27017/jobs"
    assert call["collection"] == "prod_jobs" and call["read_only"] is True
    assert call["config"].keys == {"cancel": "k", "help": "f1"}
    assert "pa:ss" not in result.stdout + result.stderr
    missing = CliRunner().invoke(jobtui.cli.app, ["--profile", "prod"], env={ENV_CONFIG: str(path)})
    assert missing.exit_code == 1
    assert "PROD_MONGO_PASSWORD" in missing.stderr and len(missing.stderr.splitlines()) == 1


def test_cli_bad_config_warns_and_starts_with_defaults(
    tmp_path: Path, dashboard: list[dict[str, Any]]
) -> None:
    path = write(tmp_path, "[keys]\ncancel = \n")
    db = tmp_path / "jobs.db"
    result = CliRunner().invoke(jobtui.cli.app, ["--sqlite", str(db)], env={ENV_CONFIG: str(path)})
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"warning: config file {path}, line 2: ")
    assert len(result.stderr.splitlines()) == 1
    (call,) = dashboard
    assert call["config"].keys == {} and call["config"].problem


# -- the dashboard ---------------------------------------------------------------------------


def make_app(target: StoreTarget, path: Path) -> JobTUI:
    return JobTUI(target.uri, collection=target.collection, config=load_config(path))


async def test_remapped_key_runs_the_action_and_the_old_key_does_not(
    target: StoreTarget, store, tmp_path: Path
) -> None:
    await enqueue(store, "t")
    app = make_app(target, write(tmp_path, SAMPLE))
    async with app.run_test(size=(120, 50)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("c")  # the old key: nothing
        await pilot.pause()
        assert app.screen is app.jobs_screen
        await pilot.press("k")  # the new one asks to cancel
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is app.jobs_screen)
        footer = {b.binding.id: key for key, b in app.screen.active_bindings.items()}
        assert footer.get("cancel") == "k"
        # the help shows the remapped keys, and opens with the remapped key
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = static_text(app.screen.query_one("#help-keys", Static), width=120)
        assert any(line.split()[:2] == ["k", "Cancel"] for line in text.splitlines())
        assert any(line.split()[:2] == ["f1", "Help"] for line in text.splitlines())


async def test_remapping_onto_a_used_key_warns(target: StoreTarget, store, tmp_path: Path) -> None:
    await enqueue(store, "t")
    path = write(tmp_path, '[keys]\ncancel = "C"\n')
    app = make_app(target, path)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        await pilot.press("C")  # now the single-job cancel, as configured
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.question.startswith("Cancel job ")
        await wait_for(
            pilot,
            lambda: any(
                f"config file {path}, line 2: [keys] cancel takes the key 'C' of bulk-cancel" in n
                for n in notes(app)
            ),
        )


async def test_remapping_an_app_key_onto_a_screen_key_says_which_one_keeps_it(
    target: StoreTarget, store, tmp_path: Path
) -> None:
    await enqueue(store, "t")
    path = write(tmp_path, '[keys]\nhelp = "c"\n')
    app = make_app(target, path)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        warning = f"config file {path}, line 2: [keys] help = 'c': where cancel applies too, cancel keeps 'c'"
        await wait_for(pilot, lambda: any(warning in n for n in notes(app)))
        await pilot.press("c")  # on the jobs screen c still cancels, as the warning says
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.question.startswith("Cancel job ")


async def test_bad_config_in_the_dashboard_is_one_notification_and_defaults(
    target: StoreTarget, store, tmp_path: Path
) -> None:
    await enqueue(store, "t")
    path = write(tmp_path, '[keys]\ncancel = "k"\n[filters\n')
    app = make_app(target, path)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        await wait_for(pilot, lambda: any(f"config file {path}, line 3" in n for n in notes(app)))
        await pilot.press("c")  # the default key works
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))


async def test_unknown_binding_id_is_named_with_its_line(target: StoreTarget, store, tmp_path: Path) -> None:
    await enqueue(store, "t")
    path = write(tmp_path, '[keys]\nhelp = "f1"\ncancle = "k"\n')
    app = make_app(target, path)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(pilot, rows=1)
        await wait_for(
            pilot,
            lambda: any(
                f"config file {path}, line 3: unknown key binding id 'cancle'" in n for n in notes(app)
            ),
        )
        await pilot.press("f1")  # the valid entry still applies
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))


def test_every_binding_has_a_unique_id() -> None:
    from jobtui.tui.keymap import all_bindings, key_clashes

    ids = [b.id for b in all_bindings()]
    assert all(ids) and len(ids) == len(set(ids)) and len(ids) >= 40
    assert key_clashes({}) == []  # the defaults never take one another's key
    assert key_clashes({"cancel": "C"}) == [("cancel", "C", "bulk-cancel", True)]  # same screen: it wins
    # the app's help onto the jobs screen's cancel key: the screen's binding comes first
    assert key_clashes({"help": "c"}) == [
        ("help", "c", "cancel", False),
        ("help", "c", "detail-cancel", False),
    ]
    assert key_clashes({"cancel": "question_mark"}) == [("cancel", "question_mark", "help", True)]
