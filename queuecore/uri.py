"""Store URIs: which engine a URI selects, and how to print one without its password."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def mask(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (safe to log and show).

    The user info ends at the last ``@`` before the query string, so even a
    password with an unescaped ``@`` or ``/`` is hidden whole; a URI typed without
    its scheme (``user:pw@host``) and query options that carry secrets
    (``tlsCertificateKeyFilePassword=…``, tokens) are masked too.
    """
    match = _SCHEME.match(uri)
    scheme = match.group(0) if match else ""
    head, question, query = uri[len(scheme) :].partition("?")
    at = head.rfind("@")
    if at >= 0:
        user, colon, _password = head[:at].partition(":")
        if colon:
            head = f"{user}:***@{head[at + 1 :]}"
    if query:
        query = _SECRET_PROPERTY.sub(r"\1***", _SECRET_OPTION.sub(r"\1***", query))
    return f"{scheme}{head}{question}{query}"


#: Query options whose value is a secret (matched by name, case-insensitively), and secret
#: entries inside ``authMechanismProperties`` (``AWS_SESSION_TOKEN:…``).
_SECRET_OPTION = re.compile(r"((?:^|[&;])[^=&;]*(?:password|secret|token)[^=&;]*=)[^&;]*", re.IGNORECASE)
_SECRET_PROPERTY = re.compile(r"([A-Z_]*(?:PASSWORD|SECRET|TOKEN)[A-Z_]*:)[^,&;]*", re.IGNORECASE)


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
