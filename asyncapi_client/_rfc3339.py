"""Timestamps: the one definition of what the SDK reads as a date-time, and a fast way to read it.

The grammar is RFC 3339's `date-time`, with the liberties most servers take and most parsers
allow (msgspec's parser takes exactly these, which lets the SDK hand timestamps to it):

    YYYY-MM-DD ("T" | "t" | " ") HH:MM:SS ["." 1*DIGIT] ["Z" | "z" | ("+" | "-") HH [":"] MM]

- ASCII digits only; year 0001-9999, a real day of the month, hour 00-23, minute 00-59,
  second 00-59 (a leap second has no `datetime`), offset hours 00-23 and minutes 00-59.
- A fraction of any length is rounded to the nearest microsecond, half up (`.1234565` gives
  123457 us), carrying into the second, day or year; past 9999-12-31 it is an error.
- No offset: the time is taken as UTC (every timestamp this SDK returns is aware).
  `-00:00` is UTC too.

Anything else (a date alone, `+01` or `+01:00:30`, a comma fraction, surrounding spaces) is an
error, on every Python version: `datetime.fromisoformat` accepts more since 3.11 and less before.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from operator import countOf
from typing import Any, Final

_GRAMMAR: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):?(\d\d))?",
    re.ASCII,
)
_UTC: Final = timezone.utc
_ONE_MICROSECOND: Final = timedelta(microseconds=1)
_offsets: dict[str, timezone] = {}  # "+0530" -> its timezone, so a page of them builds one

# Python 3.11+ reads `YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z` natively and exactly as the grammar does;
# FAST_SHAPE is the test (Python source, `{v}` the value) that a string has that shape. The test
# pins each separator, the `Z` and the fraction's digits, so the C parser reads the string as the
# grammar does; it still checks the other digits and the ranges (ValueError: let the grammar
# answer). Python 3.10's `fromisoformat` reads no `Z`: there every string takes the grammar.
_FROMISOFORMAT_READS_Z: Final = sys.version_info >= (3, 11)
FAST_SHAPE: Final = (
    (
        'type({v}) is str and {v}[-1:] == "Z" and {v}[4:17:3] == "--T::" and {v}.isascii() '
        'and (len({v}) == 20 or (len({v}) <= 27 and {v}[19:20] == "." and {v}[20:-1].isdigit()))'
    )
    if _FROMISOFORMAT_READS_Z
    else "False"
)


def _compile_parse_datetime() -> Callable[[Any], datetime]:
    # Generated from FAST_SHAPE, which `_fast_decode` inlines in its builders too.
    source = (
        "def parse_datetime(value):\n"
        f"    if {FAST_SHAPE.format(v='value')}:\n"
        "        try:\n"
        "            return fromisoformat(value)\n"
        "        except ValueError:\n"
        "            pass\n"
        "    return parse_rfc3339(value)\n"
    )
    namespace: dict[str, Any] = {"fromisoformat": datetime.fromisoformat, "parse_rfc3339": parse_rfc3339}
    exec(source, namespace)
    parse: Callable[[Any], datetime] = namespace["parse_datetime"]
    parse.__doc__ = "An RFC 3339 string (see `_rfc3339`) to an aware datetime; ValueError otherwise."
    return parse


def _offset(sign: str, hours: str, minutes: str) -> timezone:
    key = sign + hours + minutes
    tz = _offsets.get(key)
    if tz is None:
        if int(hours) > 23 or int(minutes) > 59:
            raise ValueError(f"the offset {sign}{hours}:{minutes} is out of range")
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        tz = timezone(-offset if sign == "-" else offset) if offset else _UTC
        if len(_offsets) < 4096:  # bounded, though only 2 * 24 * 60 keys can exist
            _offsets[key] = tz
    return tz


def parse_rfc3339(value: Any) -> datetime:
    """The grammar, read in full. `parse_datetime` gives the same answer, faster when it can."""
    if type(value) is not str:
        raise ValueError("a timestamp must be an RFC 3339 string")
    match = _GRAMMAR.fullmatch(value)
    if match is None:
        raise ValueError("not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM])")
    year, month, day, hour, minute, second, fraction, sign, off_hours, off_minutes = match.groups()
    tz = _UTC if sign is None else _offset(sign, off_hours, off_minutes)  # None: "Z" or no offset
    microsecond, round_up = 0, False
    if fraction is not None:
        microsecond = int(fraction[:6].ljust(6, "0"))
        round_up = len(fraction) > 6 and fraction[6] >= "5"
    # datetime() checks each range (year 1-9999, the day of that month, hour, minute, second).
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), microsecond, tz)
    if round_up:
        try:
            moment += _ONE_MICROSECOND
        except OverflowError:
            raise ValueError("the timestamp rounds past 9999-12-31") from None
    return moment


parse_datetime: Final = _compile_parse_datetime()


# A column of timestamps (one field of every item of a page) is usually written one way by one
# server: the same length, the same places for the digits. Such a column is tested at once: its
# strings joined by "\n", as ASCII bytes, every digit made "0", must be n copies of one of the
# skeletons below joined by "\n" (a C translate and a prefix compare, about 20 ns a string,
# where FAST_SHAPE's test costs about 150 ns). A skeleton pins what FAST_SHAPE pins and makes
# every other character an ASCII digit, so each string passes FAST_SHAPE and `fromisoformat`
# reads it as `parse_datetime` does. The "\n" pin the boundaries: no string can hold one.
_SKELETONS: Final = {
    len(skeleton): skeleton
    for skeleton in [b"0000-00-00T00:00:00Z"]
    + [b"0000-00-00T00:00:00." + b"0" * n + b"Z" for n in range(1, 7)]
}
_COLUMN_ROWS: Final = 1000  # a longer column is read string by string
_DIGITS_TO_ZERO: Final = bytes.maketrans(b"0123456789", b"0" * 10)
_fromisoformat: Final = datetime.fromisoformat
_columns: dict[int, bytes] = {}  # a skeleton's length -> _COLUMN_ROWS of it joined (28 kB at most)


def _column(length: int) -> bytes:
    skeleton = _SKELETONS.get(length)
    if skeleton is None:
        return b""
    column = _columns[length] = b"\n".join([skeleton] * _COLUMN_ROWS)
    return column


def parse_many(values: Sequence[Any]) -> list[datetime]:
    """`[parse_datetime(value) for value in values]` (ValueError on the first bad one), read at
    once by `fromisoformat` when every value has the one shape of a `_SKELETONS` entry."""
    # A str subclass is no timestamp to the grammar: exact types first.
    if _FROMISOFORMAT_READS_Z and values and countOf(map(type, values), str) == len(values):
        length = len(values[0])
        column = _columns.get(length) or _column(length)
        joined = "\n".join(values)
        if (
            len(joined) == len(values) * (length + 1) - 1 <= len(column)
            and joined.isascii()
            and column.startswith(joined.encode("ascii").translate(_DIGITS_TO_ZERO))
        ):
            try:
                return list(map(_fromisoformat, values))
            except ValueError:  # a range (month 13, February 30): let the grammar answer
                pass
    return list(map(parse_datetime, values))
