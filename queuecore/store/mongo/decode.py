"""Decoding MongoDB documents one by one, so one undecodable document cannot fail a read.

PyMongo decodes a whole reply batch at once: a single document it cannot decode (a string
that is not UTF-8, nesting too deep for the decoder, anything another program wrote) makes
the whole ``find``, board load or change stream raise. The engine therefore reads
:class:`~bson.raw_bson.RawBSONDocument` s (the batch is only split, not decoded) and decodes
each document here, with the store's own codec options: a document that fails comes back as
a malformed job (``Job.salvage``), shown by dashboards and skipped by workers, while the rest
of the batch reads as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from ...audit import AuditEntry
from ...job import MAX_DEPTH, Job, too_deep


def raw_options(options: CodecOptions[Any]) -> CodecOptions[Any]:
    """``options`` for reading raw documents (decoded later by :func:`decode`)."""
    return options.with_options(document_class=RawBSONDocument)


def decode(raw: Any, options: CodecOptions[Any]) -> dict[str, Any]:
    """A raw document decoded with ``options`` (raises like ``bson.decode``); a document that
    is already decoded is returned as it is."""
    if isinstance(raw, RawBSONDocument):
        return bson.decode(raw.raw, codec_options=options)
    return dict(raw)


def job(raw: Any, options: CodecOptions[Any]) -> Job:
    """The job in a raw document; never raises (an undecodable one is salvaged as malformed)."""
    try:
        doc = decode(raw, options)
    except RecursionError:
        problem = f"malformed job: nested deeper than {MAX_DEPTH} levels"
    except Exception as exc:  # InvalidBSON (text not UTF-8, …) or anything else the decoder raises
        problem = f"malformed job: cannot be decoded: {_brief(exc)}"
    else:
        return Job.from_doc(doc)
    return Job.salvage(best_effort(raw, options), problem)


def document(raw: Any, options: CodecOptions[Any]) -> dict[str, Any] | None:
    """A raw document decoded, or None when it cannot be (for reads that skip such rows or
    read them with :func:`best_effort`)."""
    try:
        return decode(raw, options)
    except Exception:
        return None


def best_effort(raw: Any, options: CodecOptions[Any]) -> dict[str, Any]:
    """As much of an undecodable document as can be read, for display: decoded with bad text
    replaced (U+FFFD), else its top-level fields (sub-documents left raw, so never shown),
    else nothing."""
    if not isinstance(raw, RawBSONDocument):
        return {}
    try:
        return bson.decode(
            raw.raw, codec_options=options.with_options(unicode_decode_error_handler="replace")
        )
    except Exception:
        pass
    try:
        top: Mapping[str, Any] = raw  # inflates the top level only
        return dict(top.items())
    except Exception:
        return {}


def audit_entry(doc: dict[str, Any]) -> AuditEntry:
    """An audit document as an entry (missing or odd fields read as empty, never raise)."""
    at, key = doc.get("at"), doc.get("_id")
    ids = doc.get("ids")
    return AuditEntry(
        at=at if isinstance(at, datetime) else key.generation_time if isinstance(key, ObjectId) else _EPOCH,
        who=shown(doc.get("who") or ""),
        source=shown(doc.get("source") or ""),
        action=shown(doc.get("action") or ""),
        ids=[shown(i) for i in ids] if isinstance(ids, list) else [],
        detail=shown(doc.get("detail") or ""),
    )


_EPOCH = datetime.fromtimestamp(0, UTC)


def shown(value: Any) -> str:
    """A decoded value as text (one nested too deeply to print as ``?``)."""
    return "?" if too_deep(value) else str(value)


def _brief(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"
