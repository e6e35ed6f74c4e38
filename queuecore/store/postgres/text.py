"""Text as PostgreSQL holds it: NUL characters, which ``text`` and ``jsonb`` cannot store.

Job text may hold NUL (``"a\\x00b"`` is valid JSON and a valid reason), but PostgreSQL refuses
U+0000 in ``text`` and in ``jsonb`` strings. The engine stores each NUL, and each of the three
noncharacters it uses for that, as a codeword of three noncharacters::

    U+0000   → P A A        P = U+10FFFF, A = U+10FFFE, B = U+FFFF
    P        → P A B
    A        → P B A
    B        → P B B

The mapping is reversible, and it keeps substring and pattern searches exact: P only ever
starts a codeword and A/B only end one, so an encoded needle (or a translated pattern, see
:mod:`.regex`) can only match an encoded text at a codeword boundary. Noncharacters have no
case, so ``lower()`` of an encoded text is the encoding of its lower case. Text without any
of the four characters — nearly all of it — is stored as it is (one scan to check).
"""

from __future__ import annotations

import re
from typing import Any

P, A, B = "\U0010ffff", "\U0010fffe", "\uffff"
#: Each special character and its codeword.
CODEWORDS = {"\0": P + A + A, P: P + A + B, A: P + B + A, B: P + B + B}
_DECODED = {word: char for char, word in CODEWORDS.items()}
_SPECIAL = re.compile("[\0\U0010fffe\U0010ffff\uffff]")
_CODEWORD = re.compile("\U0010ffff[\U0010fffe\uffff]{2}")


def encode(text: str) -> str:
    """``text`` as stored (see the module)."""
    if _SPECIAL.search(text) is None:
        return text
    return _SPECIAL.sub(lambda m: CODEWORDS[m.group()], text)


def decode(text: str) -> str:
    """A stored text as the job holds it (text without P is returned as it is)."""
    if P not in text:
        return text
    return _CODEWORD.sub(lambda m: _DECODED[m.group()], text)


def encode_json(value: Any) -> Any:
    """``value`` (job data, a result) with every key and string encoded."""
    if isinstance(value, str):
        return encode(value)
    if isinstance(value, dict):
        return {encode(k) if isinstance(k, str) else k: encode_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_json(v) for v in value]
    return value


def decode_json(value: Any) -> Any:
    """A decoded stored JSON value with every key and string decoded."""
    if isinstance(value, str):
        return decode(value)
    if isinstance(value, dict):
        return {decode(k): decode_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_json(v) for v in value]
    return value


def json_needs_encoding(dumped: str) -> bool:
    """Whether JSON text (``json.dumps(…, ensure_ascii=False)``) may hold a NUL or a
    special character in a string (then :func:`encode_json` the value and dump it again)."""
    return "\\u0000" in dumped or _SPECIAL.search(dumped) is not None


__all__ = ["CODEWORDS", "decode", "decode_json", "encode", "encode_json", "json_needs_encoding"]
