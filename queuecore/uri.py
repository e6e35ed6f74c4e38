"""Store URIs: their scheme, a SQLite path, and how to print one without its password."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, unquote_plus

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


#: What in a name marks its value as a secret (case-insensitively).
_SECRET_WORD = r"(?:password|passphrase|secret|token)"
#: An option's ``=`` or an ``authMechanismProperties`` entry's ``:``, also percent-encoded
#: (pymongo decodes the properties' value before it splits it: ``AWS_SESSION_TOKEN%3A…``).
_EQUALS = r"(?:=|%3D)"
_COLON = r"(?:[:]|%3A)"
#: Query options whose value is a secret (matched by name), and secret entries inside
#: ``authMechanismProperties`` (``AWS_SESSION_TOKEN:…``). The name stops at the first
#: separator, so everything after it is hidden.
_SECRET_OPTION = re.compile(
    rf"((?:^|[&;])(?:(?!{_EQUALS})[^=&;])*{_SECRET_WORD}(?:(?!{_EQUALS})[^=&;])*{_EQUALS})[^&;]*",
    re.IGNORECASE,
)
_SECRET_PROPERTY = re.compile(rf"([A-Z_]*{_SECRET_WORD}[A-Z_]*{_COLON})(?:(?!%2C)[^,&;])*", re.IGNORECASE)
#: A name that can be shown: nothing in it can be part of a value.
_SHOWN_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def secrets(uri: str) -> list[str]:
    """What in ``uri`` holds a secret, named for a message (never the secret itself, nor any
    value): "a password in the user info" (even an empty one, ``user:@host``), each option
    whose name says password, passphrase, secret or token (``tlsCertificateKeyFilePassword``,
    ``proxyPassword``), and each such ``authMechanismProperties`` entry
    (``AWS_SESSION_TOKEN``). Options are percent-decoded first (``…Password%3Dx``,
    ``AWS_SESSION_TOKEN%3Ax``), and a name is shown only when it has a separator after it
    and is plain letters, digits, ``_``, ``.``, ``-``. A config file must hold none of them
    (see jobtui.config)."""
    match = _SCHEME.match(uri)
    rest = uri[len(match.group(0)) :] if match else uri
    at = _userinfo_end(rest)
    found = ["a password in the user info"] if at >= 0 and ":" in rest[:at] else []
    query = rest[at + 1 :].partition("?")[2]
    for option in re.split("[&;]", query) if query else []:
        name, equals, value = unquote_plus(option).partition("=")
        if re.search(_SECRET_WORD, name, re.IGNORECASE):
            found.append(f"option {name}" if _shown(name, equals) else _MALFORMED)
        elif name.lower() == "authmechanismproperties":
            for entry in value.split(","):
                key, colon, _ = entry.partition(":")
                if re.search(_SECRET_WORD, key, re.IGNORECASE) and key.upper() not in _NOT_SECRET:
                    found.append(f"{name} {key}" if _shown(key, colon) else f"{name} {_MALFORMED}")
    return found


def _shown(name: str, separator: str) -> bool:
    """Whether ``name`` may be quoted in a message: it cannot hold a value."""
    return bool(separator) and _SHOWN_NAME.fullmatch(name) is not None


#: How a secret-like option or entry is named when its name may hold a value.
_MALFORMED = "a malformed option named like a secret (not shown)"


#: ``authMechanismProperties`` entries named like a secret that are not one (OIDC's audience).
_NOT_SECRET = {"TOKEN_RESOURCE"}


def is_mongo(uri: str) -> bool:
    """Whether ``uri`` is a MongoDB URI (``connect()`` itself picks the engine by the scheme,
    :mod:`queuecore.store.registry`; this is for checking a ``--mongo`` value)."""
    return uri.startswith(("mongodb://", "mongodb+srv://"))


def scheme(value: str) -> str | None:
    """The URI scheme ``value`` starts with (``mongodb`` of ``mongodb://…``), else None (a path)."""
    match = _SCHEME.match(value)
    return match.group(0)[:-3] if match else None


#: A ``scheme:`` prefix (``mongodb:``, ``sqlite:``, ``http:``), also without ``//``.
_SCHEME_PREFIX = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
#: A Windows drive (``C:\\jobs.db``, ``C:/jobs.db``): a path, not a scheme.
_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")


def looks_like_uri(value: str) -> bool:
    """Whether ``value``, given as a SQLite store (``--sqlite``, ``$JOBTUI_SQLITE``, a
    profile's ``sqlite =``), is some URI rather than a path, and must be refused rather than
    become a file named after it: a ``scheme:`` prefix (with or without ``//``, whitespace
    around it too) other than the ``sqlite:///`` forms, or anything :func:`mask` would hide
    (``user:pw@host``: the file would be named after the password)."""
    stripped = value.strip()
    prefixed = _SCHEME_PREFIX.match(stripped) is not None and _DRIVE.match(stripped) is None
    if prefixed and not (stripped.startswith("sqlite:///") and stripped == value):
        return True
    return mask(value) != value


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
    if looks_like_uri(uri):  # " mongodb://u:pw@h/db", "mongodb:u:pw@h", "u:pw@h/db"
        raise ValueError(
            f"a SQLite store is a file path or a sqlite:/// URI, not {mask(uri)!r}: "
            "use mongodb://, mongodb+srv://, sqlite:/// or a file path"
        )
    return Path(uri).expanduser()
