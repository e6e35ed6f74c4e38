"""OpenTelemetry: spans for every operation, one trace from the enqueuing request to
every attempt (across processes), metrics — and no opentelemetry import without it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from bson import ObjectId
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.targets import StoreTarget
from support.waits import wait_job

import queuecore
from queuecore import Blueprint, Context, Queue, Status, Task
from queuecore.tracing import trace_id

EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def providers() -> Iterator[None]:
    """Install SDK providers once (OpenTelemetry allows setting them only once)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
    yield


@pytest.fixture(autouse=True)
def fresh_spans() -> None:
    EXPORTER.clear()


def spans(name: str | None = None) -> list[ReadableSpan]:
    return [s for s in EXPORTER.get_finished_spans() if name is None or s.name == name]


def attrs(span: ReadableSpan) -> dict:
    return dict(span.attributes or {})


async def test_operations_have_spans_with_attributes(store: queuecore.Store) -> None:
    job = await queuecore.enqueue(store, Blueprint("mail", label="l1", delay=5))
    assert job is not None
    other = await queuecore.enqueue(store, Blueprint("mail"))
    assert other is not None
    claimed = await queuecore.dequeue(store, other.id, 30)
    assert claimed is not None
    await queuecore.fail(store, other.id, "smtp down", delay=1)
    await queuecore.cancel_job(store, other.id, "operator")
    await queuecore.requeue(store, other.id)
    await queuecore.dequeue(store, other.id, 30)
    await queuecore.complete(store, other.id)
    with pytest.raises(queuecore.MissingJobError):
        await queuecore.cancel(store, other.id, "too late")

    [enq, _] = spans("queuecore/Enqueue")
    assert attrs(enq) == {
        "queuecore.job.name": "mail",
        "queuecore.job.label": "l1",
        "queuecore.job.delay": 5.0,
        "queuecore.job.id": str(job.id),
        "queuecore.job.skipped": False,
    }
    fail_span = spans("queuecore/Fail")[0]
    assert attrs(fail_span)["queuecore.job.reason"] == "smtp down"
    assert attrs(fail_span)["queuecore.job.attempts"] == 1
    assert attrs(spans("queuecore/Dequeue")[0])["queuecore.job.timeout"] == 30.0
    assert attrs(spans("queuecore/CancelJob")[0])["queuecore.job.reason"] == "operator"
    assert spans("queuecore/Requeue") and spans("queuecore/Complete")
    cancel_span = spans("queuecore/Cancel")[0]
    assert cancel_span.status.status_code is trace.StatusCode.ERROR  # missing job


async def test_one_trace_from_request_to_every_attempt(store: queuecore.Store) -> None:
    tracer = trace.get_tracer("test")
    inner_parent = []

    async def handler(ctx: Context) -> None:
        with tracer.start_as_current_span("send") as span:
            inner_parent.append(span.parent.span_id if span.parent else None)
        if ctx.job.attempts == 1:
            raise queuecore.Error("again", retry=True)

    queue = Queue(store)
    queue.add(Task("mail", handler, min_delay=0.01))
    async with queue:
        with tracer.start_as_current_span("POST /signup") as request:
            job = await queue.enqueue(Blueprint("mail"))
        assert job is not None and job.trace
        await wait_job(store, job.id, lambda j: j.status is Status.COMPLETED)

    trace_hex = format(request.get_span_context().trace_id, "032x")
    assert trace_id(job.trace) == trace_hex
    enqueue_span = spans("queuecore/Enqueue")[0]
    assert enqueue_span.parent.span_id == request.get_span_context().span_id
    attempts = spans("queuecore/Execute")
    assert len(attempts) == 2
    for attempt in attempts:
        assert format(attempt.context.trace_id, "032x") == trace_hex
        assert attempt.parent.span_id == enqueue_span.context.span_id
    assert sorted(inner_parent) == sorted(a.context.span_id for a in attempts)
    assert attempts[0].status.status_code is trace.StatusCode.ERROR
    complete = spans("queuecore/Complete")[0]
    assert complete.parent.span_id in {a.context.span_id for a in attempts}


async def test_trace_crosses_processes(target, store: queuecore.Store) -> None:
    """Another process enqueues inside its request span; this process runs the job."""
    script = textwrap.dedent(
        f"""
        import asyncio, json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        import queuecore
        trace.set_tracer_provider(TracerProvider())
        async def main():
            store = await queuecore.connect({target.uri!r}, collection={target.collection!r})
            with trace.get_tracer("web").start_as_current_span("POST /order") as span:
                job = await queuecore.enqueue(store, queuecore.Blueprint("ship"))
            await store.close()
            ctx = span.get_span_context()
            print(json.dumps({{"id": str(job.id), "trace": format(ctx.trace_id, "032x")}}))
        asyncio.run(main())
        """
    )
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    sent = json.loads(out.stdout)

    queue = Queue(store)
    queue.add(Task("ship", lambda ctx: None))
    async with queue:
        await wait_job(store, ObjectId(sent["id"]), lambda j: j.status is Status.COMPLETED)
    [attempt] = spans("queuecore/Execute")
    assert format(attempt.context.trace_id, "032x") == sent["trace"]


async def test_metrics_count_jobs_and_time_attempts(store: queuecore.Store) -> None:
    queue = Queue(store)
    queue.add(Task("metered", lambda ctx: None))
    async with queue:
        job = await queue.enqueue(Blueprint("metered"))
        assert job is not None
        await wait_job(store, job.id, lambda j: j.status is Status.COMPLETED)
    data = READER.get_metrics_data()
    found: dict[str, float] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    if point.attributes.get("queuecore.job.name") == "metered":
                        found[metric.name] = getattr(point, "value", None) or point.count
    assert found["queuecore.jobs.enqueued"] >= 1
    assert found["queuecore.jobs.completed"] >= 1
    assert found["queuecore.attempt.duration"] >= 1
    assert found["queuecore.queue.latency"] >= 1


def test_queuecore_never_imports_opentelemetry_by_itself() -> None:
    code = "import sys, queuecore; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_opentelemetry_tracing_is_a_no_op(quick_target: StoreTarget) -> None:
    code = textwrap.dedent(
        f"""
        import sys, asyncio
        sys.modules["opentelemetry"] = None  # as if the extra were not installed
        import queuecore
        async def main():
            store = await queuecore.connect({quick_target.uri!r}, collection={quick_target.collection!r})
            job = await queuecore.enqueue(store, queuecore.Blueprint("x"))
            await queuecore.dequeue(store, job.id, 10)
            await queuecore.complete(store, job.id)
            assert job.trace is None and not queuecore.tracing.enabled()
            await store.close()
        asyncio.run(main())
        print(sorted(m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_span_of_a_provider_that_is_not_global_is_left_alone(quick_target: StoreTarget) -> None:
    """An application traces with its own provider without making it global: queuecore
    makes no spans then, and must not annotate or fail the application's current span
    when a job in it fails — yet the job still carries that span's trace context."""
    code = textwrap.dedent(
        f"""
        import asyncio, json
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import queuecore
        from queuecore import Blueprint, Queue, Task
        exporter = InMemorySpanExporter()
        provider = TracerProvider()  # never set as the global provider
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("app")

        async def handler(ctx):
            raise RuntimeError("boom")

        async def main():
            store = await queuecore.connect({quick_target.uri!r}, collection={quick_target.collection!r})
            with tracer.start_as_current_span("request") as request:
                queue = Queue(store, reporter=lambda exc: None)
                queue.add(Task("x", handler, max_attempts=1))
                async with queue:
                    job = await queue.enqueue(Blueprint("x"))
                    while (await store.get(job.id)).status.value != "cancelled":
                        await asyncio.sleep(0.01)
                ctx = request.get_span_context()
            await store.close()
            [span] = exporter.get_finished_spans()
            print(json.dumps({{
                "name": span.name,
                "status": span.status.status_code.name,
                "events": [e.name for e in span.events],
                "attributes": sorted(span.attributes or {{}}),
                "job_trace": job.trace,
                "trace_id": format(ctx.trace_id, "032x"),
            }}))
        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["name"] == "request" and seen["status"] == "UNSET"
    assert seen["events"] == [] and seen["attributes"] == []
    assert seen["job_trace"] is not None and seen["trace_id"] in seen["job_trace"]


@pytest.mark.parametrize("value", ["0", "false", "False", "OFF", "no", " 0 "])
def test_tracing_is_switched_off_by_the_environment(value: str) -> None:
    """``QUEUECORE_TRACING`` off in any of its usual spellings: nothing traced, nothing imported."""
    code = (
        "import sys, queuecore; print(queuecore.tracing.enabled(),"
        " any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    env = {**os.environ, "QUEUECORE_TRACING": value}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


async def test_an_attempt_that_outlives_its_lifetime_has_a_failed_span(store: queuecore.Store) -> None:
    reported: list[BaseException] = []
    seen = asyncio.Event()

    async def hang(ctx: Context) -> None:
        await asyncio.Event().wait()  # never set: only the lifetime ends this attempt

    def report(exc: BaseException) -> None:
        reported.append(exc)
        seen.set()

    queue = Queue(store, reporter=report)
    queue.add(Task("hang", hang, lifetime=0.2, timeout=30))
    async with queue:
        job = await queue.enqueue(Blueprint("hang"))
        assert job is not None
        await asyncio.wait_for(seen.wait(), timeout=30)
    assert isinstance(reported[0], queuecore.LifetimeExceeded)
    [attempt] = spans("queuecore/Execute")
    assert attempt.status.status_code is trace.StatusCode.ERROR
