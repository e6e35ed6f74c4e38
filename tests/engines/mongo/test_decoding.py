"""Decoding what another program stored in a MongoDB collection."""

from __future__ import annotations

from bson import ObjectId

import queuecore

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
