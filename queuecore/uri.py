"""Store URIs: which engine a URI selects, and how to print one without its password."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def mask(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (safe to log and show).

    The user info ends at the last ``@`` before the query string (or before the first
    ``/``, see :func:`_userinfo_end`), so even a password with an unescaped ``@``, ``/`` or
    ``?`` is hidden whole; a URI typed without
    its scheme (``user:pw@host``) and query options that carry secrets
    (``tlsCertificateKeyFilePassword=…``, tokens) are masked too.
    """
    match = _SCHEME.match(uri)
    scheme = match.group(0) if match else ""
    rest = uri[len(scheme) :]
    at = _userinfo_end(rest)
    head, question, query = rest[at + 1 :].partition("?")
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        head = f"{user}:***@{head}" if colon else f"{rest[: at + 1]}{head}"
    if query:
        query = _SECRET_PROPERTY.sub(r"\1***", _SECRET_OPTION.sub(r"\1***", query))
    return f"{scheme}{head}{question}{query}"


def _userinfo_end(rest: str) -> int:
    """The index of the ``@`` that ends the user info of ``rest`` (a URI after its scheme), or -1.

    The later of: the last ``@`` before the query string, and the last ``@`` of the host part
    as pymongo reads it (before the first ``/``, or before the first ``?`` when there is no
    ``/``), so a password with an unescaped ``@``, ``/`` or ``?`` is hidden whole, whichever
    way the URI is read, and an ``@`` in an option value is never taken for it.
    """
    host_part = rest.partition("/")[0] if "/" in rest else rest.partition("?")[0]
    return max(rest.partition("?")[0].rfind("@"), host_part.rfind("@"))


def password(uri: str) -> str:
    """The password in ``uri``'s user info as :func:`mask` finds it ('' when there is none), to
    scrub it from messages of other libraries that may quote it."""
    match = _SCHEME.match(uri)
    rest = uri[len(match.group(0)) :] if match else uri
    at = _userinfo_end(rest)
    return rest[:at].partition(":")[2] if at >= 0 else ""


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
