"""Where jobtui finds its store and its settings: options, environment, the user config file.

The user config file (TOML, ``$JOBTUI_CONFIG`` or ``config.toml`` in the user
config directory) holds key remappings (``[keys]``, binding id → keys), saved
filters (``[filters]``, name → filter text) and connection profiles
(``[profiles.NAME]``). A bad file never stops the dashboard: :func:`load_config`
returns the defaults and one message naming the file and line. Textual-free.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from platformdirs import user_config_dir, user_data_dir

from queuecore.errors import ConnectError
from queuecore.store import registry
from queuecore.uri import is_mongo, looks_like_uri, mask, secrets, sqlite_path

#: Environment variable naming the store (any engine's URI, or a SQLite file path), read
#: when no --store/--mongo/--sqlite option is given; it comes before the two below.
ENV_STORE = "JOBTUI_STORE"
#: Environment variable read when no option and no ``$JOBTUI_STORE`` is given (a MongoDB URI).
ENV_MONGO = "JOBTUI_MONGO_URI"
#: Environment variable that overrides the default SQLite file.
ENV_SQLITE = "JOBTUI_SQLITE"

#: The store options, in the order they are named in messages.
STORE_OPTIONS = ("--store", "--mongo", "--sqlite")


def default_sqlite_path() -> Path:
    """The embedded store used when nothing else is configured (user data directory)."""
    return Path(user_data_dir("jobtui", appauthor=False)) / "jobs.db"


def resolve_uri(*, store: str | None = None, mongo: str | None = None, sqlite: str | None = None) -> str:
    """The store URI from ``--store`` (or its shorthands ``--mongo``/``--sqlite``), then
    ``JOBTUI_STORE``, ``JOBTUI_MONGO_URI``, ``JOBTUI_SQLITE``, then the embedded default.
    Giving two of the options is an error; raises ValueError (masked) for a value that
    cannot be a store."""
    given = [option for option, value in zip(STORE_OPTIONS, (store, mongo, sqlite), strict=True) if value]
    if len(given) > 1:
        raise ValueError(f"give one of {', '.join(STORE_OPTIONS)}, not {' and '.join(given)}")
    if store:
        return store_uri(store, "--store")
    if mongo:
        return _mongo_uri(mongo, "--mongo")
    if sqlite:
        return _sqlite_uri(sqlite, "--sqlite")
    env_store = os.environ.get(ENV_STORE)
    if env_store:
        return store_uri(env_store, ENV_STORE)
    env_mongo = os.environ.get(ENV_MONGO)
    if env_mongo:
        return _mongo_uri(env_mongo, ENV_MONGO)
    env_sqlite = os.environ.get(ENV_SQLITE)
    if env_sqlite:
        return _sqlite_uri(env_sqlite, ENV_SQLITE)
    return f"sqlite:///{default_sqlite_path()}"


def store_uri(value: str, source: str) -> str:
    """``value`` (``--store``, ``$JOBTUI_STORE``, a profile's ``store =``) as a store URI: a URI
    of any scheme the engine registry knows (:mod:`queuecore.store.registry`, entry points
    included), kept as given, or a plain path, a SQLite file. A scheme no engine is known for
    is the registry's one-line error (the known schemes listed, the password masked)."""
    scheme = registry.scheme_of(value)
    if scheme is None or scheme == registry.PATH_SCHEME:
        return _sqlite_uri(value, source, expects="a store URI (scheme://…) or a file path")
    try:
        registry.check(value)
    except ConnectError as exc:
        raise ValueError(f"{source}: {exc}") from None
    return value


def _sqlite_uri(value: str, source: str, expects: str = "a file path or a sqlite:/// URI") -> str:
    """``value`` (a ``sqlite://`` URI or a file path) as a SQLite URI. Anything else that looks
    like a URI (:func:`queuecore.uri.looks_like_uri`: another scheme, with or without ``//`` or
    whitespace around it; ``user:pw@host``) is refused (masked), never taken for a relative
    path: ``--sqlite ' mongodb://user:pw@h/db'`` would create directories named after it,
    password and all. A malformed ``sqlite:`` URI (``sqlite://relative.db``) is explained here,
    before anything is opened."""
    if value.startswith("sqlite://") and mask(value) == value:
        sqlite_path(value)  # raises ValueError for a malformed one
        return value
    if looks_like_uri(value):
        scheme = registry.scheme_of(value.strip())
        other = scheme not in (None, registry.PATH_SCHEME) and source == "--sqlite"
        hint = f" (use --store for a {scheme}:// URI)" if other else ""
        raise ValueError(f"{source} expects {expects}, got {mask(value)!r}{hint}")
    return f"sqlite:///{Path(value).expanduser().absolute()}"


def _mongo_uri(uri: str, source: str) -> str:
    """``uri`` if it is a MongoDB URI; otherwise a clear error (never a SQLite file by accident)."""
    if not is_mongo(uri):
        raise ValueError(f"{source} expects a mongodb:// or mongodb+srv:// URI, got {mask(uri)!r}")
    return uri


# -- the user config file ----------------------------------------------------------

#: Environment variable naming the config file (instead of the user config directory's).
ENV_CONFIG = "JOBTUI_CONFIG"

#: Names of saved filters (usable as ``:filter NAME``).
FILTER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

_PROFILE_KEYS = {"store", "mongo", "sqlite", "collection", "password_env", "read_only"}
#: The keys naming a profile's store (exactly one is given).
_STORE_KEYS = ("store", "mongo", "sqlite")


class ConfigError(ValueError):
    """A problem with the config file: the message names the file and, when known, the line."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"config file {where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Profile:
    """A named connection (``[profiles.NAME]``): ``store`` (any engine's URI, or a file path),
    or one of its shorthands ``mongo``/``sqlite``; the password may come from ``password_env``."""

    name: str
    mongo: str | None = None
    sqlite: str | None = None
    collection: str | None = None
    password_env: str | None = None
    read_only: bool = False
    store: str | None = None

    def uri(self, environ: Mapping[str, str] | None = None) -> str:
        """The store URI, with the password from ``$password_env`` put in (never from the file):
        any URI with a user name takes one (``scheme://USER@host/…``)."""
        environ = os.environ if environ is None else environ
        where = f"profile {self.name!r}"
        if self.store:
            uri = store_uri(self.store, f"{where}: store")
        elif self.sqlite:
            uri = _sqlite_uri(self.sqlite, f"{where}: sqlite")
        else:
            assert self.mongo is not None
            uri = _mongo_uri(self.mongo, f"{where}: mongo")
        if not self.password_env:
            return uri
        password = environ.get(self.password_env)
        if password is None:
            raise ValueError(
                f"{where}: the environment variable {self.password_env} (password_env) is not set"
            )
        return _with_password(uri, password, where)


def _with_password(uri: str, password: str, where: str) -> str:
    """``uri`` (``scheme://USER@host/…``, any scheme) with ``password`` (percent-encoded) after
    its user name; a URI without a user name, or with a password already, is an error."""
    prefix, sep, rest = uri.partition("://")
    head, slash, tail = rest.partition("/")
    at = head.rfind("@")
    if not sep or at < 0:
        raise ValueError(f"{where}: password_env needs a user name in the URI (scheme://USER@host/…)")
    user = head[:at]
    if ":" in user:
        raise ValueError(
            f"{where}: the URI already holds a password; keep it out of the file and use password_env alone"
        )
    return f"{prefix}://{user}:{quote(password, safe='')}@{head[at + 1 :]}{slash}{tail}"


@dataclass
class UserConfig:
    """What the config file says (empty defaults when there is none or it is bad)."""

    #: Where it was read from (and where ``:save`` writes).
    path: Path
    #: Binding id → keys (``"C"``, ``"ctrl+x,f5"``).
    keys: dict[str, str] = field(default_factory=dict)
    #: Saved filters: name → filter text.
    filters: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    #: The one message about a bad file (the defaults are used then), else None.
    problem: str | None = None
    #: Line of each ``[keys]`` entry (for messages about unknown binding ids).
    key_lines: dict[str, int] = field(default_factory=dict)

    def profile(self, name: str) -> Profile:
        """The profile called ``name`` (a clear error naming the file when there is none)."""
        if name in self.profiles:
            return self.profiles[name]
        known = ", ".join(sorted(self.profiles)) or "none defined"
        extra = f" ({self.problem})" if self.problem else ""
        raise ValueError(f"no profile {name!r} in {self.path} (profiles: {known}){extra}")


def config_path() -> Path:
    """The config file: ``$JOBTUI_CONFIG``, else ``config.toml`` in the user config directory."""
    env = os.environ.get(ENV_CONFIG, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(user_config_dir("jobtui", appauthor=False)) / "config.toml"


def load_config(path: Path | None = None) -> UserConfig:
    """Read the config file; never raises. A missing file is an empty config; a bad one gives
    the defaults with ``problem`` set to one message naming the file and line."""
    path = config_path() if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserConfig(path)
    except (OSError, UnicodeDecodeError) as exc:
        return UserConfig(path, problem=str(ConfigError(path, f"cannot read it: {exc}")))
    try:
        return parse_config(text, path)
    except ConfigError as exc:
        return UserConfig(path, problem=str(exc))


def parse_config(text: str, path: Path) -> UserConfig:
    """The config from the file's ``text``; raises :class:`ConfigError` (with the line)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if found:
            problem = f"{message[: found.start()].strip()} (column {found.group(2)}); not valid TOML"
            raise ConfigError(path, problem, int(found.group(1))) from None
        raise ConfigError(path, f"not valid TOML: {message}") from None
    config = UserConfig(path)
    for key, value in raw.items():
        if key not in ("keys", "filters", "profiles"):
            raise ConfigError(
                path,
                f"unknown setting {key!r} (expected [keys], [filters], [profiles.NAME])",
                _line(text, key) or _section_line(text, key),
            )
        if not isinstance(value, dict):
            raise ConfigError(path, f"{key!r} must be a table ([{key}])", _line(text, key))
    for binding, keys in raw.get("keys", {}).items():
        line = _line(text, binding, "keys")
        if not isinstance(keys, str) or not keys.strip():
            raise ConfigError(
                path, f'[keys] {binding}: expected keys as a string, like "C" or "ctrl+x"', line
            )
        config.keys[binding] = ",".join(k.strip() for k in keys.split(",") if k.strip())
        if line:
            config.key_lines[binding] = line
    for name, query in raw.get("filters", {}).items():
        line = _line(text, name, "filters")
        if not FILTER_NAME.match(name):
            raise ConfigError(path, f"[filters] {name!r}: a name is letters, digits, - and _", line)
        if not isinstance(query, str):
            raise ConfigError(path, f"[filters] {name}: expected the filter as a string", line)
        config.filters[name] = query
    for name, spec in raw.get("profiles", {}).items():
        config.profiles[name] = _profile(text, path, name, spec)
    return config


def _profile(text: str, path: Path, name: str, spec: Any) -> Profile:
    section = f"profiles.{name}"
    line = _line(text, name, "profiles") or _section_line(text, section)
    if not isinstance(spec, dict):
        raise ConfigError(path, f"profile {name!r} must be a table ([profiles.{name}])", line)
    for key, value in spec.items():
        key_line = _line(text, key, section) or line
        if key not in _PROFILE_KEYS:
            raise ConfigError(
                path,
                f"[profiles.{name}] unknown key {key!r} (expected {', '.join(sorted(_PROFILE_KEYS))})",
                key_line,
            )
        expected = bool if key == "read_only" else str
        if not isinstance(value, expected):
            raise ConfigError(path, f"[profiles.{name}] {key}: expected a {expected.__name__}", key_line)
    if sum(1 for key in _STORE_KEYS if spec.get(key)) != 1:
        raise ConfigError(
            path,
            f'[profiles.{name}] needs exactly one of store = "URI", mongo = "URI" or sqlite = "PATH"',
            line,
        )
    if spec.get("mongo") and not is_mongo(spec["mongo"]):
        raise ConfigError(
            path, f"[profiles.{name}] mongo: expected a mongodb:// URI, got {mask(spec['mongo'])!r}", line
        )
    for key, env in (("store", ENV_STORE), ("mongo", ENV_MONGO)):
        found = secrets(spec.get(key) or "")
        if found:
            raise ConfigError(
                path,
                f"[profiles.{name}] {key}: the URI holds a secret ({', '.join(found)}); keep secrets "
                "out of the file: the password in an environment variable named by password_env, "
                f"a whole URI with other secrets in ${env}",
                _line(text, key, section) or line,
            )
    if spec.get("sqlite") and looks_like_uri(spec["sqlite"]):
        raise ConfigError(
            path,
            f"[profiles.{name}] sqlite: expected a path or a sqlite:/// URI, got {mask(spec['sqlite'])!r}",
            _line(text, "sqlite", section) or line,
        )
    return Profile(
        name,
        mongo=spec.get("mongo"),
        sqlite=spec.get("sqlite"),
        collection=spec.get("collection"),
        password_env=spec.get("password_env"),
        read_only=spec.get("read_only", False),
        store=spec.get("store"),
    )


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def _key_pattern(key: str) -> re.Pattern[str]:
    quoted = re.escape(key)
    return re.compile(rf"^\s*(?:{quoted}|\"{quoted}\"|'{quoted}')\s*[=.]")


def _section_of(header: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in header.split("."))


def _line(text: str, key: str, section: str = "") -> int | None:
    """The line (1-based) where ``key`` is set inside ``[section]`` (best effort, for messages)."""
    current = ""
    pattern = _key_pattern(key)
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            current = _section_of(header.group(1))
            if section and current == f"{section}.{key}":
                return number
            continue
        if current == section and pattern.match(line):
            return number
    return None


def _section_line(text: str, section: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and _section_of(header.group(1)) == section:
            return number
    return None


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string."""
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def save_filter(path: Path, name: str, query: str) -> None:
    """Write ``name = "query"`` into the ``[filters]`` section of the config file.

    Only that one line changes (added, or replaced when the name exists); the rest
    of the file is kept byte for byte. The result is re-read before it replaces the
    file, so a file this cannot edit safely is left alone (:class:`ConfigError`).
    """
    if not FILTER_NAME.match(name):
        raise ConfigError(path, f"cannot save filter {name!r}: a name is letters, digits, - and _")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise ConfigError(path, f"cannot read it: {exc}") from None
    parse_config(text, path)  # a bad file is reported, not edited
    entry = f"{name} = {_toml_string(query)}"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    existing = _line(text, name, "filters")
    start = _section_line(text, "filters")
    if existing is not None:
        lines[existing - 1] = entry + "\n"
    elif start is not None:
        insert = start
        for index in range(start, len(lines)):
            if _HEADER.match(lines[index]):
                break
            if lines[index].strip() and not lines[index].lstrip().startswith("#"):
                insert = index + 1
        lines.insert(insert, entry + "\n")
    else:
        if lines and lines[-1].strip():
            lines.append("\n")
        lines += ["[filters]\n", entry + "\n"]
    new = "".join(lines)
    try:
        check = parse_config(new, path)
    except ConfigError:
        check = None
    if check is None or check.filters.get(name) != query:
        raise ConfigError(path, f"cannot add the filter safely; add {entry} under [filters] by hand")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(new, encoding="utf-8")
    os.replace(temp, path)
