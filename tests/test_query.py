"""The filter language: parsing (and every malformed-filter error) and the in-memory
semantics (``Query.matches``); that every engine's ``find`` agrees with it is the contract
suite's ``tests/contract/test_query_matches.py``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

import queuecore
from queuecore import Job, Query, QueryError, Status, parse
from queuecore._time import utcnow
from queuecore.query import Term, format_duration, parse_duration

# -- parsing -------------------------------------------------------------------


def test_terms_of_every_kind() -> None:
    q = parse(
        'mail "disk full" status:failed,cancelled name:send_email label:"a b" reason:timeout '
        "reason:~time(out)? id:6B0B9D01 data.user.id=42 age:<1h attempts:>2 !status:stalled"
    )
    assert q.terms == (
        Term("text", ":", ("mail",)),
        Term("text", ":", ("disk full",)),
        Term("status", ":", ("failed", "cancelled")),
        Term("name", ":", ("send_email",)),
        Term("label", ":", ("a b",)),
        Term("reason", ":", ("timeout",)),
        Term("reason", "~", ("time(out)?",)),
        Term("id", ":", ("6b0b9d01",)),
        Term("data", "=", (42,), ("user", "id")),
        Term("age", "<", (3600.0,)),
        Term("attempts", ">", (2,)),
        Term("status", ":", ("stalled",), negated=True),
    )
    assert parse("") == Query() and not parse("   ") and parse("x")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("data.x=42", 42),
        ("data.x=-1.5", -1.5),
        ("data.x=true", True),
        ("data.x=false", False),
        ("data.x=null", None),
        ('data.x="42"', "42"),
        ('data.x="true"', "true"),
        ("data.x=alice", "alice"),
        ("data.x:7", 7),  # ':' reads as '='
        ("data.x=NaN", "NaN"),  # not JSON: a bare word, so a string
    ],
)
def test_data_values_are_json_typed(text: str, value: Any) -> None:
    (term,) = parse(text).terms
    assert term.field == "data" and term.path == ("x",)
    assert term.values == (value,) and type(term.values[0]) is type(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mail",
        '"disk full"',
        "status:failed,cancelled",
        "status:running !status:stalled",
        "name:send_email,report",
        'name:"a,b"',
        'name:"~literal"',
        'label:""',
        'label:"a b"',
        "label:~^a",
        "reason:timeout",
        'reason:"say \\"hi\\""',
        'reason:~"\\d+ s"',
        "data.user.id=42",
        'data.x="42"',
        "data.x=abc",
        "data.x!=null",
        "data.x>=2.5",
        "age:<1h30m",
        "age:>=90s",
        "age:>1.5s",
        "attempts:0",
        "attempts:<=3",
        '!"a:b"',
        '"data.x=1"',
        "6b0b9d01",
    ],
)
def test_canonical_text_parses_back_to_the_same_query(text: str) -> None:
    q = parse(text)
    assert parse(str(q)) == q
    assert str(parse(str(q))) == str(q)


def test_canonical_text_normalises() -> None:
    messy = "  Status:FAILED   age:<60m  data.x:1 id:ABC "
    assert str(parse(messy)) == "status:failed age:<1h data.x=1 id:abc"
    assert str(parse("age:<1.1h")) == "age:<1h6m"
    assert format_duration(parse_duration("2d3h")) == "2d3h" and parse_duration("1h30m") == 5400


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("colour:red", 0, "unknown field 'colour'"),
        ("ok http://x", 3, "unknown field 'http'"),
        ("data:x", 0, "unknown field 'data'"),
        ("!", 0, "'!' must be followed by a term"),
        ("a ! b", 2, "'!' must be followed by a term"),
        ("!!a", 1, "single '!'"),
        ('"disk full', 0, "unterminated quote"),
        ('label:"a b', 6, "unterminated quote"),
        ('"a"b', 3, "space after the closing quote"),
        ('x"y', 1, "unexpected '\"'"),
        ('label:a"b', 7, "unexpected '\"'"),
        ('""', 0, "empty search text"),
        ("status:", 7, "missing value"),
        ("status:bogus", 7, "unknown status 'bogus'"),
        ("status:failed,,x", 7, "unknown status ''"),
        ("name:a,,b", 5, "empty value in the name list"),
        ("reason:~(", 8, "bad regular expression '('"),
        ("name:~[a-", 6, "bad regular expression"),
        ("reason:~" + "a" * 501, 8, "longer than 500"),
        ('reason:""', 7, "empty reason text"),
        ("age:1h", 4, "age needs < or >"),
        ("age:<", 5, "missing value"),
        ("age:<1x", 5, "bad duration '1x'"),
        ("age:<h", 5, "bad duration 'h'"),
        ("age:<1h30", 5, "bad duration '1h30'"),
        ("attempts:>x", 10, "whole number"),
        ("attempts:-1", 9, "whole number"),
        ("id:xyz", 3, "up to 24 hex digits"),
        ("id:" + "a" * 25, 3, "up to 24 hex digits"),
        ("data.=1", 5, "a data key is"),
        ("data.a..b=1", 7, "a data key is"),
        ("data.x", 6, "expected =, !=, <, >, <= or >="),
        ("data.x~1", 6, "expected =, !="),
        ("data.x=", 7, "missing value"),
        ("data.x=[1]", 7, "number, string, true, false or null"),
        ("data.x={}", 7, "number, string, true, false or null"),
        ("data.x>abc", 7, "> compares numbers"),
        ('data.x<"1"', 7, "< compares numbers"),
        ("data.x=99999999999999999999", 7, "out of range"),
        ("data.x=1e999", 7, "out of range"),
    ],
)
def test_malformed_filters_name_the_problem_and_where(text: str, position: int, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(text)
    err = caught.value
    assert isinstance(err, ValueError)  # callers that catch ValueError keep working
    assert err.position == position, (err.position, str(err))
    assert message in str(err)
    assert f"(at character {position + 1})" in str(err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("attempts", "= 1; DROP TABLE jobs --", (1,)), "invalid term"),
        (("colour", ":", ("red",)), "invalid term"),
        (("data", "=", (1,), ('x"); --',)), "invalid data path"),
        (("data", "=", (1,)), "invalid data path"),
        (("status", ":", ("sleeping",)), "unknown status"),
        (("reason", "~", ("(",)), "bad regular expression"),
        (("name", ":", ()), "one or more values"),
    ],
)
def test_hand_built_terms_are_checked(args: tuple[Any, ...], message: str) -> None:
    """Terms may be built in code (dashboards do); field, operator and path reach SQL text,
    so only valid ones are accepted — values are always bound parameters."""
    with pytest.raises(ValueError, match=message):
        Term(*args)


def test_a_filter_must_be_text() -> None:
    with pytest.raises(QueryError, match="must be text"):
        parse(None)  # type: ignore[arg-type]


# -- in-memory semantics ---------------------------------------------------------

NOW = datetime.fromisoformat("2025-01-01T12:00:00+00:00")


def job(**kw: Any) -> Job:
    values: dict[str, Any] = {
        "_id": ObjectId("65f0c0ffee00000000abcdef"),
        "name": "send_email",
        "label": "",
        "status": "enqueued",
        "created_at": NOW - timedelta(minutes=5),
        "available_at": NOW,
        "data": {},
    }
    values.update(kw)
    return Job.model_validate(values)


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("EMAIL", {}, True),
        ("coffee", {}, False),
        ("c0ffee", {}, True),  # a part of the id
        ("abcdef", {}, True),  # the short id's end
        ("65F0", {}, True),  # an id prefix, any case
        ("time", {"reason": "Timeout after 30s"}, True),
        ("échec", {"reason": "ÉCHEC total"}, True),
        ("status:running", {"status": "dequeued", "available_at": NOW + timedelta(seconds=1)}, True),
        ("status:stalled", {"status": "dequeued", "available_at": NOW + timedelta(seconds=1)}, False),
        ("status:stalled", {"status": "dequeued", "available_at": NOW}, True),
        ("status:dequeued", {"status": "dequeued", "available_at": NOW}, True),
        ("status:failed,stalled", {"status": "failed"}, True),
        ("name:send_email", {}, True),
        ("name:SEND_EMAIL", {}, False),  # names are exact
        ("name:~^SEND", {}, True),  # regexes are case-insensitive
        ('label:""', {}, True),
        ("label:a", {"label": "ab"}, False),
        ("reason:~^$", {}, True),
        ("age:<5m", {}, False),
        ("age:<=5m", {}, True),
        ("age:>1m", {}, True),
        ("attempts:0", {}, True),
        ("attempts:>0", {"attempts": 1}, True),
        ("data.n=1", {"data": {"n": 1}}, True),
        ("data.n=1", {"data": {"n": 1.0}}, True),
        ("data.n=1", {"data": {"n": True}}, False),
        ("data.n=true", {"data": {"n": 1}}, False),
        ("data.n=1", {"data": {"n": "1"}}, False),
        ('data.n="1"', {"data": {"n": "1"}}, True),
        ("data.n=null", {"data": {}}, True),
        ("data.n=null", {"data": {"n": None}}, True),
        ("data.n=null", {"data": {"n": 0}}, False),
        ("data.n!=null", {"data": {"n": 0}}, True),
        ("data.n!=1", {"data": {}}, True),
        ("data.a.b=null", {"data": {"a": 5}}, True),  # through a scalar: missing
        ("data.a.b=null", {"data": {"a": [{"b": 1}]}}, False),  # through an array: never null
        ("data.a.b=1", {"data": {"a": [{"b": 1}]}}, False),  # paths walk objects only
        ("data.tags=x", {"data": {"tags": ["x"]}}, False),  # arrays equal no scalar
        ("data.n>1", {"data": {"n": "5"}}, False),  # < > compare numbers only
        ("data.n>1", {"data": {"n": 1.5}}, True),
        ("!data.n>1", {"data": {"n": "5"}}, True),
    ],
)
def test_matches(text: str, fields: dict[str, Any], expected: bool) -> None:
    assert parse(text).matches(job(**fields), NOW) is expected


def test_matches_uses_the_current_time_by_default() -> None:
    running = job(status="dequeued", available_at=utcnow() + timedelta(hours=1))
    stalled = job(status="dequeued", available_at=utcnow() - timedelta(seconds=1))
    assert parse("status:running").matches(running) and not parse("status:running").matches(stalled)
    assert queuecore.display_status(stalled) == "stalled"
    assert queuecore.display_status(running) == "dequeued"


def test_query_of_find_arguments() -> None:
    assert Query.of(["failed", Status.CANCELLED], "mail", "x") == parse("status:failed,cancelled name:mail x")
    assert Query.of(None, "", "") == Query()
    with pytest.raises(ValueError, match="unknown status 'sleeping'"):
        Query.of("sleeping")
