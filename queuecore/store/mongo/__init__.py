"""The MongoDB engine, on PyMongo's native asyncio API (``pymongo.AsyncMongoClient``).

Documents use the keys the Go original writes, so an existing fire/axe
collection can be watched and worked. Additions of this port:

- Labeled de-duplication across processes: an active labeled job carries
  ``lock = lock_key(name, label)`` under a unique *sparse* index, and drops it
  when it finishes. Two concurrent enqueues cannot both insert: the second gets
  a duplicate-key error. (An upsert keyed on name+label+status is not enough:
  two upserts racing on a filter that matches nothing both insert.)
- ``watch()``: change streams with resume tokens, a polling fallback for a server
  without them, reconnects with backoff (:mod:`.feed`).

The package, one job a module: :mod:`.store` (the :class:`MongoStore`), :mod:`.connect`
(the URI and the client), :mod:`.indexes`, :mod:`.filter` (a query as a MongoDB filter),
:mod:`.feed` (the change feed), :mod:`.decode` (documents one by one), :mod:`.limits`
(time limits of filtered reads) and :mod:`.errors` (driver errors as the queue's own).
Selected by ``mongodb://`` and ``mongodb+srv://`` URIs (:mod:`queuecore.store.registry`).
"""

from __future__ import annotations

from .connect import connect_mongo
from .store import MongoStore

__all__ = ["MongoStore", "connect_mongo"]
