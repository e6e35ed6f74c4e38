"""The job model, its statuses, blueprints and change events.

A job's stored fields (their keys, kinds and defaults) are listed once, in
:mod:`queuecore.fields`: the keys are those the Go original writes, so an existing fire/axe
collection can be read as is; the model takes each field's alias and default from there.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from bson import ObjectId
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

from ._shape import TOO_DEEP, shape_problem
from ._time import Duration, as_utc
from .fields import BY_ATTR, FIELDS, Kind, Stored

#: At most this many entries are kept in ``Job.events`` (the oldest are dropped).
MAX_EVENTS = 20

#: Encoded job data larger than this is refused at enqueue (MongoDB's hard limit is 16 MiB).
MAX_DATA_BYTES = 4 * 1024 * 1024

MAX_DEPTH = 64
"""The deepest nesting of objects and arrays a job's data (or a handler's result) may have:
the data object itself is level 1, each object or array inside it one more.

Deeper data is refused at enqueue (``job data is nested deeper than the limit of 64 levels``),
and a stored job holding deeper data (written by another program) reads back as malformed:
decoding and showing such a value recurse once per level, so a producer could otherwise make
every reader (workers, dashboards, ``jobtui ls``) raise ``RecursionError``. The depth is
measured without recursion (:func:`too_deep`)."""


class Status(StrEnum):
    """The statuses of a job, exactly the original's values."""

    ENQUEUED = "enqueued"
    DEQUEUED = "dequeued"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Statuses in which a job still waits for (or is in) execution.
ACTIVE = (Status.ENQUEUED, Status.DEQUEUED, Status.FAILED)
#: Statuses after which a job never runs again (unless re-enqueued by an operator).
FINISHED = (Status.COMPLETED, Status.CANCELLED)


def _object_id(value: Any) -> ObjectId:
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    raise ValueError(f"not an ObjectId: {value!r}")


def _none_to_empty_dict(value: Any) -> Any:
    return {} if value is None else value


def _none_to_empty_str(value: Any) -> Any:
    return "" if value is None else value


OID = Annotated[ObjectId, BeforeValidator(_object_id), PlainSerializer(lambda v: v)]
UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]
Text = Annotated[str, BeforeValidator(_none_to_empty_str)]


def _stored(attr: str) -> Any:
    """The model field of the stored field ``attr``: its alias (the stored key, when it is not
    the attribute) and default, from :data:`queuecore.fields.FIELDS`."""
    spec = BY_ATTR[attr]
    options: dict[str, Any] = {} if spec.key == attr else {"alias": spec.key}
    if spec.factory is not None:
        options["default_factory"] = spec.factory
    elif not spec.required:
        options["default"] = spec.default
    return Field(**options)


class Event(BaseModel):
    """One entry of a job's history: when, which status it moved to, and why."""

    model_config = ConfigDict(frozen=True)

    at: UTCDateTime
    status: str
    reason: Text = ""


class Job(BaseModel):
    """A single job as stored (read-only snapshot; change it through the module functions)."""

    model_config = ConfigDict(
        populate_by_name=True, arbitrary_types_allowed=True, frozen=True, extra="ignore"
    )

    # each field's alias (its stored key) and default: queuecore.fields
    id: OID = _stored("id")
    name: str = _stored("name")
    label: Text = _stored("label")
    data: Annotated[dict[str, Any], BeforeValidator(_none_to_empty_dict)] = _stored("data")
    status: Status = _stored("status")
    created: UTCDateTime = _stored("created")
    available: UTCDateTime = _stored("available")
    started: UTCDateTime | None = _stored("started")
    ended: UTCDateTime | None = _stored("ended")
    finished: UTCDateTime | None = _stored("finished")
    attempts: int = _stored("attempts")
    result: dict[str, Any] | None = _stored("result")
    reason: Text = _stored("reason")
    events: list[Event] = _stored("events")
    worker: Text = _stored("worker")
    progress: float | None = _stored("progress")
    note: Text = _stored("note")
    cancel_reason: str | None = _stored("cancel_reason")
    heartbeat: UTCDateTime | None = _stored("heartbeat")
    trace: str | None = _stored("trace")
    #: Set (with the problem) when the stored document is not a valid job; such
    #: jobs are shown by dashboards and skipped by workers.
    malformed: str | None = Field(default=None, exclude=True)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Job:
        """Parse a stored document; a malformed one comes back salvaged with ``malformed`` set.

        Never raises: a document that is not a valid job for any reason (wrong types, data
        nested deeper than :data:`MAX_DEPTH`, a value that cannot even be validated) is
        salvaged, so one bad document cannot stop a worker, a board or a listing."""
        try:
            job = cls.model_validate(doc)
        except ValidationError as exc:
            return cls.salvage(doc, _describe(exc))
        except Exception as exc:  # RecursionError and the like: whatever it is, it is not a job
            return cls.salvage(doc, f"malformed job: cannot be read ({type(exc).__name__})")
        for key, value in (("data", job.data), ("result", job.result)):
            if too_deep(value):
                return cls.salvage(doc, f"malformed job: {key}: nested deeper than {MAX_DEPTH} levels")
        return job

    @classmethod
    def salvage(cls, doc: Any, problem: str) -> Job:
        """Best-effort view of a document that is not a valid job, for display only (never
        raises; data nested deeper than :data:`MAX_DEPTH` is left out, shown as ``{}``)."""
        try:
            return cls._salvage(doc, problem)
        except Exception:  # a value too odd even to look at: only the problem is shown
            return cls._salvage({}, problem)

    @classmethod
    def _salvage(cls, doc: Any, problem: str) -> Job:
        doc = doc if isinstance(doc, dict) else {BY_ATTR["id"].key: None, "value": doc}
        values = {f.attr: _salvaged(f, doc.get(f.key)) if f.salvage else f.empty() for f in FIELDS}
        return cls.model_construct(**values, malformed=problem)

    @classmethod
    def trusted(cls, **values: Any) -> Job:
        """A job from values that are already exactly the field types (every field given, by
        field name), without validation: for rows a store just read from its own schema and
        type-checked itself. Several times cheaper than ``model_construct`` (see ``_trusted``)."""
        if values.keys() != _FIELDS:  # the template's own (shared) values must never leak
            raise TypeError(f"Job.trusted needs exactly the fields {sorted(_FIELDS)}")
        return _trusted(values)

    def to_doc(self) -> dict[str, Any]:
        """The stored (MongoDB) form of the job, keyed like the original."""
        doc = self.model_dump(by_alias=True)
        doc["status"] = str(self.status)
        doc["events"] = [e.model_dump() for e in self.events]
        return doc

    @property
    def short_id(self) -> str:
        """The last 8 hex digits of the id (the part that differs between close ObjectIds)."""
        return str(self.id)[-8:]


_FIELDS = frozenset(Job.model_fields)
_TEMPLATE = Job.model_construct(
    id=ObjectId(b"\0" * 12),
    name="",
    status=Status.ENQUEUED,
    created=datetime.fromtimestamp(0, UTC),
    available=datetime.fromtimestamp(0, UTC),
    **{
        name: info.get_default(call_default_factory=True)
        for name, info in Job.model_fields.items()
        if not info.is_required()
    },
)


def _by_copy(values: dict[str, Any]) -> Job:
    """Pydantic's public unvalidated path: ``model_copy(update=…)`` of a template."""
    return _TEMPLATE.model_copy(update=values)


def _by_state(values: dict[str, Any]) -> Job:
    """The state ``model_copy`` and ``model_construct`` give a model, set directly."""
    job = object.__new__(Job)
    object.__setattr__(job, "__dict__", values)
    object.__setattr__(job, "__pydantic_fields_set__", set(_FIELDS))
    object.__setattr__(job, "__pydantic_extra__", None)
    object.__setattr__(job, "__pydantic_private__", None)
    return job


def _choose_trusted() -> Callable[[dict[str, Any]], Job]:
    """``_by_state`` if it yields exactly what ``_by_copy`` does with this pydantic version
    (same pickled state, equal, same dump), else ``_by_copy``: the direct way relies on how
    pydantic stores a model, checked here once rather than assumed."""
    sample = {**_TEMPLATE.__dict__, "data": {"a": [1]}, "events": [], "name": "x"}
    try:
        fast, slow = _by_state(dict(sample)), _by_copy(dict(sample))
        same = (
            fast.__getstate__() == slow.__getstate__()
            and fast == slow
            and fast.model_dump() == slow.model_dump()
            and fast.model_copy(update={"name": "y"}).name == "y"
        )
    except Exception:
        same = False
    return _by_state if same else _by_copy


_trusted = _choose_trusted()


def _salvaged(spec: Stored, value: Any) -> Any:
    """A malformed document's stored ``value`` of the field ``spec``, as its salvaged job shows
    it: the value when it has the field's type (data not nested too deeply), else the default
    — for a required field a placeholder: an id made from the value, ``?`` for text, the
    status as text, no time. Any value, even an unhashable list or dict, is looked at safely."""
    kind = spec.kind
    if kind is Kind.ID:
        return value if isinstance(value, ObjectId) else _salvage_id(value)
    if kind is Kind.STATUS:
        known = isinstance(value, str) and value in Status._value2member_map_
        return Status(value) if known else _shown(value)
    if kind is Kind.TIME:
        return as_utc(value) if isinstance(value, datetime) else None
    if kind is Kind.TEXT and isinstance(value, str):
        return value
    if kind is Kind.INT and type(value) is int:
        return value
    if kind is Kind.OBJECT and isinstance(value, dict) and not too_deep(value):
        return value
    return "?" if spec.required and kind is Kind.TEXT else spec.empty()


def _salvage_id(value: Any) -> ObjectId:
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    # A stable placeholder so a foreign document can still be keyed in a table.
    text = _shown(value) if too_deep(value) else repr(value)
    digest = (text.encode("utf-8", "replace") * 12)[:12]
    return ObjectId(digest)


def _shown(value: Any) -> str:
    """A stored value as text for a salvaged job: ``str`` of anything not nested too deeply
    to print (``repr`` of a deep value recurses), else its type."""
    if isinstance(value, str):
        return value
    if too_deep(value):
        return f"<{type(value).__name__} nested deeper than {MAX_DEPTH} levels>"
    return str(value)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "document"
        parts.append(f"{where}: {err['msg']}")
    return "malformed job: " + "; ".join(parts)


@dataclass
class Blueprint:
    """Describes a job to enqueue (the original's ``axe.Blueprint``)."""

    #: The task name.
    name: str
    #: The job label. If given, the job is only enqueued if no other job with the
    #: same name and label is enqueued, dequeued or failed. Default: "".
    label: str = ""
    #: A pydantic model instance (or dataclass); if given it replaces ``data``. Default: None.
    model: Any = None
    #: The job data (JSON-compatible). Default: {}.
    data: dict[str, Any] | None = None
    #: Initial delay before the job may be dequeued. Default: 0.
    delay: Duration = 0
    #: With a label: only enqueue if no job with this name and label finished
    #: within this period. Default: 0.
    period: Duration = 0

    def payload(self) -> dict[str, Any]:
        """The job data: the serialised model if one is given, else ``data``."""
        if self.model is not None:
            return encode_model(self.model)
        if self.data is None:
            return {}
        if not isinstance(self.data, Mapping):  # dict() would take a list of pairs for an object
            raise TypeError(f"job data must be a dict, not {type(self.data).__name__}")
        return dict(self.data)


def encode_model(model: Any) -> dict[str, Any]:
    """Serialise a pydantic model or dataclass instance into JSON-compatible data."""
    if isinstance(model, BaseModel):
        return model.model_dump(mode="json")
    if dataclasses.is_dataclass(model) and not isinstance(model, type):
        data: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(model), default=str))
        return data
    if isinstance(model, dict):
        return dict(model)
    raise TypeError(f"a job model must be a pydantic model or a dataclass, not {type(model)!r}")


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects (dicts) and arrays (lists, tuples) more than ``limit``
    levels deep, ``value`` itself being level 1 (a scalar is level 0).

    Iterative, with an explicit stack, so a hostile value cannot raise ``RecursionError``
    while it is measured; it stops at the first container past the limit (a value that
    contains itself is too deep)."""
    if not isinstance(value, dict | list | tuple):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        container, level = stack.pop()
        if level > limit:
            return True
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, dict | list | tuple):
                stack.append((item, level + 1))
    return False


def depth_message(what: str = "job data") -> str:
    """The one message for a value nested deeper than :data:`MAX_DEPTH` (``what`` names it)."""
    return f"{what} is nested deeper than the limit of {MAX_DEPTH} levels"


def check_shape(value: Any, what: str = "job data") -> None:
    """Refuse ``value`` (``what`` names it) that no engine can store as given: nested deeper
    than :data:`MAX_DEPTH`, a key that is not a string or holds NUL, a key or string holding a
    lone surrogate (not UTF-8 text). One walk without recursion (see :mod:`queuecore._shape`)."""
    problem = shape_problem(value, MAX_DEPTH)
    if problem == TOO_DEEP:
        raise ValueError(depth_message(what))
    if problem is not None:
        raise ValueError(f"{what} is not JSON-compatible: {problem}")


def check_data(data: dict[str, Any]) -> None:
    """Refuse data that cannot be stored alike on every engine: not a dict, nested deeper than
    MAX_DEPTH, keys or text no engine stores as given (:func:`check_shape`), not
    JSON-compatible, or larger than MAX_DATA_BYTES."""
    if not isinstance(data, dict):
        raise TypeError(f"job data must be a dict, not {type(data).__name__}")
    check_shape(data)  # first: encoding deeper data may recurse past Python's limit
    try:
        # NaN and ±Infinity are not JSON: `jobtui show --json` could not print them for scripts
        text = json.dumps(data, default=_bson_default, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"job data is not JSON-compatible: {exc}") from None
    if _LONG_NUMBER.search(text):  # only then can an integer be out of range: look closer
        _check_integers(data)
    size = len(text.encode())
    if size > MAX_DATA_BYTES:
        raise ValueError(
            f"job data is {size / 1048576:.1f} MiB; the limit is "
            f"{MAX_DATA_BYTES / 1048576:.0f} MiB (store large payloads elsewhere and pass a reference)"
        )


#: 19 digits or more: the only integers that may not fit in 64 bits.
_LONG_NUMBER = re.compile(r"\d{19}")
_INT64 = range(-(2**63), 2**63)


def _check_integers(data: Any) -> None:
    """Refuse integers that do not fit in 64 bits: MongoDB cannot store them (and both engines
    hold the same data)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            raise ValueError(
                f"job data holds the integer {value}, outside the 64-bit range a job can store"
                " (pass it as a string)"
            )


def _bson_default(value: Any) -> Any:
    if isinstance(value, ObjectId | datetime):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


ChangeKind = Literal["insert", "update", "delete", "reset"]


@dataclass(frozen=True)
class Change:
    """One event of ``store.watch()``.

    ``insert``/``update`` carry the job as it is now (``job.malformed`` set for a
    document that is not a valid job); ``delete`` carries only the id; ``reset``
    means events may have been missed (reconnect, history lost, polling tick):
    the consumer must reload what it shows.
    """

    kind: ChangeKind
    id: ObjectId | None = None
    job: Job | None = None
    extra: dict[str, Any] = field(default_factory=dict)
