"""The shape of job data and results that every engine stores alike: one walk, no recursion.

``json.dumps`` quietly turns a key ``1`` (or ``None``, ``True``) into the string ``"1"``, SQLite
then stores that, and MongoDB's encoder refuses the same data (``InvalidDocument``); a key
holding NUL is refused by MongoDB alone. A lone surrogate (``"\\ud800"``, which a JSON parser
makes of the escape) is escaped by ``json.dumps``, so SQLite stores it, but it is not UTF-8
text: MongoDB refuses it, and every reader that writes it out (``jobtui show``, ``--json``, a
terminal) raises ``UnicodeEncodeError``. :func:`shape_problem` finds each of these, and data
nested too deeply, in one iterative walk, so that each engine refuses the same data with the
same message.

Keys starting with ``$`` or holding ``.`` are kept: both engines store them as given (the
data is a sub-document on MongoDB, where such field names are allowed).
"""

from __future__ import annotations

import re
from typing import Any

#: What :func:`shape_problem` returns for a value nested deeper than the limit.
TOO_DEEP = "too deep"

_SURROGATE = re.compile("[\ud800-\udfff]")


def shape_problem(value: Any, limit: int) -> str | None:
    """Why ``value`` (a dict, list or scalar) cannot be stored alike on every engine, or None:
    :data:`TOO_DEEP` when objects and arrays nest more than ``limit`` levels (``value`` is
    level 1), else a phrase naming the first key that is not a string or holds NUL, or the
    first key or string holding a lone surrogate. Never recurses (a value that contains
    itself is too deep); only strings that are neither ASCII nor printable are searched."""
    if isinstance(value, str):
        return _text_problem(value, "a string")
    if not isinstance(value, dict | list | tuple):
        return None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        container, level = stack.pop()
        if level > limit:
            return TOO_DEEP
        if isinstance(container, dict):
            for key in container:
                if not isinstance(key, str):
                    return f"{_key(key)} ({_a(type(key).__name__)}) is not a string"
                if "\0" in key:
                    return f"the key {_quoted(key)} holds NUL (\\u0000), which MongoDB cannot store"
                if not _plain(key) and (problem := _text_problem(key, "the key")):
                    return problem
            items: Any = container.values()
        else:
            items = container
        for item in items:
            if isinstance(item, str):
                if not _plain(item) and (problem := _text_problem(item, "a string")):
                    return problem
            elif isinstance(item, dict | list | tuple):
                stack.append((item, level + 1))
    return None


def _plain(text: str) -> bool:
    """Whether ``text`` surely holds no surrogate (they are not printable): one flag test for
    ASCII, one C scan for other printable text."""
    return text.isascii() or text.isprintable()


def as_message(text: str) -> str:
    """A reason or note as it can be stored: each lone surrogate (an exception quoting a file
    name ``os.fsdecode`` made) kept as ``\\udXXX`` text. A message is not data: refusing it
    would leave its job dequeued, as no engine can store it."""
    if _plain(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def text_problem(text: str, what: str) -> str | None:
    """Why ``text`` (``what``: "the job name"…) cannot be stored as UTF-8 text, or None."""
    return None if _plain(text) else _text_problem(text, what)


def _text_problem(text: str, what: str) -> str | None:
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return (
        f"{what} {_quoted(text)} holds the lone surrogate \\u{ord(found.group()):04x},"
        " which is not UTF-8 text"
    )


def _quoted(value: Any, width: int = 40) -> str:
    """``repr`` of a (possibly hostile) value, cut to ``width`` characters: ``repr`` escapes
    controls, bidi controls and surrogates, so the message is safe to print."""
    text = repr(value[:width] if isinstance(value, str) else value)
    return text if len(text) <= width + 2 else text[: width + 1] + "…"


def _key(key: Any) -> str:
    """A key that is not a string, named: its value when a scalar, else only its type (a
    tuple key may nest too deeply to ``repr``)."""
    return f"the key {_quoted(key)}" if key is None or isinstance(key, int | float) else "a key"


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun
