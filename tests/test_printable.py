"""The one function that makes untrusted text inert for a terminal (queuecore.printable)."""

from __future__ import annotations

import json

import pytest

from queuecore.printable import json_text, one_line, printable

#: One of each kind of sequence a hostile producer can put into a stored string.
HOSTILE = {
    "osc52": "mail\x1b]52;c;aGVsbG8=\x1b\\",
    "title": "\x1b]0;pwned\x07",
    "clear": "\x1b[2J\x1b[H",
    "c1-csi": "a\x9b31mred",
    "bidi": "invoice\u202egpj.exe",
    "isolate": "x\u2066y\u2069",
    "del": "a\x7fb",
    "nul": "a\x00b",
}
DANGEROUS = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} | {
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\u2028",
    "\u2029",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_no_control_or_bidi_character_survives(kind: str) -> None:
    shown = printable(HOSTILE[kind])
    assert not set(shown) & DANGEROUS, repr(shown)


def test_sequences_are_shown_visibly_not_dropped() -> None:
    assert printable("mail\x1b]52;c;x\x1b\\") == "mail␛]52;c;x␛\\"
    assert printable("a\x9bb") == "a\\x9bb"
    assert printable("a\u202eb") == "a\\u202eb"
    assert printable("a\x7fb") == "a␡b"


def test_layout_keeps_only_newline_and_tab() -> None:
    assert printable("a\nb\tc\rd", layout=True) == "a\nb\tc␍d"
    assert printable("a\nb") == "a␊b"


def test_ordinary_text_is_unchanged() -> None:
    for text in ("send-mail", "Grüße 日本 ✓ 👩‍💻", "[bold]x[/]", ""):
        assert printable(text) == text
    assert printable(42) == "42"


def test_json_text_escapes_c1_and_bidi_and_decodes_back() -> None:
    value = {"name": "a\x9bb\u202ec\x1bd\x7f", "ok": "Grüße"}
    encoded = json_text(json.dumps(value, ensure_ascii=False))
    assert not set(encoded) & DANGEROUS
    assert "Grüße" in encoded
    assert json.loads(encoded) == value


def test_json_text_escapes_del_in_otherwise_ascii_json() -> None:
    """``json.dumps`` leaves DEL raw even with ``ensure_ascii``; the ASCII fast path must not skip it."""
    encoded = json_text(json.dumps({"name": "a\x7fb"}))
    assert "\x7f" not in encoded and "\\u007f" in encoded
    assert json.loads(encoded) == {"name": "a\x7fb"}


def test_lone_surrogates_are_shown_as_text_and_escaped_in_json() -> None:
    """A JSON ``"\\ud800"`` decodes to a lone surrogate, which no UTF-8 output can write: shown
    as ``\\ud800`` (text), escaped in ``--json`` (decoding back to the same string)."""
    value = {"k\ud800": ["\udfff end", "é \U0001f600"]}
    shown = printable("a\ud800b\udfffc")
    assert shown == "a\\ud800b\\udfffc" and shown.encode()
    assert printable("x\ud800\ny", layout=True) == "x\\ud800\ny"
    encoded = json_text(json.dumps(value, ensure_ascii=False))
    assert encoded.encode() and "é \U0001f600" in encoded
    assert json.loads(encoded) == value


#: What ``str.split()`` takes for whitespace beyond the blanks of a layout, as printable shows it.
SEPARATORS = {
    "\x85": "\\x85",
    "\x1c": "␜",
    "\x1d": "␝",
    "\x1e": "␞",
    "\x1f": "␟",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
    "\r": "␍",
    "\x0b": "␋",
    "\x0c": "␌",
}


@pytest.mark.parametrize("char", sorted(SEPARATORS))
def test_one_line_shows_separators_as_printable_does(char: str) -> None:
    """Not as spaces ("mail nel"): only spaces, tabs and newlines are layout, collapsed."""
    assert one_line(f"mail{char}nel") == printable(f"mail{char}nel") == f"mail{SEPARATORS[char]}nel"
    assert one_line(f"  a \t\n b{char}c \n") == f"a b{SEPARATORS[char]}c"
