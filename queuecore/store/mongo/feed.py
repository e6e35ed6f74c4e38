"""The MongoDB change feed: ``store.watch()`` on change streams, with a polling fallback.

Change streams with ``fullDocument: updateLookup`` and resume tokens; after a reconnect the
feed resumes from the last token and emits ``reset`` so consumers reconcile. A server without
change streams (error 40573, standalone mongod) switches the store to polling for the session
(a ``reset`` each ``poll_interval``); lost history (error 286) or an ``invalidate`` reopens the
stream from scratch. Reconnects back off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.codec_options import CodecOptions
from pymongo.errors import OperationFailure, PyMongoError

from ...backoff import backoff
from ...job import Change
from ..base import MODE_CHANGE_STREAM, MODE_POLLING, MODE_RECONNECTING, parse_id
from . import decode

if TYPE_CHECKING:
    from .store import MongoStore

#: Error codes of the server that decide how the feed goes on.
NO_CHANGE_STREAMS = 40573  # "$changeStream stage is only supported on replica sets"
HISTORY_LOST = 286  # ChangeStreamHistoryLost: the resume token fell off the oplog


async def watch(store: MongoStore) -> AsyncIterator[Change]:
    """Change events of ``store``'s collection (see the module docstring); the first is ``reset``."""
    token: Any = None
    failures = 0
    while True:
        if store._polling:
            store._mode = MODE_POLLING
            yield Change("reset")
            await asyncio.sleep(store.poll_interval)
            continue
        try:
            stream = await store._raw.watch(full_document="updateLookup", resume_after=token)
        except OperationFailure as exc:
            if _no_change_streams(exc):
                store._polling = True
                continue
            if exc.code == HISTORY_LOST or token is not None:
                token = None  # the token is useless now: start afresh and reload
                continue
            failures = await _pause(store, failures)
            continue
        except PyMongoError:
            failures = await _pause(store, failures)
            continue
        async with stream:
            store._mode = MODE_CHANGE_STREAM
            token = stream.resume_token or token  # postBatchResumeToken before any event
            yield Change("reset")
            try:
                async for event in stream:
                    failures = 0  # the stream works (reset here, so streams that end at once back off)
                    token = stream.resume_token
                    op = event.get("operationType")
                    if op == "invalidate":
                        token = None
                        break
                    change = _convert(event, store._options)
                    if change is not None:
                        yield change
                else:
                    # The server ended the stream without invalidating it (nx-27017 does after a
                    # restart): reopen from the token, backing off as after an error.
                    failures = await _pause(store, failures)
            except OperationFailure as exc:
                if _no_change_streams(exc):
                    store._polling = True
                elif exc.code == HISTORY_LOST:
                    token = None
                else:
                    failures = await _pause(store, failures)
            except PyMongoError:
                failures = await _pause(store, failures)


async def _pause(store: MongoStore, failures: int) -> int:
    """Back off before reopening the stream: exponential, with jitter, capped at 10 s."""
    store._mode = MODE_RECONNECTING
    delay = backoff(0.1, 10, 2, failures).total_seconds()
    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
    return failures + 1


def _no_change_streams(exc: OperationFailure) -> bool:
    return exc.code == NO_CHANGE_STREAMS or "only supported on replica sets" in str(exc)


def _convert(event: Mapping[str, Any], options: CodecOptions[Any]) -> Change | None:
    """A change stream event as a :class:`Change` (None for one the feed does not report)."""
    op = event.get("operationType")
    key = (event.get("documentKey") or {}).get("_id")
    oid = key if isinstance(key, ObjectId) else parse_id(key) if isinstance(key, str) else None
    if op in ("insert", "update", "replace"):
        doc = event.get("fullDocument")
        if doc is None:  # deleted before the lookup
            return Change("delete", oid)
        return Change("insert" if op == "insert" else "update", oid, decode.job(doc, options))
    if op == "delete":
        return Change("delete", oid)
    if op in ("drop", "rename", "dropDatabase"):
        return Change("reset")
    return None
