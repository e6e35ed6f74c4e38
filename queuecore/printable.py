"""Untrusted text made inert for a terminal: the one function every output path uses.

Job names, labels, data, reasons, notes and worker names come from producers the operator
does not control. Written to a terminal as they are, an ``ESC ] 52`` sequence sets the
operator's clipboard, ``ESC [ 2J`` clears the screen, a C1 ``CSI`` (U+009B) starts a
sequence on terminals that honour 8-bit controls, and a bidi override (U+202E) makes text
read backwards. :func:`printable` turns each of them into a visible, harmless form *before*
any other formatting (Rich markup, truncation) sees the text, so nothing can be cut in the
middle of a sequence either:

- C0 controls and DEL become their Unicode control pictures (``\\x1b`` → ``␛``, ``\\n`` →
  ``␊``); ``layout=True`` keeps newline and tab, for multi-line views such as pretty JSON;
- C1 controls become ``\\x9b`` as text;
- bidi embeddings, overrides, isolates and marks, and the line/paragraph separators, become
  ``\\u202e`` as text;
- lone surrogates (a JSON ``"\\ud800"`` decodes to one; it is not UTF-8, so printing it
  raises) become ``\\ud800`` as text.

:func:`json_text` does the same for JSON that is printed (``--json``): ``json.dumps`` escapes
C0 itself, and C1, DEL, bidi and separators are escaped here as ``\\uXXXX``, which any JSON
reader decodes back to the same string. Both make text that holds a lone surrogate printable
at all, whoever wrote it into the store (in JSON, a high surrogate followed by a low one reads
back as the one character the pair encodes).
"""

from __future__ import annotations

import logging
import re

#: Unicode bidi controls (embeddings, overrides, isolates, marks) and the line and paragraph
#: separators: invisible, and each changes how the text around it is shown.
BIDI_CONTROLS = frozenset(
    {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029}
)
#: Lone surrogates: not characters, and not UTF-8 text, so writing one to a terminal, a pipe
#: or a file raises ``UnicodeEncodeError`` (JSON escapes such as ``"\\ud800"`` decode to them).
SURROGATES = range(0xD800, 0xE000)

_SHOWN: dict[int, str] = {
    **{code: chr(0x2400 + code) for code in range(0x20)},  # C0 → control pictures
    0x7F: "\u2421",  # DEL → ␡
    **{code: f"\\x{code:02x}" for code in range(0x80, 0xA0)},  # C1 → \x9b
    **{code: f"\\u{code:04x}" for code in BIDI_CONTROLS},
    **{code: f"\\u{code:04x}" for code in SURROGATES},
}
_SHOWN_LAYOUT = {code: shown for code, shown in _SHOWN.items() if code not in (0x09, 0x0A)}
_JSON_ESCAPED = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0), *BIDI_CONTROLS, *SURROGATES)}


def printable(value: object, *, layout: bool = False) -> str:
    """``value`` as text that is safe to write to a terminal: every control character and
    bidi control shown visibly (see the module docstring). ``layout=True`` keeps ``\\n`` and
    ``\\t`` (multi-line views); by default they are shown too, so one value stays one line."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case: nothing to replace (C0, C1, DEL, Cf are not)
        return text
    return text.translate(_SHOWN_LAYOUT if layout else _SHOWN)


def one_line(value: object) -> str:
    """``value`` as :func:`printable` shows it, on one line with its layout collapsed: runs of
    spaces, tabs and newlines become one space (and none at either end). Only those: ``\\r``,
    ``\\x85``, ``\\x1c``–``\\x1f``, ``\\u2028``/``\\u2029`` stay visible (``␍``, ``\\x85``),
    which ``" ".join(text.split())`` would have turned into plain spaces."""
    text = value if isinstance(value, str) else str(value)
    return printable(_LAYOUT_RUN.sub(" ", text).strip(" "))


#: What :func:`one_line` collapses: the blanks a layout uses, nothing else.
_LAYOUT_RUN = re.compile(r"[ \t\n]+")


def json_text(text: str) -> str:
    """Encoded JSON (from ``json.dumps``) with C1 controls, DEL and bidi controls escaped as
    ``\\uXXXX``: still the same JSON for any reader, and inert in a terminal. Such characters
    can only occur inside JSON strings, where an escape is always valid."""
    if text.isascii() and "\x7f" not in text:  # DEL is ASCII
        return text
    return text.translate(_JSON_ESCAPED)


class PrintableRecords(logging.Filter):
    """A logging filter that makes each record's text inert (:func:`printable`) before any
    handler formats it: the message on one line (a reason cannot forge log lines), a
    traceback with its newlines. ``exc_info`` stays, for handlers that send exceptions
    elsewhere; the text a formatter prints for it is the inert ``exc_text`` set here.

    queuecore's logger has one; ``jobtui work`` puts one on its log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = printable(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = printable(_FORMATTER.formatException(record.exc_info), layout=True)
        elif record.exc_text:
            record.exc_text = printable(record.exc_text, layout=True)
        if record.stack_info:
            record.stack_info = printable(record.stack_info, layout=True)
        return True


_FORMATTER = logging.Formatter()
