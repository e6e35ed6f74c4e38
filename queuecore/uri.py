"""Store URIs: which engine a URI selects, and how to print one without its password."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def mask(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (safe to log and show).

    The user info ends at the last ``@`` before the query string, so even a
    password with an unescaped ``@`` or ``/`` is hidden whole.
    """
    match = _SCHEME.match(uri)
    if not match:
        return uri
    scheme, rest = match.group(0), uri[match.end() :]
    head = rest.split("?", 1)[0]
    at = head.rfind("@")
    if at < 0:
        return uri
    user, colon, _password = head[:at].partition(":")
    if not colon:
        return uri
    return f"{scheme}{user}:***@{rest[at + 1 :]}"


def is_mongo(uri: str) -> bool:
    """Whether ``uri`` selects the MongoDB engine."""
    return uri.startswith(("mongodb://", "mongodb+srv://"))


def sqlite_path(uri: str) -> Path:
    """The file path of a ``sqlite:///relative``, ``sqlite:////absolute`` or plain-path URI."""
    if uri.startswith("sqlite://"):
        rest = uri[len("sqlite://") :]
        if not rest.startswith("/"):
            raise ValueError(f"invalid SQLite URI {uri!r}: expected sqlite:///relative/file.db")
        rest = rest[1:]  # sqlite:///x → x (relative); sqlite:////x → /x (absolute)
        path = unquote(rest.split("?", 1)[0])
        if not path:
            raise ValueError(f"invalid SQLite URI {uri!r}: no file name")
        return Path(path)
    if "://" in uri:
        scheme = uri.split("://", 1)[0]
        raise ValueError(
            f"unsupported URI scheme {scheme!r} in {mask(uri)!r}: "
            "use mongodb://, mongodb+srv://, sqlite:/// or a file path"
        )
    if not uri.strip():
        raise ValueError("empty store URI")
    return Path(uri).expanduser()
