"""The enqueue factories: an ASGI endpoint and a request-pipeline hook."""

from __future__ import annotations

import json
from typing import Any

from util import wait_job

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
