"""Where jobtui finds its store: command-line options, environment, defaults."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

from queuecore.uri import is_mongo, mask

#: Environment variable read when no --mongo/--sqlite option is given.
ENV_MONGO = "JOBTUI_MONGO_URI"
#: Environment variable that overrides the default SQLite file.
ENV_SQLITE = "JOBTUI_SQLITE"


def default_sqlite_path() -> Path:
    """The embedded store used when nothing else is configured (user data directory)."""
    return Path(user_data_dir("jobtui", appauthor=False)) / "jobs.db"


def resolve_uri(mongo: str | None = None, sqlite: str | None = None) -> str:
    """The store URI from ``--mongo``/``--sqlite``, then ``JOBTUI_MONGO_URI`` /
    ``JOBTUI_SQLITE``, then the embedded default. Passing both options is an error."""
    if mongo and sqlite:
        raise ValueError("give either --mongo or --sqlite, not both")
    if mongo:
        return _mongo_uri(mongo, "--mongo")
    if sqlite:
        return (
            sqlite if sqlite.startswith("sqlite://") else f"sqlite:///{Path(sqlite).expanduser().absolute()}"
        )
    env_mongo = os.environ.get(ENV_MONGO)
    if env_mongo:
        return _mongo_uri(env_mongo, ENV_MONGO)
    env_sqlite = os.environ.get(ENV_SQLITE)
    if env_sqlite:
        return resolve_uri(sqlite=env_sqlite)
    return f"sqlite:///{default_sqlite_path()}"


def _mongo_uri(uri: str, source: str) -> str:
    """``uri`` if it is a MongoDB URI; otherwise a clear error (never a SQLite file by accident)."""
    if not is_mongo(uri):
        raise ValueError(f"{source} expects a mongodb:// or mongodb+srv:// URI, got {mask(uri)!r}")
    return uri
