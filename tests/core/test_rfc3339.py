"""Timestamps: one grammar (`_rfc3339`), read the same by its fast test, its full parser and msgspec.

`parse_datetime` (its C fast path for the usual shape, the full grammar otherwise) must give
what `parse_rfc3339` (the grammar alone) gives, value or ValueError, for any string, and
`parse_many` what `parse_datetime` gives string by string, for any column; msgspec,
which the `[speed]` decoder hands timestamps to, must accept exactly the strings the grammar
accepts and read the same instant (leaving naive the ones without offset, which the decoder
sends to the grammar).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asyncapi_client import _rfc3339
from asyncapi_client._rfc3339 import parse_datetime, parse_many, parse_rfc3339

UTC = timezone.utc


def _outcome(parse: Any, value: Any) -> tuple[str, Any]:
    try:
        return ("ok", parse(value))
    except ValueError:
        return ("error", None)


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


# Strings near the grammar: each part usually right, sometimes one character or length off.
_part = st.one_of
_timestamps = st.builds(
    lambda *parts: "".join(parts),
    _part(_digits(4), st.sampled_from(["0000", "9999", "0001", "\uff12\uff10\uff12\uff16", "202"])),
    st.sampled_from(["-", "-", "-", "/", ""]),
    _part(_digits(2), st.sampled_from(["00", "13", "02", "1"])),
    st.sampled_from(["-", "-", "-", ""]),
    _part(_digits(2), st.sampled_from(["29", "30", "31", "00", "3"])),
    st.sampled_from(["T", "T", "T", "t", " ", "_", ""]),
    _part(_digits(2), st.sampled_from(["23", "24", "2"])),
    st.sampled_from([":", ":", ":", ""]),
    _part(_digits(2), st.sampled_from(["59", "60"])),
    st.sampled_from([":", ":", ":", ""]),
    _part(_digits(2), st.sampled_from(["59", "60", "5"])),
    st.one_of(
        st.just(""),
        st.builds(lambda d: "." + d, st.text("0123456789", min_size=0, max_size=12)),
        st.builds(lambda d: "." + d, st.sampled_from(["9999999", "9999995", "1234565", "12345649", "5"])),
        st.sampled_from([",5", ".5a", ".٣"]),
    ),
    st.one_of(
        st.sampled_from(["Z", "Z", "z", "", "+00:00", "-00:00", "+05:30", "-0800", "+01", "+23:59"]),
        st.sampled_from(["+24:00", "+01:60", "+01:00:30", "Z ", " Z", "ZZ", "+1:00", "+01:0"]),
        st.builds(lambda s, h, m: s + h + ":" + m, st.sampled_from("+-"), _digits(2), _digits(2)),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_timestamps, st.text(max_size=30)))
@example("2024-05-01T12:00:00Z")
@example("2024-05-01T12:00:00.Z")
@example("2024-05-01T12:00:00.1234567Z")
@example("2024-05-01T12:00:00,123Z")
@example("20240501T120000.123456Z")
@example("2024-W18-3T12:00:00Z")
@example("")
@example("2024-05-01T12:00:5Z")  # 19 characters: the shape test must not index past the end
def test_fast_test_and_full_grammar_agree(value: str) -> None:
    assert _outcome(parse_datetime, value) == _outcome(parse_rfc3339, value)
    result = _outcome(parse_datetime, value)[1]
    if result is not None:
        assert result.tzinfo is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01t12:00:00z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01 12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # no offset: UTC
        ("2024-05-01T12:00:00-00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00.5+02:00", datetime(2024, 5, 1, 12, 0, 0, 500000, timezone(timedelta(hours=2)))),
        (
            "2024-05-01T12:00:00-0830",
            datetime(2024, 5, 1, 12, tzinfo=timezone(-timedelta(hours=8, minutes=30))),
        ),
        ("2024-05-01T12:00:00.123Z", datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2024-05-01T12:00:00.1234565Z", datetime(2024, 5, 1, 12, 0, 0, 123457, tzinfo=UTC)),  # half up
        ("2024-05-01T12:00:00.12345649999Z", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-12-31T23:59:59.9999995Z", datetime(2025, 1, 1, tzinfo=UTC)),  # the carry
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
    ],
)
def test_what_the_grammar_reads(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected
    assert parse_datetime(text).utcoffset() == expected.utcoffset()
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01",  # a date alone
        "2024-05-01T12:00Z",  # no seconds
        "2024-05-01T12:00:00+01",  # hour-only offset
        "2024-05-01T12:00:00+01:00:30",
        "2024-05-01T12:00:00+01:60",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00,5Z",
        "2024-05-01T12:00:00.Z",
        " 2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00Z ",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:60Z",  # a leap second has no datetime
        "2023-02-29T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.9999995Z",  # rounds past the last datetime
        "\uff12\uff10\uff12\uff14-05-01T12:00:00Z",  # digits, but not ASCII
        "20240501T120000Z",
    ],
)
def test_what_the_grammar_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)
    with pytest.raises(ValueError):
        parse_rfc3339(text)


class StrSub(str):
    pass


def _written(moment: datetime, digits: int) -> str:
    """`moment` as a server writes it: `Z`, and a fraction of `digits` digits (0: none)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + ("." + f"{moment.microsecond:06d}"[:digits] if digits else "") + "Z"


# A column as servers write one: every string of one shape (the digits at random, so some out
# of range), or a real timestamp; then sometimes a string or two of another kind.
_written_stamps = st.builds(_written, st.datetimes(), st.integers(0, 6))
_odd_values = st.one_of(
    _timestamps,
    st.text(max_size=30),
    st.sampled_from([None, 5, "", "\n", StrSub("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00Z\n"]),
    st.builds(lambda a, b: a + "\n" + b, _written_stamps, _written_stamps),  # two in one
    st.builds(lambda a: a.replace("Z", "z"), _written_stamps),
)


@st.composite
def _columns(draw: Any) -> list[Any]:
    digits = draw(st.integers(0, 7))
    template = _written(datetime(2024, 5, 1, 12), digits)
    shaped = st.builds(
        lambda chosen: "".join(chosen.pop(0) if c.isdigit() else c for c in template),
        st.lists(st.sampled_from("0123456789"), min_size=len(template), max_size=len(template)),
    )
    same_length = st.builds(_written, st.datetimes(), st.just(digits))
    values: list[Any] = draw(st.lists(st.one_of(shaped, same_length), min_size=0, max_size=6))
    for _ in range(draw(st.integers(0, 2)) if values else 0):
        values[draw(st.integers(0, len(values) - 1))] = draw(_odd_values)
    return values


def _each(values: list[Any]) -> tuple[str, Any]:
    try:
        return ("ok", [parse_datetime(value) for value in values])
    except ValueError:
        return ("error", None)


@settings(max_examples=1500, deadline=None)
@given(_columns())
@example(["2024-05-01T12:00:00Z", "2024-13-01T12:00:00Z"])  # the right shape, out of range
@example(["2024-05-01T12:00:00Z\n2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"])
@example(["2024-05-01T12:00:00.1234567Z"] * 2)  # a fraction fromisoformat would cut
@example(["\uff12\uff10\uff12\uff14-05-01T12:00:00Z"])
def test_a_column_reads_as_each_of_its_strings(values: list[Any]) -> None:
    ours = _outcome(parse_many, values)
    assert ours == _each(values)
    assert repr(ours) == repr(_each(values))  # the same tzinfo objects too


@pytest.mark.skipif(not _rfc3339._FROMISOFORMAT_READS_Z, reason="fromisoformat reads Z from 3.11")
@pytest.mark.parametrize("digits", range(7))
def test_a_column_of_one_shape_is_read_at_once(digits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    values = [_written(datetime(2024, 5, 1, 12, i, 7, 123456), digits) for i in range(10)]
    expected = _each(values)[1]

    def string_by_string(value: Any) -> datetime:
        raise AssertionError("read string by string")

    monkeypatch.setattr(_rfc3339, "parse_datetime", string_by_string)
    assert parse_many(values) == expected
    with pytest.raises(AssertionError):
        parse_many([*values[:-1], StrSub(values[-1])])


def test_a_long_column_reads_string_by_string() -> None:
    values = [_written(datetime(2024, 5, 1, 12, 0, i % 60), 3) for i in range(_rfc3339._COLUMN_ROWS + 1)]
    assert parse_many(values) == _each(values)[1]
    assert parse_many(values[:-1]) == _each(values[:-1])[1]


@pytest.mark.parametrize("value", [None, 1714564800, 1.5, b"2024-05-01T12:00:00Z", ["x"]])
def test_a_timestamp_must_be_a_string(value: object) -> None:
    with pytest.raises(ValueError, match="RFC 3339 string"):
        parse_datetime(value)


# Skipped alone without the [speed] extra (a module-level importorskip here skipped the grammar's
# tests above it too, and tests/core/test_speedups.py's, which use `_timestamps`).
msgspec: Any
try:
    import msgspec
except ImportError:
    msgspec = None


@pytest.mark.skipif(msgspec is None, reason="msgspec is not installed (the [speed] extra)")
@settings(max_examples=3000, deadline=None)
@given(st.one_of(_timestamps, st.text(max_size=30)))
@example("2024-05-01T12:00:00.9999995Z")
@example("2024-05-01T12:00:00\x00")
@example("2024-05-01T12:00:00.5\x00Z")
def test_msgspec_reads_the_grammar(value: str) -> None:
    """msgspec accepts what the grammar accepts, at the same instant; naive where it has no
    offset (the decoder then asks the grammar, which reads UTC)."""
    ours = _outcome(parse_rfc3339, value)
    try:
        theirs: datetime | None = msgspec.json.decode(msgspec.json.encode(value), type=datetime)
    except msgspec.ValidationError:
        theirs = None
    if theirs is not None and theirs.tzinfo is None:
        return  # refused by the decoder's naive check: the grammar answers alone
    assert ours == ("ok" if theirs is not None else "error", theirs)
    if theirs is not None:
        assert theirs.utcoffset() == ours[1].utcoffset()
