"""Decoding what another program stored in a MongoDB collection."""

from __future__ import annotations

from datetime import UTC, datetime

import bson
import pytest
from bson import ObjectId
from bson.raw_bson import RawBSONDocument

import queuecore
from queuecore import Status
from queuecore.store.mongo import decode as mongo_decode

from .support import coll


async def test_mongodb_dates_outside_pythons_range_are_salvaged(store: queuecore.Store) -> None:
    """A date another program stored beyond year 9999 made the driver fail to decode the whole
    batch (``InvalidBSON``): every find, get and watch over it raised. The store's own codec
    options decode it (nx-27017 cannot store such a date, hence decoded here)."""
    import bson
    from bson import DatetimeMS

    doc = {"_id": ObjectId(), "name": "w", "status": "enqueued", "created_at": DatetimeMS(2**62)}
    decoded = bson.decode(bson.encode(doc), codec_options=coll(store).codec_options)
    job = queuecore.Job.from_doc(decoded)
    assert job.malformed is not None and "created_at" in job.malformed and job.created is None


def test_a_bson_document_that_cannot_be_decoded_is_a_malformed_job() -> None:
    """nx-27017 refuses to store text that is not UTF-8 (a real MongoDB stores what a driver
    sends), so the per-document decode is checked on the raw bytes the server would return."""
    oid = ObjectId()
    now = datetime.now(UTC)
    good = bson.encode(
        {"_id": oid, "name": "XXXX", "status": "enqueued", "created_at": now, "available_at": now}
    )
    raw = RawBSONDocument(good.replace(b"XXXX", b"w\xffrk"))
    options = bson.CodecOptions(tz_aware=True)
    with pytest.raises(bson.errors.InvalidBSON):
        bson.decode(raw.raw, codec_options=options)  # what a whole batch would raise
    job = mongo_decode.job(raw, options)
    assert job.malformed is not None and "cannot be decoded" in job.malformed
    assert job.id == oid and job.name == "w\ufffdrk" and job.status is Status.ENQUEUED
    fine = mongo_decode.job(RawBSONDocument(good), options)
    assert fine.malformed is None and fine.name == "XXXX"
