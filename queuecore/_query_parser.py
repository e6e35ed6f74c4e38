"""The parser of the filter language (:mod:`queuecore.query`), and the language's limits.

A filter is typed by a person, but it may also come from a file or a script: its size is
bounded where it is parsed, the same for every engine, so no engine meets a filter it cannot
run (SQLite refuses expression trees deeper than 1,000 and ``LIKE`` patterns over 50,000
bytes). Over a limit: one :class:`~queuecore.query.QueryError` naming it, at its position.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from . import _regex
from .query import (
    _SEGMENT,
    FIELDS,
    STATUS_VALUES,
    Query,
    QueryError,
    Term,
    _is_hex,
    _is_number,
    parse_duration,
)

#: Longest regex accepted (a filter is typed by a person; this bounds the cost of compiling).
MAX_REGEX = 500
#: Most characters in a whole filter (checked before anything is parsed).
MAX_QUERY_CHARS = 10_000
#: Most terms in a filter (each one is a condition: SQLite nests them).
MAX_TERMS = 200
#: Most characters in one term as typed (its field, operator, value and quotes).
MAX_TERM_CHARS = 1_000

_INT64 = (-(2**63), 2**63 - 1)
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATA_OPS = ("!=", "<=", ">=", "=", "<", ">", ":")
_CMP_OPS = ("<=", ">=", "<", ">")


class Parser:
    """Reads one filter text into a :class:`~queuecore.query.Query` (``Parser(text).parse()``)."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise QueryError(f"a filter must be text, not {type(text).__name__}")
        self.text = text
        self.pos = 0

    def parse(self) -> Query:
        if len(self.text) > MAX_QUERY_CHARS:
            raise QueryError(
                f"a filter is at most {MAX_QUERY_CHARS:,} characters (this one has {len(self.text):,})",
                MAX_QUERY_CHARS,
            )
        terms: list[Term] = []
        while True:
            self._skip_space()
            if self.pos >= len(self.text):
                return Query(tuple(terms))
            if len(terms) == MAX_TERMS:
                raise QueryError(
                    f"a filter has at most {MAX_TERMS} terms (name:a,b,c matches several names in one)",
                    self.pos,
                )
            start = self.pos
            terms.append(self._term())
            if self.pos - start > MAX_TERM_CHARS:
                raise QueryError(f"a term is at most {MAX_TERM_CHARS:,} characters", start)

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _at_end_of_term(self) -> bool:
        return self.pos >= len(self.text) or self.text[self.pos].isspace()

    def _term(self) -> Term:
        start = self.pos
        negated = False
        if self.text[self.pos] == "!":
            negated = True
            self.pos += 1
            if self._at_end_of_term():
                raise QueryError("'!' must be followed by a term (no space after it)", start)
            if self.text[self.pos] == "!":
                raise QueryError("use a single '!' to negate a term", self.pos)
        term = self._positive_term()
        return Term(term.field, term.op, term.values, term.path, negated)

    def _positive_term(self) -> Term:
        start = self.pos
        if self.text[self.pos] == '"':
            value = self._quoted()
            if not value:
                raise QueryError("empty search text", start)
            return Term("text", ":", (value,))
        match = _FIELD.match(self.text, self.pos)
        if match is not None:
            name = match.group(0).lower()
            end = match.end()
            if name == "data" and self.text[end : end + 1] == ".":
                return self._data_term(start)
            if self.text[end : end + 1] == ":":
                if name not in FIELDS:
                    raise QueryError(
                        f"unknown field {match.group(0)!r}; use one of {', '.join(FIELDS)} or data.<key>"
                        ' (quote text that contains ":")',
                        start,
                    )
                self.pos = end + 1
                return self._field_term(name, start)
        word_start = self.pos
        while not self._at_end_of_term():
            if self.text[self.pos] == '"':
                raise QueryError("unexpected '\"' inside a word; quote the whole text", self.pos)
            self.pos += 1
        return Term("text", ":", (self.text[word_start : self.pos],))

    def _quoted(self) -> str:
        """A ``"…"`` string at pos (``\\"`` and ``\\\\`` are escapes); must end the term."""
        start = self.pos
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.text[self.pos + 1 : self.pos + 2] in ('"', "\\"):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if c == '"':
                self.pos += 1
                if not self._at_end_of_term():
                    raise QueryError("expected a space after the closing quote", self.pos)
                return "".join(out)
            out.append(c)
            self.pos += 1
        raise QueryError("unterminated quote", start)

    def _value(self, what: str) -> tuple[str, bool, int]:
        """The operand at pos: (text, quoted, start); a missing one is an error."""
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            return self._quoted(), True, start
        while not self._at_end_of_term():
            if self.text[self.pos] == '"':
                raise QueryError("unexpected '\"' inside a value; quote the whole value", self.pos)
            self.pos += 1
        if self.pos == start:
            raise QueryError(f"missing {what}", start)
        return self.text[start : self.pos], False, start

    def _comparison(self) -> str:
        for op in _CMP_OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return "="

    def _field_term(self, name: str, start: int) -> Term:
        if name in ("age", "attempts"):
            op = self._comparison()
            raw, quoted, at = self._value(f"value after {name}:")
            if name == "age":
                if op == "=":
                    raise QueryError("age needs < or > (age:<1h = newer than an hour)", at)
                try:
                    return Term("age", op, (parse_duration(raw),))
                except ValueError as exc:
                    raise QueryError(str(exc), at) from None
            if quoted or not raw.isdigit():
                raise QueryError(f"attempts must be a whole number, not {raw!r}", at)
            return Term("attempts", op, (int(raw),))
        if name in ("name", "label", "reason") and self.text.startswith("~", self.pos):
            self.pos += 1
            raw, _, at = self._value("regular expression after ~")
            return Term(name, "~", (_check_regex(raw, at),))
        raw, quoted, at = self._value(f"value after {name}:")
        if name == "reason":
            if not raw:
                raise QueryError("empty reason text (reason:~^$ matches an empty reason)", at)
            return Term("reason", ":", (raw,))
        if name == "id":
            hex_digits = raw.lower()
            if not _is_hex(hex_digits):
                raise QueryError(f"an id is up to 24 hex digits, not {raw!r}", at)
            return Term("id", ":", (hex_digits,))
        values = [raw] if quoted else raw.split(",")
        if name == "status":
            out = []
            for v in values:
                v = v.strip().lower()
                if v not in STATUS_VALUES:
                    raise QueryError(f"unknown status {v!r}; expected one of {', '.join(STATUS_VALUES)}", at)
                if v not in out:
                    out.append(v)
            return Term("status", ":", tuple(out))
        if not quoted and any(not v for v in values):
            raise QueryError(f"empty value in the {name} list", at)
        return Term(name, ":", tuple(dict.fromkeys(values)))

    def _data_term(self, start: int) -> Term:
        self.pos = start + len("data")
        path = []
        while self.text[self.pos : self.pos + 1] == ".":
            self.pos += 1
            match = _SEGMENT.match(self.text, self.pos)
            if match is None:
                raise QueryError("a data key is letters, digits, '_' or '-'", self.pos)
            path.append(match.group(0))
            self.pos = match.end()
        op_at = self.pos
        op = next((o for o in _DATA_OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise QueryError("expected =, !=, <, >, <= or >= after the data key", op_at)
        self.pos += len(op)
        op = "=" if op == ":" else op
        raw, quoted, at = self._value(f"value after data.{'.'.join(path)}{op}")
        value: Any = raw
        if not quoted:
            try:
                value = json.loads(raw, parse_constant=_no_constant)
            except ValueError:
                value = raw  # a bare word is a string
        if isinstance(value, list | dict):
            raise QueryError("compare data with a number, string, true, false or null", at)
        if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
            raise QueryError(f"number out of range: {raw}", at)
        if isinstance(value, float) and not math.isfinite(value):
            raise QueryError(f"number out of range: {raw}", at)
        if op in _CMP_OPS and not _is_number(value):
            raise QueryError(f"{op} compares numbers; {raw!r} is not a number", at)
        return Term("data", op, (value,), tuple(path))


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _check_regex(pattern: str, at: int) -> str:
    if len(pattern) > MAX_REGEX:
        raise QueryError(f"regular expression longer than {MAX_REGEX} characters", at)
    try:
        _regex.compile(pattern)
    except _regex.RegexError as exc:
        raise QueryError(f"bad regular expression {pattern!r}: {exc}", at) from None
    return pattern
