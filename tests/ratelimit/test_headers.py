"""Rate-limit header parsing: pure functions, every dialect, and garbage that must never raise."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncapi_client._ratelimit._headers import (
    RateLimitHeaderReader,
    RateLimitInfo,
    as_info,
    parse_ietf_ratelimit,
    parse_int,
    parse_number,
    parse_rate_limit_headers,
    reset_seconds,
)

NOW = 1_700_000_000.0


def test_contract_headers_epoch_reset() -> None:
    info = parse_rate_limit_headers(
        {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "3", "x-ratelimit-reset": "1700000005"}, NOW
    )
    assert info == RateLimitInfo(limit=10, remaining=3, reset_after=5.0, model="bucket")


def test_contract_headers_delta_reset_detected() -> None:
    info = parse_rate_limit_headers(
        {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "7"}, NOW
    )
    assert info is not None and info.reset_after == 7.0


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("1700000030", "auto", 30.0),
        ("30", "auto", 30.0),
        ("1700000030000", "auto", 30.0),  # epoch milliseconds
        ("1699999990", "auto", 0.0),  # in the past: now
        ("30", "epoch", 0.0),  # forced epoch: 1970 is long past
        ("1700000030", "delta", None),  # forced delta of 54 years: past MAX_RESET_SECONDS, ignored
        ("3600", "delta", 3600.0),  # forced delta: taken as given
        ("2.5", "auto", 2.5),
        ("-3", "auto", None),
        ("soon", "auto", None),
        ("", "auto", None),
        ("1e3", "auto", None),
        ("nan", "auto", None),
        ("inf", "auto", None),
        ("٣", "auto", None),  # a non-ASCII digit
    ],
)
def test_reset_forms(value: str, fmt: str, expected: float | None) -> None:
    assert reset_seconds(value, NOW, fmt) == expected  # type: ignore[arg-type]


def test_reset_format_is_applied() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000004"}
    info = parse_rate_limit_headers(headers, NOW, "delta")
    # Read as a delta it is 54 years away: implausible, so ignored rather than obeyed.
    assert info is not None and info.reset_after is None
    info = parse_rate_limit_headers({**headers, "x-ratelimit-reset": "4"}, NOW, "delta")
    assert info is not None and info.reset_after == 4.0
    info = parse_rate_limit_headers(headers, NOW, "epoch")
    assert info is not None and info.reset_after == 4.0


def test_retry_after_seconds_and_http_date() -> None:
    info = parse_rate_limit_headers({"retry-after": "3"}, NOW)
    assert info == RateLimitInfo(retry_after=3.0)
    date = email.utils.formatdate(NOW + 12, usegmt=True)
    info = parse_rate_limit_headers({"retry-after": date, "x-ratelimit-remaining": "0"}, NOW)
    assert info is not None and info.retry_after == pytest.approx(12.0) and info.remaining == 0


def test_ietf_structured_fields_draft_08() -> None:
    info = parse_rate_limit_headers(
        {"ratelimit-policy": '"default";q=100;w=60', "ratelimit": '"default";r=50;t=30'}, NOW
    )
    assert info == RateLimitInfo(
        limit=100, remaining=50, reset_after=30.0, quota=100, window=60.0, model="window"
    )


def test_ietf_most_restrictive_member_and_its_policy() -> None:
    info = parse_rate_limit_headers(
        {
            "ratelimit-policy": '"burst";q=100;w=1, "daily";q=1000;w=86400',
            "ratelimit": '"burst";r=80;t=1, "daily";r=5;t=3600',
        },
        NOW,
    )
    assert info is not None
    assert (info.remaining, info.reset_after, info.quota, info.window) == (5, 3600.0, 1000, 86400.0)


def test_ietf_dictionary_form_and_old_policy() -> None:
    info = parse_rate_limit_headers(
        {"ratelimit": "limit=100, remaining=50, reset=30", "ratelimit-policy": "100;w=60"}, NOW
    )
    assert info is not None
    assert (info.limit, info.remaining, info.reset_after, info.quota, info.window) == (
        100,
        50,
        30.0,
        100,
        60.0,
    )


def test_ietf_separate_fields_reset_is_delta() -> None:
    info = parse_rate_limit_headers(
        {"ratelimit-limit": "100", "ratelimit-remaining": "0", "ratelimit-reset": "1700000000"}, NOW
    )
    # The IETF field is delta-seconds: 1,700,000,000 s is implausible, so ignored.
    assert info is not None and info.remaining == 0 and info.reset_after is None
    assert info.model == "window"
    info = parse_rate_limit_headers(
        {"ratelimit-limit": "100", "ratelimit-remaining": "0", "ratelimit-reset": "30"}, NOW
    )
    assert info is not None and info.reset_after == 30.0


def test_policy_only_gives_quota() -> None:
    limit, remaining, reset, quota, window = parse_ietf_ratelimit(None, '"p";q=10;w=2')
    assert (limit, remaining, reset, quota, window) == (10, None, None, 10, 2.0)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-limit": "ten", "x-ratelimit-remaining": "-1", "x-ratelimit-reset": "tomorrow"},
        {"x-ratelimit-remaining": "9" * 40},
        {"ratelimit": '"unterminated;r=5'},
        {"ratelimit": ";;;,,,==="},
        {"ratelimit-policy": "q=;w=", "ratelimit": '"x";r=;t=-5'},
        {"retry-after": "Wed, 99 Foo 2024 99:99:99 GMT"},
        {"retry-after": "-5"},
        {"ratelimit": "x" * 10_000},
    ],
)
def test_garbage_is_ignored(headers: dict[str, str]) -> None:
    info = parse_rate_limit_headers(headers, NOW)
    assert info is None or (info.remaining is None and info.retry_after is None and info.reset_after is None)


def test_no_headers_no_info() -> None:
    assert parse_rate_limit_headers({"content-type": "application/json"}, NOW) is None


def test_numbers() -> None:
    assert parse_int(" 42 ") == 42
    assert parse_int("4.2") is None
    assert parse_int("") is None
    assert parse_number("0.25") == 0.25
    assert parse_number(".") is None
    assert parse_number("1.2.3") is None


_HEADER_NAMES = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-used",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
]


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(_HEADER_NAMES),
        st.one_of(
            st.text(max_size=40),
            st.from_regex(r'("[a-z]*";)?[qrtw]=-?[0-9.]{0,6}(;[qrtw]=[0-9]{0,4})*', fullmatch=True),
            st.integers(-(10**20), 10**20).map(str),
        ),
    ),
    st.floats(0, 4e9),
)
def test_fuzz_never_raises(headers: dict[str, str], now: float) -> None:
    info = parse_rate_limit_headers(headers, now)
    if info is not None:
        for value in (info.limit, info.remaining, info.quota):
            assert value is None or value >= 0
        for number in (info.reset_after, info.retry_after, info.window):
            assert number is None or number >= 0


_X_VALUES = st.one_of(
    st.sampled_from(["10", "0", "1700000005", "1699999990", "5", "2.5", " 7 ", "1700000005000", "", "x"]),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from([*_HEADER_NAMES, "content-type"]), _X_VALUES, max_size=5),
            st.floats(0, 4e9),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["auto", "epoch", "delta"]),
)
def test_reader_agrees_with_the_function(steps: list[tuple[dict[str, str], float]], fmt: str) -> None:
    """The limiter's `RateLimitHeaderReader` (which remembers the last X-RateLimit values it
    parsed) says what `parse_rate_limit_headers` (a reader that has read nothing before) says,
    response after response, and reads the clock only when there is something to read it for."""
    reader = RateLimitHeaderReader(fmt)  # type: ignore[arg-type]
    for headers, now in [*steps, *steps]:  # the second pass repeats values: the remembered path
        reads: list[float] = []

        def clock(now: float = now, reads: list[float] = reads) -> float:
            reads.append(now)
            return now

        info, read_at = reader.read(headers, clock)
        assert info == parse_rate_limit_headers(headers, now, fmt)  # type: ignore[arg-type]
        if info is not None:
            assert reads == [now] and read_at == now
        assert len(reads) <= 1


def test_reader_follows_changing_values() -> None:
    reader = RateLimitHeaderReader()
    headers = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "3", "x-ratelimit-reset": "1700000005"}
    assert reader.read(headers, lambda: NOW)[0] == RateLimitInfo(10, 3, 5.0)
    assert reader.read(dict(headers), lambda: NOW + 1)[0] == RateLimitInfo(10, 3, 4.0)
    headers["x-ratelimit-remaining"] = "2"
    assert reader.read(headers, lambda: NOW + 1)[0] == RateLimitInfo(10, 2, 4.0)
    assert reader.read({"content-type": "application/json"}, lambda: 1 / 0) == (None, 0.0)


_L, _R, _T, _U, _RA = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-used",
    "retry-after",
)

# One reader, response after response: (headers, seconds after NOW, what it must read). Limit
# and Reset are remembered as sent; each row changes one thing the memory must not hide.
_READER_STEPS: list[tuple[dict[str, str], float, RateLimitInfo | None]] = [
    ({_L: "10", _R: "9", _T: "1700000005"}, 0, RateLimitInfo(10, 9, 5.0)),
    ({_L: "10", _R: "8", _T: "1700000005"}, 1, RateLimitInfo(10, 8, 4.0)),  # Remaining moves, Reset nears
    ({_L: "10", _R: "8", _T: "1700000005"}, 2, RateLimitInfo(10, 8, 3.0)),  # all repeated
    ({_L: "20", _R: "19", _T: "1700000005"}, 2, RateLimitInfo(20, 19, 3.0)),  # a new Limit
    ({_L: "20", _R: "19", _T: "1700000030"}, 2, RateLimitInfo(20, 19, 28.0)),  # a new Reset
    ({_L: "20", _R: "19", _T: "7"}, 2, RateLimitInfo(20, 19, 7.0)),  # Reset as a delta
    ({_L: "20", _R: "19", _T: "1700000030"}, 3, RateLimitInfo(20, 19, 27.0)),  # an epoch again
    ({_L: "20", _R: "19", _T: "1699999990"}, 3, RateLimitInfo(20, 19, 0.0)),  # a Reset past
    ({_L: "20", _R: "19", _T: "1700000030000"}, 3, RateLimitInfo(20, 19, 27.0)),  # milliseconds
    ({_L: "20", _R: "19", _T: "1800000000"}, 3, RateLimitInfo(20, 19, None)),  # years away
    ({_L: "20", _R: "19", _T: "١٧٠٠٠٠٠٠٣٠"}, 3, RateLimitInfo(20, 19, None)),  # not ASCII digits
    ({_L: "20", _R: "19", _T: "soon"}, 3, RateLimitInfo(20, 19, None)),
    ({_L: "20", _R: "19"}, 3, RateLimitInfo(20, 19, None)),  # Reset gone
    ({_R: "18", _T: "1700000030"}, 3, RateLimitInfo(None, 18, 27.0)),  # Limit gone
    ({_L: "20", _R: "18", _T: "1700000030"}, 3, RateLimitInfo(20, 18, 27.0)),  # Limit back
    ({_L: "twenty", _R: "18", _T: "1700000030"}, 3, RateLimitInfo(None, 18, 27.0)),  # Limit garbage
    ({_L: "20", _R: "x", _T: "1700000030"}, 3, RateLimitInfo(20, None, 27.0)),  # Remaining garbage
    ({_L: "20", _R: " 17 ", _T: "1700000030"}, 3, RateLimitInfo(20, 17, 27.0)),  # padded
    ({_L: "20", _R: "17", _T: "1700000030", _RA: "5"}, 3, RateLimitInfo(20, 17, 27.0, retry_after=5.0)),
    ({_L: "20", _R: "17", _T: "1700000030"}, 3, RateLimitInfo(20, 17, 27.0)),  # Retry-After gone
    ({_L: "20", _R: "17", _T: "1700000030", _U: "3"}, 3, RateLimitInfo(20, 17, 27.0, model="window")),
    ({_L: "20", _R: "16", _T: "1700000030"}, 3, RateLimitInfo(20, 16, 27.0)),  # Used gone: a bucket
    ({_L: "x", _R: "y", _T: "z"}, 3, None),  # nothing readable
    ({_L: "20", _R: "16", _T: "1700000030"}, 4, RateLimitInfo(20, 16, 26.0)),
    ({"content-type": "text/plain"}, 4, None),
    ({_L: "20", _R: "16", _T: "1700000030"}, 5, RateLimitInfo(20, 16, 25.0)),
]


def test_reader_remembers_only_what_repeats() -> None:
    """A Limit or a Reset that changes (its form too) is read anew; one that repeats, or a
    Remaining that moves, reads as it would alone."""
    reader = RateLimitHeaderReader()
    for headers, after, expected in _READER_STEPS:
        info, read_at = reader.read(headers, lambda after=after: NOW + after)
        assert info == expected, headers
        assert info == parse_rate_limit_headers(headers, NOW + after)
        if info is not None:
            assert read_at == NOW + after


@pytest.mark.parametrize(
    ("reset_format", "first", "then"),
    [("delta", None, 30.0), ("epoch", 30.0, 0.0), ("auto", 30.0, 30.0)],
)
def test_reader_remembers_a_reset_in_its_format(
    reset_format: str, first: float | None, then: float | None
) -> None:
    """The ten-digit Reset is an epoch only when the format allows it: as a delta it is 54
    years away, ignored; and a small Reset is a delta unless the format says epoch."""
    reader = RateLimitHeaderReader(reset_format)  # type: ignore[arg-type]
    for reset, expected in (("1700000030", first), ("30", then)):
        for _ in range(2):  # the second read is the remembered one
            fields, _at = reader.read({_R: "1", _T: reset}, lambda: NOW)
            assert fields is not None and as_info(fields).reset_after == expected


def test_a_reset_more_than_a_day_away_is_ignored() -> None:
    """One header with a microsecond epoch must not block the client for years."""
    from asyncapi_client._ratelimit._headers import parse_rate_limit_headers, reset_seconds

    now = 1_800_000_000.0
    absurd = str(int(now * 1_000_000))
    assert reset_seconds(absurd, now) is None
    assert reset_seconds(str(int(now) + 86_401), now, "epoch") is None
    assert reset_seconds(str(int(now) + 3600), now, "epoch") == 3600
    info = parse_rate_limit_headers(
        {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": absurd}, now
    )
    assert info is not None and info.remaining == 0 and info.reset_after is None
