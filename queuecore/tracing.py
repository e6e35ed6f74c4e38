"""Optional OpenTelemetry tracing and metrics (``pip install 'jobtui[otel]'``).

Like the original, every queue operation is traced; on top of that the trace
context travels with the job (W3C ``traceparent`` in ``job.trace``), so one trace
shows the request that enqueued a job, the enqueue, and every attempt that ran
it — across processes and engines.

Spans: ``queuecore/Enqueue``, ``queuecore/EnqueueMany``, ``queuecore/Dequeue``,
``queuecore/Complete``, ``queuecore/Fail``, ``queuecore/Cancel``, ``queuecore/Requeue``,
``queuecore/CancelJob``, and ``queuecore/Execute`` around each handler attempt
(``ctx.trace`` is that span: spans the handler opens nest under it).
Attributes: ``queuecore.job.id``, ``.name``, ``.label``, ``.attempts``,
``.delay``, ``.timeout``, ``.reason``, ``.skipped`` (enqueue), ``.count`` (enqueue many).

Metrics (OpenTelemetry metrics API): ``queuecore.jobs.enqueued``,
``queuecore.jobs.completed``, ``queuecore.jobs.failed``,
``queuecore.jobs.cancelled`` (counters, attribute ``queuecore.job.name``),
``queuecore.attempt.duration`` and ``queuecore.queue.latency`` (histograms, s).

Without opentelemetry-api installed (or with ``QUEUECORE_TRACING`` set to ``0``, ``false``,
``off`` or ``no``) every function here is a no-op and opentelemetry is never imported. The
application brings its own SDK and exporter; until it sets a tracer provider, no spans are
created at all (they would be no-op spans), only the trace context is carried on.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from typing import Any

_NULL = contextlib.nullcontext()
_state: Any = None  # None: not resolved yet; False: tracing off; else an _Otel


class _Otel:
    def __init__(self) -> None:
        from opentelemetry import context, metrics, propagate, trace

        from . import __version__

        self.trace = trace
        self.context = context
        self.propagate = propagate
        self.tracer = trace.get_tracer("queuecore", __version__)
        meter = metrics.get_meter("queuecore", __version__)
        self.counters = {
            kind: meter.create_counter(f"queuecore.jobs.{kind}", unit="{job}", description=f"jobs {kind}")
            for kind in ("enqueued", "completed", "failed", "cancelled")
        }
        self.duration = meter.create_histogram(
            "queuecore.attempt.duration", unit="s", description="how long a handler attempt ran"
        )
        self.latency = meter.create_histogram(
            "queuecore.queue.latency", unit="s", description="from available to started"
        )
        self.recording = False
        self.current = _Current(trace.get_current_span, trace.NonRecordingSpan)

    def tracing(self) -> bool:
        """Whether a real tracer provider is set. Without one (the API's default proxy, or an
        explicit no-op provider) every span would be a no-op span: :func:`span` then skips
        creating and attaching one, the hot path's main tracing cost. A provider can be set
        only once, so once seen it is remembered; until then each call checks again."""
        if not self.recording:
            provider = self.trace.get_tracer_provider()
            self.recording = not isinstance(
                provider, self.trace.ProxyTracerProvider | self.trace.NoOpTracerProvider
            )
        return self.recording


class _Current:
    """The span a no-op tracer would give, without starting or attaching anything: the
    current trace context (a resumed one, if any) as a non-recording span — never the
    current span itself, which may be the application's own, recording under a tracer
    provider it did not make global: queuecore must not annotate or fail it."""

    __slots__ = ("get", "wrap")

    def __init__(self, get: Any, wrap: Any) -> None:
        self.get = get
        self.wrap = wrap

    def __enter__(self) -> Any:
        current = self.get()
        return current if not current.is_recording() else self.wrap(current.get_span_context())

    def __exit__(self, *exc: object) -> None:
        return None


def _otel() -> _Otel | None:
    global _state
    if _state is None:
        setting = os.environ.get("QUEUECORE_TRACING", "1").strip().lower()
        enabled = setting not in ("0", "false", "off", "no")
        _state = _Otel() if enabled and importlib.util.find_spec("opentelemetry") else False
    return _state or None


def enabled() -> bool:
    """Whether OpenTelemetry is installed and tracing is on."""
    return _otel() is not None


def span(span_name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A current span named ``span_name`` (yields None when tracing is off, and the current
    non-recording span while no tracer provider is set)."""
    otel = _otel()
    if otel is None:
        return _NULL
    if not otel.tracing():
        return otel.current
    attrs = {f"queuecore.job.{k}": _attr(v) for k, v in attributes.items() if v is not None}
    return otel.tracer.start_as_current_span(span_name, attributes=attrs)


def annotate(current: Any, **attributes: Any) -> None:
    """Add attributes to a span from :func:`span` (no-op for None or a non-recording span)."""
    if recording(current):
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(f"queuecore.job.{key}", _attr(value))


def recording(current: Any) -> bool:
    """Whether a span from :func:`span` records (False for None and non-recording spans)."""
    return current is not None and bool(current.is_recording())


def failed(current: Any, exc: BaseException) -> None:
    """Mark a span from :func:`span` as failed with ``exc`` (no-op for None)."""
    otel = _otel()
    if otel is not None and recording(current):
        current.record_exception(exc)
        current.set_status(otel.trace.Status(otel.trace.StatusCode.ERROR, str(exc)))


def inject() -> str | None:
    """The current trace context as a W3C ``traceparent`` (None when there is none)."""
    otel = _otel()
    if otel is None:
        return None
    carrier: dict[str, str] = {}
    otel.propagate.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def resume(traceparent: str | None) -> Iterator[None]:
    """Make the trace stored on a job current, so spans opened inside continue it."""
    otel = _otel()
    if otel is None or not traceparent:
        yield
        return
    token = otel.context.attach(otel.propagate.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        otel.context.detach(token)


def count(kind: str, name: str) -> None:
    """Count a job enqueued/completed/failed/cancelled for task ``name``."""
    otel = _otel()
    if otel is not None:
        otel.counters[kind].add(1, {"queuecore.job.name": name})


def record(metric: str, seconds: float, name: str) -> None:
    """Record an attempt ``duration`` or queue ``latency`` for task ``name``."""
    otel = _otel()
    if otel is not None:
        getattr(otel, metric).record(max(0.0, seconds), {"queuecore.job.name": name})


def trace_id(traceparent: str | None) -> str | None:
    """The trace id inside a stored ``traceparent`` (no OpenTelemetry needed)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else None


def _attr(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return str(value)
