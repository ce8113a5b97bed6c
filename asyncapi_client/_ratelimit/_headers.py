"""Read a response's rate-limit headers. Pure functions, no I/O (sans-I/O): malformed values are
ignored, never raised.

Three dialects are understood, in this order of trust:

* `X-RateLimit-Limit` / `-Remaining` / `-Reset` (our contract: a token bucket of capacity Limit;
  Reset is when the bucket is full again, as Unix epoch seconds; other servers send
  delta-seconds, or epoch milliseconds, detected by magnitude or fixed by `reset_format`).
  With `X-RateLimit-Used` beside them (GitHub's dialect) Limit is a quota per fixed window,
  restored whole at Reset, and the info's model is `"window"`;
* the IETF fields of draft-ietf-httpapi-ratelimit-headers: `RateLimit: "name";r=50;t=30` with
  `RateLimit-Policy: "name";q=100;w=60` (draft 08 and later), the dictionary form
  `RateLimit: limit=100, remaining=50, reset=30` (drafts 03-07), and the separate
  `RateLimit-Limit` / `-Remaining` / `-Reset` fields (drafts 00-02); their reset is always
  delta-seconds and their limits are quotas per window;
* `Retry-After` (seconds or an HTTP-date), which the caller honours above all else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final, Literal, NamedTuple

import attrs

from .._c_builders import speedups
from .._retry_after import parse_retry_after

ResetFormat = Literal["auto", "epoch", "delta"]

# A Reset this large is an epoch timestamp even under "auto" (about 1973), one this small is a
# delta (three years of seconds); in between, the value is compared with the clock.
_EPOCH_FLOOR: Final = 100_000_000.0
_MAX_DIGITS: Final = 20

_X_LIMIT: Final = "x-ratelimit-limit"
_X_REMAINING: Final = "x-ratelimit-remaining"
_X_RESET: Final = "x-ratelimit-reset"
_X_USED: Final = "x-ratelimit-used"  # GitHub's: its Limit is a quota per fixed window
_IETF_FIELD: Final = "ratelimit"
_IETF_POLICY: Final = "ratelimit-policy"
_IETF_LIMIT: Final = "ratelimit-limit"
_IETF_REMAINING: Final = "ratelimit-remaining"
_IETF_RESET: Final = "ratelimit-reset"
_RETRY_AFTER: Final = "retry-after"


class RateLimitInfo(NamedTuple):
    """What one response said about the quota. Every field is None when absent or malformed.
    (A NamedTuple rather than an attrs class: it is read on the hot path, where the limiter's
    reader hands its fields on as a plain tuple, `InfoFields`.)

    `reset_after` is seconds from `now` (the time passed to the parser) until the quota is
    restored (our contract: the bucket is full again). `quota`/`window` are an IETF policy
    (`q` requests per `w` seconds). `model` says how to read Limit: `"bucket"` for the
    X-RateLimit contract (capacity of a token bucket), `"window"` for the IETF quota fields.
    """

    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None
    quota: int | None = None
    window: float | None = None
    retry_after: float | None = None
    model: Literal["bucket", "window"] = "bucket"

    @property
    def empty(self) -> bool:
        return (
            self.limit is None
            and self.remaining is None
            and self.reset_after is None
            and self.quota is None
            and self.retry_after is None
        )


def parse_int(value: str | None) -> int | None:
    """A non-negative decimal integer, or None."""
    if value is None:
        return None
    if value.isdigit() and value.isascii() and len(value) <= _MAX_DIGITS:
        return int(value)  # the common case, first
    value = value.strip()
    if not value or len(value) > _MAX_DIGITS or not value.isdigit() or not value.isascii():
        return None
    return int(value)


def parse_number(value: str | None) -> float | None:
    """A finite non-negative decimal number (integer or fraction), or None."""
    if value is None:
        return None
    if value.isdigit() and value.isascii() and len(value) <= _MAX_DIGITS:
        return float(int(value))  # the common case, first
    value = value.strip()
    if not value or len(value) > 32:
        return None
    if value.isdigit() and value.isascii():
        return float(int(value))
    if not all(c in "0123456789." for c in value) or value.count(".") != 1 or value == ".":
        return None
    try:
        number = float(value)
    except ValueError:  # pragma: no cover - the character check above rules this out
        return None
    return number if math.isfinite(number) else None


def reset_seconds(value: str | None, now: float, reset_format: ResetFormat = "auto") -> float | None:
    """Seconds from `now` (Unix seconds) until the reset that `value` names, at least 0.

    `"epoch"`: Unix seconds. `"delta"`: seconds from now. `"auto"`: a value much smaller than
    `now` is a delta, one about as large is epoch seconds, one about a thousand times larger is
    epoch milliseconds.
    """
    number = parse_number(value)
    if number is None:
        return None
    return _plausible(_reset_after(number, now, reset_format))


MAX_RESET_SECONDS: Final = 86_400.0
"""A reset further away than a day is read as garbage (a microsecond epoch, a typo), not obeyed
nor learned from: it would teach a rate of nothing. (A nearer one is learned from; the pause
it imposes is capped by `RateLimit.max_pause`.)"""


def _plausible(reset_after: float) -> float | None:
    return reset_after if reset_after <= MAX_RESET_SECONDS else None


def _reset_after(number: float, now: float, reset_format: ResetFormat) -> float:
    """`reset_seconds` once the value is parsed."""
    if reset_format == "delta":
        return number
    if reset_format == "epoch":
        return max(0.0, number - now)
    if number < _EPOCH_FLOOR or number < now / 2:
        return number
    if number > now * 100:  # epoch milliseconds
        return max(0.0, number / 1000.0 - now)
    return max(0.0, number - now)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    quoted = False
    start = 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _members(value: str) -> list[tuple[str, dict[str, str]]]:
    """A structured-field list, loosely: `item;key=value;key=value, item;...` -> [(item, params)]."""
    members: list[tuple[str, dict[str, str]]] = []
    for raw in _split_outside_quotes(value, ","):
        pieces = _split_outside_quotes(raw, ";")
        item = pieces[0].strip()
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, eq, val = piece.partition("=")
            if eq:
                params[key.strip().lower()] = val.strip().strip('"')
        members.append((item, params))
    return members


@attrs.frozen(slots=True)
class _Policy:
    name: str | None
    quota: int
    window: float | None


def parse_policy(value: str | None) -> list[_Policy]:
    """`RateLimit-Policy`: `"name";q=100;w=60` (draft 08+) or `100;w=60` (older drafts)."""
    if not value or len(value) > 4096:
        return []
    policies: list[_Policy] = []
    for item, params in _members(value):
        name: str | None = None
        quota = parse_int(params.get("q"))
        if item.startswith('"') and item.endswith('"') and len(item) >= 2:
            name = item[1:-1]
        elif quota is None:
            quota = parse_int(item)
        if quota is None:
            continue
        window = parse_number(params.get("w"))
        policies.append(_Policy(name, quota, window if window else None))
    return policies


def parse_ietf_ratelimit(
    value: str | None, policy: str | None
) -> tuple[int | None, int | None, float | None, int | None, float | None]:
    """The IETF `RateLimit` field (any draft form) with its `RateLimit-Policy`:
    (limit, remaining, reset_after, quota, window). The most restrictive member wins."""
    policies = parse_policy(policy)
    limit = remaining = None
    reset_after: float | None = None
    chosen_name: str | None = None
    if value and len(value) <= 4096:
        members = _members(value)
        # Dictionary form (drafts 03-07): `limit=100, remaining=50, reset=30`.
        if members and all("=" in item and not item.startswith('"') for item, _ in members):
            fields = {}
            for item, _ in members:
                key, _eq, val = item.partition("=")
                fields[key.strip().lower()] = val.strip()
            limit = parse_int(fields.get("limit"))
            remaining = parse_int(fields.get("remaining"))
            reset_after = parse_number(fields.get("reset"))
        else:
            best: tuple[int, float | None, str | None] | None = None
            for item, params in members:
                r = parse_int(params.get("r"))
                if r is None:
                    continue
                t = parse_number(params.get("t"))
                name = item[1:-1] if len(item) >= 2 and item[0] == item[-1] == '"' else None
                # Most restrictive: fewest remaining, then the latest reset.
                if best is None or (r, -(t or 0.0)) < (best[0], -(best[1] or 0.0)):
                    best = (r, t, name)
            if best is not None:
                remaining, reset_after, chosen_name = best
    if reset_after is not None:
        reset_after = _plausible(reset_after)
    quota: int | None = None
    window: float | None = None
    if policies:
        match = next((p for p in policies if chosen_name is not None and p.name == chosen_name), None)
        if match is None:
            # No name to match: the most restrictive policy (lowest quota per second).
            match = min(policies, key=lambda p: p.quota / (p.window or 1.0))
        quota, window = match.quota, match.window
        if limit is None:
            limit = match.quota
    return limit, remaining, reset_after, quota, window


def parse_rate_limit_headers(
    headers: Mapping[str, str], now: float, reset_format: ResetFormat = "auto"
) -> RateLimitInfo | None:
    """Everything a response says about the quota, or None when it says nothing.

    `headers` has lower-case names (the pipeline's `Response.headers`); `now` is Unix seconds
    (for epoch resets and HTTP-dates). (A reader that has read nothing before: the limiter's
    own, `RateLimitHeaderReader`, remembers what it parsed, with the same results.)
    """
    fields = RateLimitHeaderReader(reset_format).read(headers, lambda: now)[0]
    return None if fields is None else as_info(fields)


def _parse_other(headers: Mapping[str, str], now: float) -> RateLimitInfo | None:
    """`parse_rate_limit_headers` for a response without `X-RateLimit-Limit`/`-Remaining`."""
    get = headers.get
    retry_raw = get(_RETRY_AFTER)
    ietf = get(_IETF_FIELD)
    policy = get(_IETF_POLICY)
    if ietf is not None or policy is not None:
        limit, remaining, reset_after, quota, window = parse_ietf_ratelimit(ietf, policy)
        info = RateLimitInfo(
            limit=limit,
            remaining=remaining,
            reset_after=reset_after,
            quota=quota,
            window=window,
            retry_after=None if retry_raw is None else parse_retry_after(retry_raw, now),
            model="window",
        )
        return None if info.empty else info
    if get(_IETF_REMAINING) is not None or get(_IETF_LIMIT) is not None:
        # Drafts 00-02: separate fields; RateLimit-Reset is delta-seconds there.
        limit = parse_int(get(_IETF_LIMIT))
        quota = None
        window = None
        policies = parse_policy(get(_IETF_POLICY))
        if policies:
            quota, window = policies[0].quota, policies[0].window
        info = RateLimitInfo(
            limit=limit,
            remaining=parse_int(get(_IETF_REMAINING)),
            reset_after=reset_seconds(get(_IETF_RESET), now, "delta"),
            quota=quota,
            window=window,
            retry_after=None if retry_raw is None else parse_retry_after(retry_raw, now),
            model="window",
        )
        return None if info.empty else info
    if retry_raw is not None:
        retry_after = parse_retry_after(retry_raw, now)
        if retry_after is not None:
            return RateLimitInfo(retry_after=retry_after)
    return None


READ_WHEN: Final = (
    _X_REMAINING,
    _X_LIMIT,
    _RETRY_AFTER,
    _IETF_FIELD,
    _IETF_POLICY,
    _IETF_REMAINING,
    _IETF_LIMIT,
)
"""The fields without which `RateLimitHeaderReader.read` finds nothing: the limiter asks
`any_in(READ_WHEN, headers)` before it reads (in C when the extension is built: most answers of
a server without rate-limit headers then cost no Python call at all)."""


def python_any_in(names: tuple[str, ...], headers: Mapping[str, str]) -> bool:
    """Whether any of `names` is a key of `headers` (`_speedups.any_in`, in Python)."""
    for name in names:  # noqa: SIM110 (a loop: any() over a generator costs twice as much)
        if name in headers:
            return True
    return False


any_in: Callable[[tuple[str, ...], Mapping[str, str]], bool] = (
    python_any_in if speedups is None else speedups.any_in
)


InfoFields = tuple[
    int | None, int | None, float | None, int | None, float | None, float | None, Literal["bucket", "window"]
]
"""A `RateLimitInfo`'s fields as a plain tuple (a `RateLimitInfo` is one too): what the limiter's
reader hands on. Python keeps freed plain tuples for reuse, and a tuple subclass is allocated
and freed in full: on the hot path, where most answers change nothing but the sync, that is
most of what building the info would cost. `as_info` makes the named tuple when it is needed."""


def as_info(fields: InfoFields) -> RateLimitInfo:
    """The `RateLimitInfo` of `fields` (itself, when it is one)."""
    return fields if type(fields) is RateLimitInfo else _new_tuple(RateLimitInfo, fields)


_new_tuple: Final = tuple.__new__


class RateLimitHeaderReader:
    """`parse_rate_limit_headers` for one limiter, on the hot path (one Python call per
    response, no object built but a plain tuple): it reads the clock only when a response
    carries rate-limit fields, and remembers the X-RateLimit Limit and Reset it parsed last, as
    sent. A server repeats both from one response to the next while Remaining moves, so equal
    strings are compared rather than parsed again; Remaining (and Retry-After, and whether
    X-RateLimit-Used is there) is read from every response. Same results as the function.
    """

    __slots__ = ("reset_format", "_limit_raw", "_limit", "_reset_raw", "_reset_epoch", "_reset_number")

    def __init__(self, reset_format: ResetFormat = "auto") -> None:
        self.reset_format: ResetFormat = reset_format
        # The last Limit and Reset as sent, and what they parsed to. The Reset is the
        # contract's ten-digit epoch (`_reset_epoch`), or any other number (`_reset_number`,
        # read by `reset_format` against the clock), or neither.
        self._limit_raw: str | None = None
        self._limit: int | None = None
        self._reset_raw: str | None = None
        self._reset_epoch: int | None = None
        self._reset_number: float | None = None

    def read(self, headers: Mapping[str, str], time: Callable[[], float]) -> tuple[InfoFields | None, float]:
        """(what the headers say, or None; the Unix time it was read at, 0.0 when none was needed)."""
        get = headers.get
        x_remaining = get(_X_REMAINING)
        x_limit = get(_X_LIMIT)
        if x_remaining is None and x_limit is None:
            if any_in(READ_WHEN, headers):  # the gate's own screen (one list of the fields)
                now = time()
                return _parse_other(headers, now), now
            return None, 0.0
        if x_limit != self._limit_raw:
            self._limit = parse_int(x_limit)
            self._limit_raw = x_limit
        raw_reset = get(_X_RESET)
        if raw_reset != self._reset_raw:
            self._parse_reset(raw_reset)
        if x_remaining is None:
            remaining = None
        elif x_remaining.isascii() and x_remaining.isdigit() and len(x_remaining) <= _MAX_DIGITS:
            remaining = int(x_remaining)  # parse_int's common case, inline
        else:
            remaining = parse_int(x_remaining)
        now = time()
        epoch = self._reset_epoch
        reset_after: float | None
        if epoch is not None:
            reset_after = epoch - now
            if reset_after < 0:
                reset_after = 0.0
            elif reset_after > MAX_RESET_SECONDS:
                reset_after = None
        elif self._reset_number is not None:
            reset_after = _plausible(_reset_after(self._reset_number, now, self.reset_format))
        else:
            reset_after = None
        retry_after = parse_retry_after(headers[_RETRY_AFTER], now) if _RETRY_AFTER in headers else None
        limit = self._limit
        if limit is None and remaining is None and reset_after is None and retry_after is None:
            return None, now
        # With `X-RateLimit-Used` beside them, Limit is a quota per fixed window (GitHub's).
        model: Literal["bucket", "window"] = "window" if _X_USED in headers else "bucket"
        return (limit, remaining, reset_after, None, None, retry_after, model), now

    def _parse_reset(self, raw_reset: str | None) -> None:
        self._reset_raw = raw_reset
        self._reset_epoch = None
        self._reset_number = None
        if (
            raw_reset is not None
            and len(raw_reset) == 10
            and self.reset_format != "delta"
            and raw_reset.isdigit()
            and raw_reset.isascii()
        ):
            # The contract's form (epoch seconds, ten digits until 2286), without the detour.
            self._reset_epoch = int(raw_reset)
        else:
            self._reset_number = parse_number(raw_reset)
