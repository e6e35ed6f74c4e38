"""The regular expressions of the filter language: RE2 (``google-re2``), linear in the text.

Python's ``re`` and PCRE backtrack, so a pattern such as ``(a+)+$`` over a 34-character name
never ends (and ``re`` holds the GIL meanwhile: the whole process stops). RE2 matches in time
linear in the text for every pattern it accepts, and refuses the constructs that would need
backtracking — backreferences, lookahead/lookbehind, atomic groups, possessive quantifiers —
at parse time, with one clear message (:class:`RegexError`). The same check applies to every
engine: MongoDB still evaluates the ``$regex`` itself, but only receives patterns RE2 accepts.

Semantics: a search anywhere in the text (like ``re.search``), case-insensitive (RE2's
``case_sensitive=False``, which folds case by Unicode's simple folding as ``re.IGNORECASE``
does), ``.`` not matching a newline, ``^``/``$`` anchoring the whole text. RE2 differs from
``re`` in that ``$`` never matches before a final newline (``\\z`` and ``$`` are the same) and
``\\w``, ``\\d``, ``\\s``, ``\\b`` are ASCII (``\\pL``, ``\\pN`` are the Unicode classes).
"""

from __future__ import annotations

import functools
from typing import Any

import re2

#: Compiled patterns kept (least recently used dropped): a filter is typed by a person, and
#: each RE2 object may hold up to RE2's default ``max_mem`` (8 MiB) of program and DFA cache.
CACHE_SIZE = 128

#: What RE2 refuses that Python's ``re`` or PCRE accept, by a piece of its error message.
_UNSUPPORTED = (
    ("operator: (?=", "lookahead"),
    ("operator: (?!", "lookahead"),
    ("operator: (?<=", "lookbehind"),
    ("operator: (?<!", "lookbehind"),
    ("operator: (?>", "atomic groups"),
    ("operator: (?(", "conditionals"),
    ("escape sequence: \\k", "backreferences"),
    ("escape sequence: \\g", "backreferences"),
    ("repetition operator: ", "possessive quantifiers"),
)
_HINT = "RE2 syntax, linear time: no backreferences, lookaround, atomic groups or possessive quantifiers"


class RegexError(ValueError):
    """A pattern the filter language does not accept; the message says why (and what instead)."""


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True  # only "does it match" is asked
    options.log_errors = False  # RE2 would print every refused pattern on stderr (the dashboard's terminal)
    return options


_OPTIONS = _options()


@functools.lru_cache(maxsize=CACHE_SIZE)
def compile(pattern: str) -> Any:
    """The compiled, case-insensitive pattern; raises :class:`RegexError` with a clear reason."""
    if not isinstance(pattern, str):
        raise RegexError(f"a regular expression must be text, not {type(pattern).__name__}")
    if "\\C" in pattern.replace("\\\\", ""):
        raise RegexError("\\C (one byte, not a character) is not supported")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise RegexError(_explain(pattern, exc)) from None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``text`` (``re.search`` semantics, case-insensitive)."""
    compiled = compile(pattern)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate (no UTF-8 form): matched as U+FFFD
        data = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()
    return compiled.search(data) is not None


def _explain(pattern: str, exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    message = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    digit = message.removeprefix("invalid escape sequence: \\")
    if message.startswith("invalid escape sequence: \\") and digit[:1].isdigit():
        return f"backreferences ({message.rsplit(' ', 1)[-1]}) are not supported ({_HINT})"
    if message == "invalid perl operator: (?P" and "(?P=" in pattern:
        return f"backreferences ((?P=name)) are not supported ({_HINT})"
    if message == "invalid escape sequence: \\Z":
        return "use \\z for the end of the text (RE2 syntax)"
    for piece, what in _UNSUPPORTED:
        if piece in message:
            return f"{what} {'is' if what in ('lookahead', 'lookbehind') else 'are'} not supported ({_HINT})"
    if message.startswith("invalid repetition size"):
        return f"{message} (a count is at most 1000)"
    if message.startswith("pattern too large"):
        return "the pattern is too large to run in linear time (fewer or smaller repetitions)"
    return message or "not a regular expression"


__all__ = ["CACHE_SIZE", "RegexError", "compile", "search"]
