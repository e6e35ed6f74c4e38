"""The filter language's regular expressions (RE2 syntax) as PostgreSQL patterns (``~``).

PostgreSQL's own regular expressions (ARE) differ from RE2 in many details: ``\\b`` is a
backspace there, ``\\w``, ``\\d`` and case-insensitive matching follow the collation, ``.``
matches a newline, ``{n}`` stops at 255, flags cannot be switched inside a pattern. So a
pattern is not passed on as written: :func:`translate` parses it (RE2's grammar; only patterns
RE2 accepted reach it, see :mod:`queuecore._regex`) and writes the same language in the
constructs both agree on: every character set spelled out as code-point ranges (``\\uXXXX``),
case-insensitivity as the case-folding orbits of each letter, computed with RE2 itself, so
``(?i)é`` matches ``É`` whatever the server's locale; ``.`` as "anything but a newline",
``^``/``$`` with ``(?m)`` as lookarounds, ``\\b`` as ``\\y``, large counts split into pieces
of at most 255. Text holding NUL is stored encoded (:mod:`.text`); the sets that contain NUL
or one of the encoding's characters match their codewords instead. Only "does it match" is
asked, so captures and greediness are left out.

A pattern this cannot translate raises :class:`Untranslatable` (the caller's
``QueryRefused``); a translation too large for PostgreSQL is refused by the server.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable

import re2

from . import text as pgtext

MAX = 0x10FFFF
#: A set of code points: sorted, disjoint, non-adjacent inclusive ranges.
Ranges = list[tuple[int, int]]
#: PostgreSQL's largest repetition count.
DUPMAX = 255


class Untranslatable(ValueError):
    """A pattern that cannot be written as a PostgreSQL regular expression."""


def _norm(ranges: Iterable[tuple[int, int]]) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _negate(ranges: Ranges) -> Ranges:
    out: Ranges = []
    at = 0
    for lo, hi in ranges:
        if lo > at:
            out.append((at, lo - 1))
        at = hi + 1
    if at <= MAX:
        out.append((at, MAX))
    return out


def _chars(text: str) -> Ranges:
    return _norm((ord(c), ord(c)) for c in text)


_ASCII = {
    "alnum": [(48, 57), (65, 90), (97, 122)],
    "alpha": [(65, 90), (97, 122)],
    "ascii": [(0, 127)],
    "blank": [(9, 9), (32, 32)],
    "cntrl": [(0, 31), (127, 127)],
    "digit": [(48, 57)],
    "graph": [(33, 126)],
    "lower": [(97, 122)],
    "print": [(32, 126)],
    "punct": [(33, 47), (58, 64), (91, 96), (123, 126)],
    "space": [(9, 13), (32, 32)],
    "upper": [(65, 90)],
    "word": [(48, 57), (65, 90), (95, 95), (97, 122)],
    "xdigit": [(48, 57), (65, 70), (97, 102)],
}
_PERL = {"d": _ASCII["digit"], "s": [(9, 10), (12, 13), (32, 32)], "w": _ASCII["word"]}


@functools.lru_cache(maxsize=1)
def _all_text() -> str:
    """Every code point but the surrogates, as one string (to scan with RE2)."""
    return "".join(chr(c) for c in range(MAX + 1) if not 0xD800 <= c <= 0xDFFF)


@functools.lru_cache(maxsize=64)
def _unicode_class(name: str) -> tuple[tuple[int, int], ...]:
    """The code points RE2's ``\\p{name}`` matches (its own Unicode tables)."""
    try:
        pattern = re2.compile(f"\\p{{{name}}}+")
    except re2.error:
        raise Untranslatable(f"unknown Unicode class {name!r}") from None
    found = [(ord(m.group()[0]), ord(m.group()[-1])) for m in pattern.finditer(_all_text())]
    return tuple(_norm(found))


@functools.lru_cache(maxsize=1)
def _orbits() -> tuple[list[int], dict[int, tuple[int, ...]]]:
    """RE2's case-folding orbits: for every code point that has other cases, all of them
    (found by matching each one case-insensitively against every candidate with RE2)."""
    candidates: set[int] = set()
    for c in range(0x1F000):
        ch = chr(c)
        if 0xD800 <= c <= 0xDFFF:
            continue
        if ch.lower() != ch or ch.upper() != ch or ch.casefold() != ch or ch.title() != ch:
            candidates.add(c)
            for other in (ch.lower(), ch.upper(), ch.casefold(), ch.title()):
                if len(other) == 1:
                    candidates.add(ord(other))
    pool = "".join(chr(c) for c in sorted(candidates))
    options = re2.Options()
    options.case_sensitive = False
    orbits: dict[int, tuple[int, ...]] = {}
    for c in sorted(candidates):
        if c in orbits:
            continue
        members = {ord(m.group()) for m in re2.compile(re2.escape(chr(c)), options).finditer(pool)} | {c}
        if len(members) > 1:
            orbit = tuple(sorted(members))
            for m in orbit:
                orbits[m] = orbit
    return sorted(orbits), orbits


def _fold(ranges: Ranges) -> Ranges:
    """``ranges`` with every other case of each of its letters added."""
    keys, orbits = _orbits()
    extra: list[tuple[int, int]] = []
    for lo, hi in ranges:
        for i in range(bisect.bisect_left(keys, lo), bisect.bisect_right(keys, hi)):
            extra.extend((m, m) for m in orbits[keys[i]])
    return _norm([*ranges, *extra]) if extra else ranges


def _escape(c: int) -> str:
    ch = chr(c)
    if ch.isascii() and ch.isalnum():
        return ch
    return f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"


_SPECIALS = {ord(c): word for c, word in pgtext.CODEWORDS.items()}


def _set_sql(ranges: Ranges) -> str:
    """A set of code points as a pattern matching one (stored) character of it."""
    words = [
        "".join(_escape(ord(c)) for c in word) for special, word in _SPECIALS.items() if _has(ranges, special)
    ]
    plain = _minus(ranges, sorted(_SPECIALS))
    parts = []
    if plain:
        body = "".join(_escape(lo) if lo == hi else f"{_escape(lo)}-{_escape(hi)}" for lo, hi in plain)
        parts.append(body if len(plain) == 1 and plain[0][0] == plain[0][1] else f"[{body}]")
    parts.extend(words)
    if not parts:
        return "[^\\u0001-\\U0010ffff]"  # nothing (no stored text holds U+0000)
    return parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"


def _has(ranges: Ranges, c: int) -> bool:
    return any(lo <= c <= hi for lo, hi in ranges)


def _minus(ranges: Ranges, points: list[int]) -> Ranges:
    """``ranges`` without these code points."""
    out = ranges
    for c in points:
        out = [
            piece
            for lo, hi in out
            for piece in ((lo, min(hi, c - 1)), (max(lo, c + 1), hi))
            if piece[0] <= piece[1]
        ]
    return out


class _Parser:
    """RE2's grammar, written out as a PostgreSQL pattern while it is read."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.p[j] if j < len(self.p) else ""

    def take(self) -> str:
        c = self.peek()
        self.i += 1
        return c

    def parse(self) -> str:
        out = self.alternation({"i": True, "m": False, "s": False})
        if self.i < len(self.p):
            raise Untranslatable(f"unexpected {self.peek()!r}")
        return out

    def alternation(self, flags: dict[str, bool]) -> str:
        branches = [self.sequence(flags)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence(flags))
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    def sequence(self, flags: dict[str, bool]) -> str:
        out: list[str] = []
        while self.i < len(self.p) and self.peek() not in "|)":
            atom = self.atom(flags)
            if atom is None:
                continue
            out.append(self.repeat(atom))
        return "".join(out)

    def repeat(self, atom: str) -> str:
        while True:
            c = self.peek()
            if c in ("*", "+", "?"):
                self.i += 1
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            elif c == "{" and (counts := self.counts()) is not None:
                lo, hi = counts
            else:
                return atom
            if self.peek() == "?":  # lazy: the same matches exist
                self.i += 1
            atom = _repeat(atom, lo, hi)

    def counts(self) -> tuple[int, int | None] | None:
        j = self.p.find("}", self.i)
        if j < 0:
            return None
        body = self.p[self.i + 1 : j]
        lo, comma, hi = body.partition(",")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None  # a literal "{" (RE2 reads it so)
        self.i = j + 1
        return int(lo), (int(hi) if hi else None) if comma else int(lo)

    def atom(self, flags: dict[str, bool]) -> str | None:
        c = self.take()
        if c == "(":
            return self.group(flags)
        if c == "[":
            return _set_sql(self.bracket(flags))
        if c == ".":
            return _set_sql(_negate([]) if flags["s"] else _negate([(10, 10)]))
        if c == "^":
            return "(?:^|(?<=\\n))" if flags["m"] else "^"
        if c == "$":
            return "(?:$|(?=\\n))" if flags["m"] else "$"
        if c == "\\":
            return self.escape(flags)
        return self.literal(ord(c), flags)

    def literal(self, c: int, flags: dict[str, bool]) -> str:
        ranges = [(c, c)]
        return _set_sql(_fold(ranges) if flags["i"] else ranges)

    def group(self, flags: dict[str, bool]) -> str | None:
        inner = dict(flags)
        if self.peek() == "?":
            self.i += 1
            if self.peek() == "P" or (self.peek() == "<" and self.peek(1) not in "=!"):
                self.i = self.p.index(">", self.i) + 1  # a named group
            else:
                on = True
                while (c := self.take()) not in (":", ")"):
                    if c == "-":
                        on = False
                    elif c in "imsU":
                        if c != "U":
                            inner[c] = on
                    else:
                        raise Untranslatable(f"unknown flag {c!r}")
                if c == ")":  # (?flags): for the rest of the enclosing group
                    flags.update(inner)
                    return None
        body = self.alternation(inner)
        if self.take() != ")":
            raise Untranslatable("missing )")
        return f"(?:{body})"

    def escape(self, flags: dict[str, bool]) -> str:
        c = self.take()
        if c == "A":
            return "^"
        if c == "z":
            return "$"
        if c == "b":
            return "\\y"
        if c == "B":
            return "\\Y"
        if c == "Q":
            end = self.p.find("\\E", self.i)
            end = len(self.p) if end < 0 else end
            literal, self.i = self.p[self.i : end], min(len(self.p), end + 2)
            return "".join(self.literal(ord(ch), flags) for ch in literal)
        if c == "E":
            return ""
        ranges = self.class_escape(c, flags["i"])
        if ranges is not None:
            return _set_sql(ranges)
        return self.literal(self.char_escape(c), flags)

    def class_escape(self, c: str, fold: bool) -> Ranges | None:
        """``\\d``, ``\\pL``… (after the backslash), or None for a single-character escape;
        with ``fold``, as RE2 folds case: a negated class is the complement of the folded one."""
        if c.lower() in _PERL:
            ranges = _norm(_PERL[c.lower()])
            ranges = _fold(ranges) if fold else ranges
            return _negate(ranges) if c.isupper() else ranges
        if c in ("p", "P"):
            if self.peek() == "{":
                end = self.p.index("}", self.i)
                name, self.i = self.p[self.i + 1 : end], end + 1
            else:
                name = self.take()
            negated = c == "P"
            if name.startswith("^"):
                name, negated = name[1:], not negated
            ranges = list(_unicode_class(name))
            ranges = _fold(ranges) if fold else ranges
            return _negate(ranges) if negated else ranges
        return None

    def char_escape(self, c: str) -> int:
        """The code point of a single-character escape (after the backslash)."""
        simple = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
        if c in simple:
            return simple[c]
        if c == "x":
            if self.peek() == "{":
                end = self.p.index("}", self.i)
                digits, self.i = self.p[self.i + 1 : end], end + 1
            else:
                digits = self.p[self.i : self.i + 2]
                self.i += 2
            return int(digits, 16)
        if c in "01234567":
            digits = c
            while len(digits) < 3 and self.peek() in tuple("01234567"):
                digits += self.take()
            return int(digits, 8)
        if c and not c.isalnum():
            return ord(c)
        raise Untranslatable(f"unknown escape \\{c}")

    def bracket(self, flags: dict[str, bool]) -> Ranges:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            c = self.peek()
            if c == "":
                raise Untranslatable("missing ]")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if self.p.startswith("[:", self.i):
                end = self.p.index(":]", self.i)
                name, self.i = self.p[self.i + 2 : end], end + 2
                posix_negated = name.startswith("^")
                posix = _norm(_ASCII[name.lstrip("^")])
                posix = _fold(posix) if flags["i"] else posix
                ranges.extend(_negate(posix) if posix_negated else posix)
                continue
            lo = self.class_char(ranges, flags["i"])
            if lo is None:
                continue
            hi = lo
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                last = self.class_char(ranges, flags["i"])
                if last is None:
                    raise Untranslatable("bad range")
                hi = last
            ranges.extend(_fold([(lo, hi)]) if flags["i"] else [(lo, hi)])
        result = _norm(ranges)
        return _negate(result) if negated else result

    def class_char(self, ranges: list[tuple[int, int]], fold: bool) -> int | None:
        """One character of a bracket (a class escape is added to ``ranges``: None)."""
        c = self.take()
        if c != "\\":
            return ord(c)
        e = self.take()
        found = self.class_escape(e, fold)
        if found is not None:
            ranges.extend(found)
            return None
        return self.char_escape(e)


def _repeat(atom: str, lo: int, hi: int | None) -> str:
    """``atom`` repeated ``lo`` to ``hi`` (None: any number of) times, in pieces of at most 255."""
    group = f"(?:{atom})"
    pieces = []
    left = lo
    while left > DUPMAX:
        pieces.append(f"{group}{{{DUPMAX}}}")
        left -= DUPMAX
    if hi is None:
        pieces.append(group + ("*" if left == 0 else "+" if left == 1 else f"{{{left},}}"))
        return "".join(pieces)
    if left:
        pieces.append(f"{group}{{{left}}}" if left > 1 else group)
    more = hi - lo
    while more > 0:
        step = min(more, DUPMAX)
        pieces.append(f"{group}?" if step == 1 else f"{group}{{0,{step}}}")
        more -= step
    return "".join(pieces) or "(?:)"


@functools.lru_cache(maxsize=128)
def translate(pattern: str) -> str:
    """A PostgreSQL pattern (case-sensitive ``~`` on stored text) matching what RE2 matches
    with the filter language's options (case-insensitive search anywhere)."""
    try:
        return _Parser(pattern).parse()
    except (IndexError, KeyError, ValueError) as exc:
        if isinstance(exc, Untranslatable):
            raise
        raise Untranslatable(f"cannot read {pattern!r}") from None


__all__ = ["Untranslatable", "translate"]
