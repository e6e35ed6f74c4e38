"""Regular expressions of the filter language on PostgreSQL: the translated pattern matches on
the server exactly what RE2 matches (``queuecore._regex.search``), for RE2's constructs that
PostgreSQL spells otherwise or not at all — ``\\b``, ``\\w``, flags inside a pattern, counts
over 255, Unicode classes, case folding beyond ASCII — and text holding NUL (stored encoded)."""

from __future__ import annotations

import psycopg
import pytest

from queuecore import _regex
from queuecore.store.postgres import text as pgtext
from queuecore.store.postgres.regex import translate

TEXTS = [
    "",
    "send_email",
    "SEND-EMAIL",
    "report 2024",
    "Ünïcode ÉTÉ",
    "été",
    "straße STRASSE",
    "Kelvin \u212a k",
    "line1\nline2",
    "ends with newline\n",
    "a\0b",
    "nul\0",
    "\U0010ffffodd\uffff",
    "tab\there",
    "x" * 300,
    "ab" * 10,
    "Σίσυφος ΟΔΟΣ",
    "price: $5.00 (approx)",
    "[brackets] {braces}",
    "日本語テキスト",
]

PATTERNS = [
    "",
    "^send",
    "MAIL$",
    "^(report|resize)",
    "email|report",
    "a.b",
    "line1.line2",
    "(?s)line1.line2",
    "(?m)^line2$",
    "^line2",
    "newline$",
    "newline\\z",
    "\\bemail\\b",
    "\\Bmai",
    "\\w+_\\w+",
    "\\d{4}",
    "\\D\\s\\d",
    "\\W",
    "[[:upper:]]{4}",
    "[[:^alpha:]]",
    "[a-c]",
    "[^a-z ]",
    "[]x]",
    "[\\]\\[]",
    "\\$5\\.00",
    "\\(approx\\)",
    "x{300}",
    "x{256,}",
    "x{0,300}$",
    "(?:ab){10}",
    "(ab){11}",
    "é",
    "ÉTÉ",
    "(?-i:été)",
    "(?-i:ÉTÉ)",
    "(?i)STRASSE",
    "ß",
    "k",
    "(?-i)K",
    "ς",
    "σ",
    "\\pL+\\s\\pL",
    "\\p{Greek}",
    "\\p{Han}+",
    "\\PL",
    "[\\p{Lu}]",
    "\\x{10FFFF}",
    "\\x00",
    "a\\x00b",
    "[\\x00-\\x1f]",
    "\\t",
    "\\Qa.b\\E",
    "(?P<name>send)_",
    "a+?b",
    "colou?r",
    "[^\\n]+$",
    ".",
    "^.$",
    "^.{3}$",
]


@pytest.fixture(scope="module")
def conn(postgres_uri: str):
    with psycopg.connect(postgres_uri, autocommit=True) as c:
        yield c


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_translation_matches_what_re2_matches(conn: psycopg.Connection, pattern: str) -> None:
    expected = [_regex.search(pattern, t) for t in TEXTS]
    stored = [pgtext.encode(t) for t in TEXTS]
    rows = conn.execute(
        'SELECT t COLLATE "C" ~ %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n',
        [translate(pattern), stored],
    ).fetchall()
    got = [r[0] for r in rows]
    wrong = [(t, e) for t, e, g in zip(TEXTS, expected, got, strict=True) if e != g]
    assert not wrong, f"{pattern!r}: {wrong}"
