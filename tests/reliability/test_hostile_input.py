"""Hostile input: property tests on every parser of what a server (or a webhook sender) sends.

Each parser gets arbitrary and near-valid input (valid shapes with fields deleted, retyped or
replaced by odd text, bytes that are not UTF-8, JSON nested 100,000 deep, numbers that overflow,
Unicode digits) and must either return a well-formed value or raise the SDK's own error
(`APIError` and its subclasses); a header it cannot read is ignored (None). Hypothesis's
`deadline` fails any example that takes more than `DEADLINE_MS`: nothing may hang or backtrack.

Parsers covered: the error envelope (`error_from_envelope`, `status_error`), the models and
pagination meta (`decode_model`, `decode_list`, `decode_page`, the pager's reading of `meta`),
`Retry-After`, `X-RateLimit-*` and the IETF `RateLimit`/`RateLimit-Policy` fields (and the limiter
that acts on them, through the pipeline), webhook headers and bodies (`verify`,
`construct_event`), and token endpoint replies (`parse_token_response`, and the OAuth flow that
uses them).
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asyncapi_client as sdk
from asyncapi_client import APIError, MockTransport, Request, Response
from asyncapi_client._decode import decode_list, decode_model, decode_page, status_error
from asyncapi_client._errors import (
    APIStatusError,
    InternalServerError,
    RateLimitError,
    error_from_envelope,
    status_error_class,
)
from asyncapi_client._models import Page, PageMeta, Project, User, Webhook, structure_delivery
from asyncapi_client._pagination import AsyncPager
from asyncapi_client._ratelimit._headers import (
    RateLimitInfo,
    parse_ietf_ratelimit,
    parse_int,
    parse_number,
    parse_policy,
    parse_rate_limit_headers,
    reset_seconds,
)
from asyncapi_client._retry_after import parse_retry_after
from asyncapi_client._secret import Secret
from asyncapi_client.auth._tokens import MAX_LIFETIME, TokenSet, parse_token_response
from asyncapi_client.testing import FakeClock
from asyncapi_client.webhooks import WebhookReceiver, construct_event, sign, verify

DEADLINE_MS = 2000  # per example; every parser here answers in well under a millisecond
NOW = 1_750_000_000.0
FAST = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=DEADLINE_MS),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PIPELINE = settings(
    max_examples=80,
    deadline=timedelta(milliseconds=5 * DEADLINE_MS),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- strategies ------------------------------------------------------------------------------

# Header values as a server can send them: HTTP/1.1 header bytes arrive decoded as latin-1, so
# anything up to U+00FF (superscript digits, NBSP, control characters) is fair game; aiohttp
# decodes as UTF-8 with surrogateescape, so lone surrogates too.
latin1_text = st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=40)
any_text = st.text(max_size=40)
numberish = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-0",
            "00",
            "1.5",
            ".5",
            "5.",
            ".",
            "1e3",
            "1e309",
            "-1e309",
            "nan",
            "inf",
            "-inf",
            "0x10",
            "1_000",
            "²",
            "³",
            "¹²",
            "١٢٣",
            "\uff11\uff12",
            "9" * 30,
            "9" * 70,
            "+5",
            "5 5",
            "\t7\t",
            "7\x00",
            "Infinity",
            "1,5",
            "१",
        ]
    ),
)
header_value = st.one_of(latin1_text, any_text, numberish)
http_dates = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")
    ),
    st.sampled_from(
        [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 07:28:00",
            "Sun, 06 Nov 1994 08:49:37 +9999",
            "Thu, 01 Jan 1970 00:00:00 -0000",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Mon, 32 Jan 2020 00:00:00 GMT",
            "Tue, 1 Jan 99999 00:00:00 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "GMT",
        ]
    ),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
timestamps = st.one_of(
    st.sampled_from(
        [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.123456789Z",
            "2024-05-01T12:00:00+02:00",
            "2024-05-01",
            "2024-05-01T25:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "2024-05-01T12:00:00+24:00",
            "2024-05-01T12:00:00.Z",
            "z",
            "",
            "T",
            "2024-05-01T12:00:00" + "9" * 60,
        ]
    ),
    st.from_regex(
        r"\A\d{1,5}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{1,2}(:\d{1,2}(\.\d{0,12})?)?)?([Zz]|[+-]\d{1,2}:?\d{0,2})?\Z"
    ),
    any_text,
)

USER = {"id": 7, "name": "Ada", "email": "ada@example.com", "created_at": "2024-05-01T12:00:00Z"}
PROJECT = {
    "id": 7,
    "name": "Apollo",
    "description": None,
    "created_at": "2024-05-01T12:00:00Z",
    "updated_at": "2024-05-02T08:30:15.5+02:00",
}
WEBHOOK = {"id": 3, "url": "https://example.com/hook", "events": ["ping"], "secret": "whsec_AAAA"}
META = {"currentPage": 1, "totalPages": 3, "totalItems": 50, "itemsPerPage": 20}
TOKEN = {"access_token": "tok-abc", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "ref-xyz"}


def _field_value(name: str) -> st.SearchStrategy[Any]:
    if name.endswith("_at"):
        return st.one_of(timestamps, json_values)
    return st.one_of(json_values, numberish, st.integers(-(10**30), 10**30))


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """`base` with some fields deleted, retyped or replaced; sometimes something else entirely."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    obj = dict(base)
    for name in list(obj):
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace"]))
        if action == "drop":
            del obj[name]
        elif action == "replace":
            obj[name] = draw(_field_value(name))
    if draw(st.booleans()):
        obj.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    return obj


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw: st.DrawFn, value: st.SearchStrategy[Any]) -> bytes:
    """The JSON of `value`, or that JSON cut short, or bytes that are not JSON or not UTF-8, or
    a body nested deeper than any recursive decoder can go."""
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return _encode(draw(value))
    if kind == 6:
        raw = _encode(draw(value))
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if kind == 7:
        return draw(st.binary(max_size=64))
    if kind == 8:
        depth = draw(st.sampled_from([1_000, 100_000]))
        opener = draw(st.sampled_from([b"[", b'{"a":', b'{"data":[', b'{"error":{"details":']))
        return opener * depth
    return draw(
        st.sampled_from([b"", b"null", b"NaN", b"-Infinity", b"\xef\xbb\xbf{}", b"\xff\xfe{", b"1e999999"])
    )


def _ok_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


def _check_status_error(err: Any, status: int) -> None:
    assert isinstance(err, APIStatusError)
    assert isinstance(err, status_error_class(status))
    assert err.status_code == status
    assert err.code is None or isinstance(err.code, str)
    assert isinstance(err.message, str)
    str(err), repr(err)
    if isinstance(err, RateLimitError):
        assert err.retry_after is None or (math.isfinite(err.retry_after) and err.retry_after >= 0)


statuses = st.one_of(
    st.integers(400, 599), st.integers(100, 999), st.sampled_from([400, 401, 404, 409, 429, 500])
)

# -- the error envelope ------------------------------------------------------------------------


@FAST
@given(
    status=statuses,
    envelope=st.one_of(
        json_values,
        st.builds(
            lambda e: {"error": e},
            st.one_of(json_values, mutated({"code": "X", "message": "m", "details": {}})),
        ),
    ),
    request_id=st.one_of(st.none(), any_text),
    retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=1e9)),
    fallback=st.one_of(st.none(), any_text),
)
def test_error_envelope_always_builds_the_typed_error(
    status: int, envelope: Any, request_id: str | None, retry_after: float | None, fallback: str | None
) -> None:
    """error_from_envelope: any decoded body gives the status's APIStatusError class."""
    err = error_from_envelope(
        status, envelope, request_id=request_id, retry_after=retry_after, fallback_message=fallback
    )
    _check_status_error(err, status)


@FAST
@given(
    status=statuses,
    body=bodies(
        st.builds(lambda e: {"error": e}, mutated({"code": "NOT_FOUND", "message": "no", "details": {}}))
    ),
    retry_after=st.one_of(header_value, http_dates),
    request_id=header_value,
)
def test_status_error_reads_any_reply(status: int, body: bytes, retry_after: str, request_id: str) -> None:
    """_decode.status_error: any body and any Retry-After/X-Request-Id give the typed error."""
    response = Response(status, {"retry-after": retry_after, "x-request-id": request_id}, body)
    _check_status_error(status_error(response, NOW), status)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_bodies_are_decode_errors_not_recursion_errors(depth: int) -> None:
    """Bodies nested 1,000 and 100,000 deep: ResponseDecodeError / the typed status error /
    OAuthError, never RecursionError."""
    deep = b'{"error":' * depth
    for cls in (User, Project):
        with pytest.raises(sdk.ResponseDecodeError):
            decode_model(Response(200, {}, deep), cls)
        with pytest.raises(sdk.ResponseDecodeError):
            decode_page(Response(200, {}, b"[" * depth), cls)
    _check_status_error(status_error(Response(502, {}, deep), NOW), 502)
    with pytest.raises(sdk.OAuthError):
        parse_token_response(Response(200, {}, deep), issued_at=0.0, wall_now=NOW)
    with pytest.raises(sdk.OAuthError):
        parse_token_response(Response(400, {}, deep), issued_at=0.0, wall_now=NOW)


# -- models and pagination meta -------------------------------------------------------------------


def _check_user(user: Any) -> None:
    assert isinstance(user, User)
    assert _ok_int(user.id) and isinstance(user.name, str) and isinstance(user.email, str)
    assert _aware(user.created_at)


def _check_project(project: Any) -> None:
    assert isinstance(project, Project)
    assert _ok_int(project.id) and isinstance(project.name, str)
    assert project.description is None or isinstance(project.description, str)
    assert _aware(project.created_at) and _aware(project.updated_at)


@FAST
@given(user=bodies(mutated(USER)), project=bodies(mutated(PROJECT)), webhook=bodies(mutated(WEBHOOK)))
def test_models_decode_or_raise_decode_error(user: bytes, project: bytes, webhook: bytes) -> None:
    """decode_model: a User/Project/Webhook with the declared types, or ResponseDecodeError."""
    for body, cls, check in ((user, User, _check_user), (project, Project, _check_project)):
        try:
            check(decode_model(Response(200, {}, body), cls))
        except sdk.ResponseDecodeError as exc:
            assert exc.status_code == 200 and len(exc.excerpt) <= 200
            str(exc), repr(exc)
    try:
        hook = decode_model(Response(201, {}, webhook), Webhook)
    except sdk.ResponseDecodeError:
        return
    assert _ok_int(hook.id) and isinstance(hook.url, str)
    assert isinstance(hook.events, list) and all(isinstance(e, str) for e in hook.events)
    assert hook.secret is None or isinstance(hook.secret, Secret)


@FAST
@given(
    page=bodies(
        st.fixed_dictionaries(
            {"data": st.one_of(st.lists(mutated(PROJECT), max_size=4), json_values), "meta": mutated(META)}
        ).flatmap(lambda body: mutated(body))
    )
)
def test_pages_decode_or_raise_decode_error(page: bytes) -> None:
    """decode_page: a Page whose meta holds sane counts (currentPage >= 1, itemsPerPage >= 1,
    totals >= 0) and whose items are Projects, or ResponseDecodeError."""
    try:
        result = decode_page(Response(200, {}, page), Project)
    except sdk.ResponseDecodeError:
        return
    assert isinstance(result, Page)
    meta = result.meta
    assert all(
        _ok_int(v) for v in (meta.current_page, meta.total_pages, meta.total_items, meta.items_per_page)
    )
    assert meta.current_page >= 1 and meta.items_per_page >= 1
    assert meta.total_pages >= 0 and meta.total_items >= 0
    for item in result.data:
        _check_project(item)


@FAST
@given(
    reply=bodies(
        st.one_of(
            st.lists(mutated(USER), max_size=5),
            st.builds(lambda d: {"data": d}, st.lists(mutated(USER), max_size=5)),
        )
    )
)
def test_bulk_reply_decodes_or_raises_decode_error(reply: bytes) -> None:
    """decode_list (the bulk create reply): a list of Users, or ResponseDecodeError."""
    try:
        users = decode_list(Response(201, {}, reply), User)
    except sdk.ResponseDecodeError:
        return
    for user in users:
        _check_user(user)


_meta = st.builds(
    PageMeta,
    current_page=st.integers(1, 10**18),
    total_pages=st.one_of(st.integers(0, 12), st.integers(0, 10**18)),
    total_items=st.integers(0, 10**18),
    items_per_page=st.integers(1, 10**18),
)


@settings(max_examples=150, deadline=timedelta(milliseconds=DEADLINE_MS))
@given(
    script=st.lists(st.tuples(st.integers(0, 5), _meta, st.booleans()), max_size=12),
    prefetch=st.integers(0, 4),
    max_items=st.one_of(st.none(), st.integers(0, 30)),
)
def test_pager_follows_any_meta_and_ends(
    script: list[tuple[int, PageMeta, bool]], prefetch: int, max_items: int | None
) -> None:
    """AsyncPager over pages whose meta says anything (totals of 10**18, a currentPage that
    matches the page asked for or not, totalPages that shrinks or grows): it hands over exactly
    the items of pages 1..k, in order, and ends, where k is the first page that is empty or
    whose own totalPages is <= its number (or the cap of max_items); a page whose currentPage is
    not its number ends it with PaginationError (its page number attached) after the items of
    the pages before. It fetches no page past k + prefetch. Past the script the server answers
    empty pages."""
    fetched: list[int] = []

    def page_of(number: int, limit: int) -> Page[int]:
        if number <= len(script):
            count, meta, honest = script[number - 1]
            if honest:
                meta = attrs.evolve(meta, current_page=number)
            return Page([number * 100 + i for i in range(count)], meta)
        return Page([], PageMeta(current_page=number, total_pages=0, total_items=0, items_per_page=limit))

    async def fetch(number: int, limit: int) -> Page[int]:
        fetched.append(number)
        await anyio.lowlevel.checkpoint()
        return page_of(number, limit)

    expected: list[int] = []
    failed_at: int | None = None
    last = len(script) + 1
    for number in range(1, len(script) + 2):
        page = page_of(number, 10)
        if page.meta.current_page != number:
            failed_at = last = number
            break
        expected += page.data
        if not page.data or number >= page.meta.total_pages:
            last = number
            break
    if max_items is not None and len(expected) >= max_items:
        expected, failed_at = expected[:max_items], None

    async def walk(pager: AsyncPager[int], got: list[int]) -> int | None:
        try:
            async for item in pager:
                got.append(item)
        except sdk.PaginationError as exc:
            return exc.page
        return None

    async def run() -> tuple[list[int], int | None, list[int], int | None]:
        with anyio.fail_after(10):
            bare: list[int] = []
            bare_error = await walk(AsyncPager(fetch, limit=10, prefetch=prefetch, max_items=max_items), bare)
            fetched.clear()
            held: list[int] = []
            async with AsyncPager(fetch, limit=10, prefetch=prefetch, max_items=max_items) as pager:
                held_error = await walk(pager, held)
            return bare, bare_error, held, held_error

    bare, bare_error, held, held_error = anyio.run(run)
    assert bare == expected and bare_error == failed_at
    assert held == expected and held_error == failed_at
    assert not fetched or max(fetched) <= last + max(prefetch, 1)


# -- Retry-After ----------------------------------------------------------------------------------


@FAST
@given(value=st.one_of(st.none(), header_value, http_dates), now=st.floats(0, 4e9))
def test_retry_after_is_a_finite_delay_or_none(value: str | None, now: float) -> None:
    """parse_retry_after: None (ignored) or a finite number of seconds >= 0; never raises."""
    result = parse_retry_after(value, now)
    assert result is None or (isinstance(result, float) and math.isfinite(result) and result >= 0)


def test_retry_after_examples() -> None:
    """Pinned examples: latin-1 digits that are not ASCII (a superscript two, 0xB2 on the wire)
    are ignored, not a ValueError."""
    assert parse_retry_after("²", NOW) is None
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", NOW) == 0.0


# -- rate-limit headers ---------------------------------------------------------------------------

ietf_fields = st.one_of(
    header_value,
    st.lists(
        st.tuples(
            st.one_of(st.just('"default"'), st.just('"burst"'), st.text(max_size=6)),
            st.dictionaries(st.sampled_from(["r", "t", "q", "w", "x", "R"]), numberish, max_size=3),
        ),
        max_size=3,
    ).map(
        lambda members: ", ".join(
            item + "".join(f";{k}={v}" for k, v in params.items()) for item, params in members
        )
    ),
    st.lists(st.tuples(st.sampled_from(["limit", "remaining", "reset", "x"]), numberish), max_size=3).map(
        lambda pairs: ", ".join(f"{k}={v}" for k, v in pairs)
    ),
)
rate_limit_headers = st.dictionaries(
    st.sampled_from(
        [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "ratelimit",
            "ratelimit-policy",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "retry-after",
        ]
    ),
    st.one_of(ietf_fields, http_dates),
    max_size=9,
)


def _finite_nonneg(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and value >= 0)


@FAST
@given(value=st.one_of(st.none(), header_value))
def test_rate_limit_numbers_are_ignored_when_odd(value: str | None) -> None:
    """parse_int / parse_number: a non-negative int / finite non-negative float, or None."""
    number = parse_int(value)
    assert number is None or (_ok_int(number) and number >= 0)
    assert _finite_nonneg(parse_number(value))


@FAST
@given(
    value=st.one_of(st.none(), header_value),
    now=st.floats(0, 4e9),
    fmt=st.sampled_from(["auto", "epoch", "delta"]),
)
def test_rate_limit_reset_is_finite(value: str | None, now: float, fmt: Any) -> None:
    """reset_seconds: finite seconds >= 0 from now, or None, under each reset_format."""
    assert _finite_nonneg(reset_seconds(value, now, fmt))


@FAST
@given(field=st.one_of(st.none(), ietf_fields), policy=st.one_of(st.none(), ietf_fields))
def test_ietf_ratelimit_fields_parse_or_are_ignored(field: str | None, policy: str | None) -> None:
    """parse_ietf_ratelimit / parse_policy: ints >= 0, finite windows > 0, or None."""
    for item in parse_policy(policy):
        assert _ok_int(item.quota) and item.quota >= 0
        assert item.window is None or (math.isfinite(item.window) and item.window > 0)
    limit, remaining, reset_after, quota, window = parse_ietf_ratelimit(field, policy)
    for count in (limit, remaining, quota):
        assert count is None or (_ok_int(count) and count >= 0)
    assert _finite_nonneg(reset_after) and _finite_nonneg(window)


@FAST
@given(headers=rate_limit_headers, now=st.floats(0, 4e9), fmt=st.sampled_from(["auto", "epoch", "delta"]))
def test_rate_limit_headers_parse_or_are_ignored(headers: dict[str, str], now: float, fmt: Any) -> None:
    """parse_rate_limit_headers: None, or a RateLimitInfo of non-negative ints and finite
    non-negative seconds; never raises."""
    info = parse_rate_limit_headers(headers, now, fmt)
    if info is None:
        return
    assert isinstance(info, RateLimitInfo) and not info.empty
    for count in (info.limit, info.remaining, info.quota):
        assert count is None or (_ok_int(count) and count >= 0)
    assert _finite_nonneg(info.reset_after) and _finite_nonneg(info.retry_after)
    assert info.window is None or (math.isfinite(info.window) and info.window > 0)


@PIPELINE
@given(
    first=st.tuples(st.sampled_from([200, 429, 503, 500]), rate_limit_headers),
    second=st.tuples(st.sampled_from([200, 429]), rate_limit_headers),
)
async def test_limiter_and_retries_survive_hostile_headers(
    first: tuple[int, dict[str, str]], second: tuple[int, dict[str, str]]
) -> None:
    """Through the whole pipeline (learning limiter, retries): after replies with any rate-limit
    headers, each of three calls returns or raises an APIError within its 5 s deadline (a 10 s
    wall-clock fail_after around all of them)."""
    replies = [first, second]

    def handler(request: Request) -> Response:
        status, headers = replies[min(len(transport.requests), len(replies)) - 1]
        return Response.json_response(status, PROJECT if status == 200 else {"error": {"code": "X"}}, headers)

    transport = MockTransport(handler)
    clock = FakeClock(1000.0, epoch=NOW)
    client = sdk.AsyncClient(
        "http://127.0.0.1:1",
        transport=transport,
        rate_limit=sdk.RateLimit(),
        retry=sdk.RetryPolicy(max_attempts=3),
        timeout=sdk.Timeout(total=5.0),
        clock=clock,
    )
    async with client:
        with anyio.fail_after(10):
            for _ in range(3):
                try:
                    project = await client.projects.get(7)
                except APIError:
                    continue
                assert project.id == 7
    status = client.rate_limit_status()
    for value in (status.rate, status.burst, status.tokens):
        assert value is None or not math.isnan(value)


# -- webhooks -------------------------------------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
EVENT = {"id": "evt_1", "type": "project.created", "created_at": "2024-05-01T12:00:00Z", "data": PROJECT}


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[bytes, Any]:
    """A body and headers: sometimes correctly signed (so the payload checks are reached),
    with headers as str or bytes, repeated, oddly cased, or with hostile values."""
    body = draw(
        bodies(st.one_of(mutated(EVENT), st.builds(lambda d: {**EVENT, "data": d}, mutated(PROJECT))))
    )
    msg_id = draw(st.one_of(st.just("msg_1"), any_text, st.text(min_size=250, max_size=300)))
    timestamp = draw(st.one_of(st.just(int(NOW)), st.integers(-(10**20), 10**20)))
    signature = draw(
        st.one_of(
            st.just(sign(SECRET, "msg_1", int(NOW), body)),
            st.just("v1," + base64.b64encode(b"x" * 32).decode()),
            header_value,
            st.lists(st.sampled_from(["v1,", "v2,abc", "v1,!!!", "v1,AAAA", ","]), max_size=40).map(" ".join),
        )
    )
    ts_text = draw(st.one_of(st.just(str(timestamp)), header_value))
    headers: dict[str, str] = {}
    for name, value in (
        ("webhook-id", msg_id),
        ("webhook-timestamp", ts_text),
        ("webhook-signature", signature),
    ):
        if draw(st.integers(0, 9)):
            headers[draw(st.sampled_from([name, name.upper(), f" {name} "]))] = value
    form = draw(st.integers(0, 2))
    if form == 0:
        return body, headers
    if form == 1:
        return body, [
            (k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
            for k, v in headers.items()
        ]
    pairs = list(headers.items())
    return body, pairs + draw(
        st.lists(st.tuples(st.sampled_from(["webhook-id", "webhook-signature"]), any_text), max_size=2)
    )


@FAST
@given(delivery=deliveries(), tolerance=st.sampled_from([0, 300, 10**12]))
def test_webhook_verification_raises_only_its_own_error(delivery: tuple[bytes, Any], tolerance: int) -> None:
    """verify / construct_event: the payload / a WebhookEvent, or WebhookVerificationError
    with a reason; never another exception."""
    body, headers = delivery
    try:
        payload = verify(body, headers, SECRET, tolerance=tolerance, now=NOW)
    except sdk.WebhookVerificationError as exc:
        assert exc.reason
        str(exc), repr(exc)
    else:
        assert payload == json.loads(body)
    try:
        event = construct_event(body, headers, SECRET, tolerance=tolerance, now=NOW)
    except sdk.WebhookVerificationError as exc:
        assert exc.reason
    else:
        assert isinstance(event.id, str) and isinstance(event.type, str) and _aware(event.created_at)
        if event.type.startswith("project."):
            _check_project(event.data)


@settings(max_examples=150, deadline=timedelta(milliseconds=DEADLINE_MS))
@given(delivery=deliveries())
def test_webhook_receiver_answers_every_delivery(delivery: tuple[bytes, Any]) -> None:
    """WebhookReceiver.process: 200 (handled or ignored), 400 or 401 for any delivery; the
    handler sees only verified events; nothing raises."""
    body, headers = delivery
    seen: list[Any] = []
    receiver = WebhookReceiver(SECRET, clock=FakeClock(1000.0, epoch=NOW))
    receiver.on("*")(seen.append)

    async def run() -> tuple[int, dict[str, str]]:
        with anyio.fail_after(10):
            return await receiver.process(body, headers)

    status, reply = anyio.run(run)
    assert status in (200, 400, 401), (status, reply)
    assert (status == 200) == bool(seen)


@FAST
@given(
    item=mutated(
        {
            "id": 1,
            "event_id": "evt_1",
            "event_type": "ping",
            "attempt": 1,
            "status_code": 200,
            "error": None,
            "succeeded": True,
            "created_at": "2024-05-01T12:00:00Z",
        }
    )
)
def test_webhook_delivery_records_decode_or_raise_value_error(item: Any) -> None:
    """structure_delivery (client.webhooks.deliveries): a WebhookDelivery or ValueError, which
    the service turns into ResponseDecodeError."""
    try:
        delivery = structure_delivery(item)
    except ValueError:
        return
    assert _ok_int(delivery.id) and isinstance(delivery.event_id, str) and _aware(delivery.created_at)


def test_webhook_id_that_is_not_text_is_refused() -> None:
    """A webhook-id holding a lone surrogate (what aiohttp makes of invalid UTF-8 header bytes,
    decoded with surrogateescape) is a WebhookVerificationError, not a UnicodeEncodeError."""
    headers = {"webhook-id": "msg_\udcff", "webhook-timestamp": str(int(NOW)), "webhook-signature": "v1,AAAA"}
    with pytest.raises(sdk.WebhookVerificationError):
        verify(b"{}", headers, SECRET, now=NOW)


# -- token endpoint replies ------------------------------------------------------------------------

token_replies = st.one_of(
    mutated(TOKEN),
    st.builds(lambda e: e, mutated({"error": "invalid_client", "error_description": "nope"})),
    st.builds(
        lambda token, extra: {**TOKEN, "access_token": token, **extra},
        st.one_of(any_text, latin1_text),
        st.dictionaries(st.sampled_from(["expires_at", "scope", "id_token"]), json_values, max_size=2),
    ),
)


@FAST
@given(status=st.one_of(st.just(200), statuses), body=bodies(token_replies))
def test_token_replies_parse_or_raise_oauth_error(status: int, body: bytes) -> None:
    """parse_token_response: a TokenSet (non-empty access token without spaces or line breaks,
    expires_in None or in (0, one year]) or OAuthError; never another exception."""
    try:
        token = parse_token_response(Response(status, {}, body), issued_at=10.0, wall_now=NOW)
    except sdk.OAuthError as exc:
        str(exc), repr(exc)
        return
    assert 200 <= status < 300
    assert isinstance(token, TokenSet)
    access = token.access_token.get()
    assert access and access.strip() == access and "\n" not in access and "\r" not in access
    assert token.expires_in is None or 0 < token.expires_in <= MAX_LIFETIME
    assert token.expires_at is None or math.isfinite(token.expires_at)
    repr(token)


@PIPELINE
@given(
    tokens=st.lists(st.one_of(any_text, latin1_text, st.just("good")), min_size=2, max_size=2),
    expires=st.lists(st.one_of(st.none(), st.integers(-5, 10**9), numberish), min_size=2, max_size=2),
)
async def test_oauth_flow_with_hostile_token_endpoint(tokens: list[str], expires: list[Any]) -> None:
    """ClientCredentials against a token endpoint that returns any access token and expires_in,
    and an API that answers 401 to everything: each call ends in an APIError (OAuthError or
    AuthenticationError), never a TypeError from comparing non-ASCII tokens."""
    issued = iter(range(1000))

    def handler(request: Request) -> Response:
        if request.url.endswith("/oauth/token"):
            n = next(issued)
            reply: dict[str, Any] = {"access_token": tokens[n % 2], "token_type": "Bearer"}
            if expires[n % 2] is not None:
                reply["expires_in"] = expires[n % 2]
            return Response.json_response(200, reply)
        return Response.json_response(401, {"error": {"code": "UNAUTHENTICATED", "message": "no"}})

    auth = sdk.ClientCredentials("http://127.0.0.1:1/oauth/token", "id", "secret")
    client = sdk.AsyncClient(
        "http://127.0.0.1:1",
        auth=auth,
        transport=MockTransport(handler),
        retry=sdk.RetryPolicy(max_attempts=2),
        timeout=sdk.Timeout(total=5.0),
        clock=FakeClock(1000.0, epoch=NOW),
    )
    async with client:
        with anyio.fail_after(10):
            for _ in range(2):
                with pytest.raises(APIError) as info:
                    await client.projects.get(1)
                assert isinstance(info.value, (sdk.OAuthError, sdk.AuthenticationError))


def test_secret_comparison_accepts_any_text() -> None:
    """Secret equality (used to tell whether a refresh brought a new token) works on non-ASCII
    and surrogate-holding values instead of raising TypeError."""
    assert Secret("jeton-é") == Secret("jeton-é")
    assert Secret("jeton-é") != Secret("jeton-e")
    assert Secret("\udcff") != Secret("x")


def test_internal_server_error_covers_all_5xx() -> None:
    """Sanity for the property above: 5xx map to InternalServerError, 1xx-3xx to the base."""
    assert status_error_class(599) is InternalServerError
    assert status_error_class(302) is APIStatusError
