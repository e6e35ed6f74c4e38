"""The SQLite engine's text matching (its LIKE shortcut for ASCII text) agrees with the filter
language's definition, ``str.lower`` containment."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from queuecore.query import Term
from queuecore.store.sqlite.filter import compile_term, icontains

NOW = datetime.fromisoformat("2025-01-01T12:00:00+00:00")


def test_sqlite_text_matching_equals_the_python_definition() -> None:
    """The SQLite engine's LIKE shortcut for ASCII text agrees with ``str.lower`` everywhere,
    also on the two characters that lower to ASCII letters (İ -> i̇, Kelvin sign -> k)."""
    conn = sqlite3.connect(":memory:")
    conn.create_function("queuecore_icontains", 2, icontains, deterministic=True)
    haystacks = ["Kelvin", "\u212aelvin", "İstanbul", "ISTANBUL", "ÉCHEC", "échec", "50% off", "a_b", "a\\b"]
    needles = ["kelvin", "K", "i", "İ", "é", "ÉC", "%", "_", "\\", "0% o", "a_b", "ab"]
    for needle in needles:
        clause, args = compile_term(Term("reason", ":", (needle,)), NOW)
        sql = f"SELECT COALESCE({clause}, 0) FROM (SELECT ? AS reason)"
        for hay in [*haystacks, ""]:
            (got,) = conn.execute(sql, [*args, hay]).fetchone()
            assert bool(got) == (needle.lower() in hay.lower()), (needle, hay)
