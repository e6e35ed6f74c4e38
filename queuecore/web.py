"""Framework-neutral enqueue factories, in the spirit of the original's
``Queue.Action`` and ``Queue.Callback``.

- :func:`endpoint` builds a plain ASGI application: for each request (of the
  allowed methods) it builds a blueprint with your function, enqueues it and
  answers ``{}`` — mount it in Starlette, FastAPI, Litestar, or any ASGI server.
- :func:`hook` builds an async callable to use inside any request pipeline
  (middleware, a view, a signal handler): it builds and enqueues a blueprint
  from whatever object your framework passes.

Both accept a :class:`~queuecore.Queue` (jobs for its own tasks then start in
this process at once) or a bare :class:`~queuecore.Store`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .job import MAX_DATA_BYTES, Blueprint, Job, depth_message
from .ops import enqueue
from .printable import json_text
from .queue import Queue
from .store.base import Store

Target = Queue | Store
Built = Blueprint | None | Awaitable[Blueprint | None]

#: The largest request body :func:`endpoint` reads by default: twice the job data limit.
MAX_BODY = 2 * MAX_DATA_BYTES


@dataclass(frozen=True)
class Request:
    """The parts of an ASGI HTTP request a blueprint builder usually needs."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""
    scope: dict[str, Any] = field(default_factory=dict, repr=False)

    def json(self) -> Any:
        """The body parsed as JSON (``{}`` for an empty body); raises ValueError."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except RecursionError:  # a body of nested brackets is the client's error, not a crash
            raise ValueError(depth_message("the JSON body")) from None


async def _enqueue(target: Target, blueprint: Blueprint) -> Job | None:
    if isinstance(target, Queue):
        return await target.enqueue(blueprint)
    return await enqueue(target, blueprint)


async def _build(build: Callable[..., Built], arg: Any) -> Blueprint | None:
    built = build(arg)
    if inspect.isawaitable(built):
        built = await built
    return built


def endpoint(
    target: Target,
    build: Callable[[Request], Built],
    methods: Iterable[str] = ("POST",),
    *,
    max_body: int = MAX_BODY,
) -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    """An ASGI app that enqueues ``build(request)`` and answers ``{}`` (HTTP 200).

    ``build`` may return None to enqueue nothing (still ``{}``). A method not in
    ``methods`` gets 405 (with ``Allow``); a body longer than ``max_body`` bytes gets
    413 unread; a ``ValueError`` from ``build`` (e.g. invalid JSON) or data the job
    cannot hold (not an object, not JSON, too large) gets 400 with ``{"error": message}``.
    A client that disconnects before its body is complete gets nothing enqueued.
    """
    allowed = {m.upper() for m in methods}
    allow = ", ".join(sorted(allowed)).encode()
    too_large = {"error": f"request body larger than {_size(max_body)}"}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # served directly by an ASGI server: nothing to set up
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"queuecore.web.endpoint serves HTTP only, not {scope['type']!r}")
        if scope["method"].upper() not in allowed:
            await _respond(send, 405, {"error": "method not allowed"}, ((b"allow", allow),))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > max_body:  # '²' is a digit too
            await _respond(send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                return  # the body is incomplete: a job built from a part of it would be wrong
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body:
                await _respond(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        request = Request(
            method=scope["method"].upper(),
            path=scope.get("path", ""),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=b"".join(chunks),
            scope=scope,
        )
        try:
            blueprint = await _build(build, request)
        except ValueError as exc:
            await _respond(send, 400, {"error": str(exc)})
            return
        if blueprint is not None:
            try:
                await _enqueue(target, blueprint)
            except (ValueError, TypeError) as exc:  # data the job cannot hold (from the request)
                await _respond(send, 400, {"error": str(exc)})
                return
        await _respond(send, 200, {})

    return app


def hook(target: Target, build: Callable[[Any], Built]) -> Callable[[Any], Awaitable[Job | None]]:
    """An async callable that enqueues ``build(obj)`` for any object your framework
    passes (request, event, context); returns the job, or None when nothing (or a
    de-duplicated labeled job) was enqueued."""

    async def run(obj: Any) -> Job | None:
        blueprint = await _build(build, obj)
        if blueprint is None:
            return None
        return await _enqueue(target, blueprint)

    return run


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _size(n: int) -> str:
    return f"{n / 1048576:g} MiB" if n >= 1048576 else f"{n} bytes"


async def _respond(
    send: Any, status: int, payload: dict[str, Any], extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json_text(json.dumps(payload)).encode()  # a client may print it: DEL escaped too
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})
