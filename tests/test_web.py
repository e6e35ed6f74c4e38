"""The enqueue factories: an ASGI endpoint and a request-pipeline hook."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from support.waits import wait_job

import queuecore
from queuecore import Blueprint, Queue, Task
from queuecore.web import Request, endpoint, hook


async def call(app: Any, method: str, body: bytes = b"") -> tuple[int, Any]:
    """Drive an ASGI app the way a server does, and collect the response."""
    sent: list[dict[str, Any]] = []
    chunks = [body[:3], body[3:]]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/signup", "headers": [(b"X-User", b"7")]}
    await app(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


async def test_endpoint_enqueues_and_answers_empty_object(store: queuecore.Store) -> None:
    def build(request: Request) -> Blueprint:
        payload = request.json()
        return Blueprint("welcome", label=request.headers["x-user"], data=payload)

    app = endpoint(store, build)
    assert await call(app, "POST", b'{"email": "a@b.c"}') == (200, {})
    [job] = await store.find(name="welcome")
    assert job.data == {"email": "a@b.c"} and job.label == "7"
    # the label de-duplicates, the answer is the same
    assert await call(app, "POST", b'{"email": "a@b.c"}') == (200, {})
    assert len(await store.find(name="welcome")) == 1

    status, body = await call(app, "GET")
    assert status == 405
    status, body = await call(app, "POST", b"{not json")
    assert status == 400 and "Expecting property name" in body["error"]
    assert len(await store.find(name="welcome")) == 1


async def test_hook_enqueues_through_a_running_queue(store: queuecore.Store) -> None:
    ran = []

    async def handler(ctx: queuecore.Context) -> None:
        ran.append(ctx.job.data["order"])

    queue = Queue(store)
    queue.add(Task("ship", handler))

    async def build(order: dict[str, Any]) -> Blueprint | None:
        return Blueprint("ship", data={"order": order["id"]}) if order["paid"] else None

    on_order = hook(queue, build)
    async with queue:
        assert await on_order({"id": 1, "paid": False}) is None
        job = await on_order({"id": 2, "paid": True})
        assert job is not None
        await wait_job(store, job.id, lambda j: j.status is queuecore.Status.COMPLETED)
    assert ran == [2]


async def exchange(
    app: Any,
    messages: list[dict[str, Any]],
    method: str = "POST",
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> list[dict[str, Any]]:
    """Run one request whose body arrives as ``messages``; returns what the app sent.
    Once the messages run out the client waits (as a real one does), never answers empty."""
    sent: list[dict[str, Any]] = []
    pending = list(messages)
    waiting = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await waiting.wait()  # never set: reading past the messages would hang the test
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/", "headers": list(headers)}
    async with asyncio.timeout(10):
        await app(scope, receive, send)
    return sent


def body_message(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def answer(sent: list[dict[str, Any]]) -> tuple[int, dict[bytes, bytes], Any]:
    start, body = sent
    return start["status"], dict(start["headers"]), json.loads(body["body"])


def json_job(request: Request) -> Blueprint:
    return Blueprint("hook", data=request.json())


async def test_a_body_over_the_limit_is_refused_without_reading_it_all(store: queuecore.Store) -> None:
    """A huge upload is answered 413 as soon as it passes the limit; nothing is built or enqueued."""
    built: list[Request] = []

    def build(request: Request) -> Blueprint:
        built.append(request)
        return json_job(request)

    app = endpoint(store, build)
    limit = 8 * 1024 * 1024
    mib = b" " * (1024 * 1024)
    # streamed without a Content-Length: the ninth MiB passes the limit (the rest is never read)
    status, _, body = answer(await exchange(app, [body_message(mib, more=True)] * 9))
    assert status == 413 and "8 MiB" in body["error"]
    # announced by Content-Length: refused before a byte is read
    sent = await exchange(app, [], headers=((b"content-length", str(limit + 1).encode()),))
    assert answer(sent)[0] == 413
    # a smaller limit of one's own; a body just at the limit passes
    small = endpoint(store, build, max_body=10)
    assert answer(await exchange(small, [body_message(b'{"a": 1234}')]))[0] == 413
    assert answer(await exchange(small, [body_message(b'{"a": 123}')]))[:3:2] == (200, {})
    assert len(built) == 1 and await store.count() == 1


async def test_a_client_that_disconnects_midway_enqueues_nothing(store: queuecore.Store) -> None:
    """The body was cut off: building a job from a part of it would enqueue the wrong job."""
    app = endpoint(store, lambda request: Blueprint("raw", data={"text": request.body.decode()}))
    sent = await exchange(app, [body_message(b"hello wo", more=True), {"type": "http.disconnect"}])
    assert sent == []
    assert await store.count() == 0


async def test_bad_request_bodies_get_400_with_one_message(store: queuecore.Store) -> None:
    """JSON that is valid but not an object, or nested beyond parsing, is the client's error
    (400 naming it), never a server error."""
    app = endpoint(store, json_job)
    for raw, needle in [
        (b"[1, 2]", ""),  # the message comes from Blueprint (a list is not job data)
        (b'"text"', ""),
        (b"[" * 100_000, "nested deeper than the limit of 64"),
        (b'{"a": "\xff"}', "can't decode"),
        (b'{"x": NaN}', "not JSON-compatible"),
    ]:
        status, headers, body = answer(await exchange(app, [body_message(raw)]))
        assert status == 400, (raw[:10], body)
        assert headers[b"content-type"] == b"application/json"
        assert needle in body["error"], body
        assert "Traceback" not in body["error"]
    assert await store.count() == 0


async def test_a_wrong_method_is_told_which_ones_are_allowed(store: queuecore.Store) -> None:
    app = endpoint(store, json_job, methods=("post", "PUT"))
    status, headers, body = answer(await exchange(app, [], method="GET"))
    assert status == 405 and body == {"error": "method not allowed"}
    assert headers[b"allow"] == b"POST, PUT"
    assert answer(await exchange(app, [body_message(b"{}")], method="PUT"))[0] == 200


async def test_served_directly_the_endpoint_answers_the_servers_lifespan(store: queuecore.Store) -> None:
    """Run by an ASGI server itself (``uvicorn app:endpoint``, lifespan on), the app answers the
    startup and shutdown messages rather than failing the server's start."""
    app = endpoint(store, json_job)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with asyncio.timeout(10):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


async def test_a_json_array_is_never_taken_for_job_data(store: queuecore.Store) -> None:
    app = endpoint(store, json_job)
    status, _, body = answer(await exchange(app, [body_message(b'[["to", "ada@example.com"]]')]))
    assert status == 400 and "job data must be a dict, not list" in body["error"]
    assert await store.count() == 0


async def test_a_content_length_that_is_not_ascii_digits_is_not_trusted(store: queuecore.Store) -> None:
    # '²' is a digit to str.isdigit() but not to int(): the header was read as a number
    app = endpoint(store, json_job)
    headers = ((b"content-type", b"application/json"), (b"content-length", "²".encode("latin-1")))
    status, _, _ = answer(await exchange(app, [body_message(b'{"to": "ada"}')], headers=headers))
    assert status == 200 and await store.count() == 1
