"""The limiter's hot path: what it does in C, or inline in the gate, gives what the Python it
stands for gives.

- `new_permit` (a `_speedups.Maker` when the extension is built) makes the permit the Python
  builder makes;
- `any_in(READ_WHEN, headers)`, asked before the header reader runs, is true of every answer
  the reader finds something in, in C and in Python alike;
- the gate's inline send bookkeeping (`Estimator.on_send`'s common case) counts each send as
  `on_send` does, and hands over to it once a send log keeps the sends.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import pytest

from asyncapi_client import AsyncClient, MockTransport, RateLimit, Request, Response, RetryPolicy
from asyncapi_client._c_builders import speedups
from asyncapi_client._ratelimit._estimator import Estimator
from asyncapi_client._ratelimit._headers import (
    READ_WHEN,
    RateLimitHeaderReader,
    any_in,
    python_any_in,
)
from asyncapi_client._ratelimit._middleware import Permit, new_permit, python_new_permit
from asyncapi_client._ratelimit._partitions import new_partition
from asyncapi_client._ratelimit._window import WINDOW_MAX_QUOTA
from asyncapi_client.testing import FakeClock

needs_c = pytest.mark.skipif(speedups is None, reason="the C extension is not built or refused")

PERMIT_SLOTS = ("part", "held", "probe", "waited", "refused", "epoch", "logged")

# Every field the reader knows (and a few it does not), one at a time, with a value it reads.
ONE_FIELD = {
    "x-ratelimit-limit": "100",
    "x-ratelimit-remaining": "99",
    "x-ratelimit-reset": "1700000000",
    "x-ratelimit-used": "1",
    "retry-after": "3",
    "ratelimit": '"default";r=50;t=30',
    "ratelimit-policy": '"default";q=100;w=60',
    "ratelimit-limit": "100",
    "ratelimit-remaining": "50",
    "ratelimit-reset": "30",
    "content-type": "application/json",
    "x-request-id": "r-1",
}


def builders() -> list[Callable[..., Permit]]:
    return [python_new_permit] if new_permit is python_new_permit else [python_new_permit, new_permit]


@pytest.mark.parametrize("build", builders())
def test_a_new_permit_holds_the_values_given_in_its_slots(build: Callable[..., Permit]) -> None:
    part = new_partition(
        "k", clock=FakeClock(), rate=None, burst=None, adaptive=True, max_pause=60.0, gated=True
    )
    for values in ((part, False, False, False, None, 0, False), (part, True, True, False, None, 0, False)):
        permit = build(*values)
        assert type(permit) is Permit
        assert tuple(getattr(permit, name) for name in PERMIT_SLOTS) == values
    assert Permit.__slots__ == PERMIT_SLOTS  # the order both builders are given the values in


@needs_c
def test_the_c_permit_builder_is_the_one_in_use_and_refuses_a_wrong_call() -> None:
    assert type(new_permit).__name__ == "builtin_function_or_method"
    with pytest.raises(TypeError, match="takes 7 arguments"):
        new_permit("part")  # type: ignore[call-arg]


def finders() -> list[Callable[[tuple[str, ...], Mapping[str, str]], bool]]:
    return [python_any_in] if speedups is None else [python_any_in, speedups.any_in]


class OnlyContains(Mapping[str, str]):
    """A mapping that is not a dict: `any_in` asks it with `in`."""

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@pytest.mark.parametrize("find", finders())
@pytest.mark.parametrize("name", sorted(ONE_FIELD))
def test_the_reader_is_asked_of_every_answer_it_finds_something_in(
    find: Callable[[tuple[str, ...], Mapping[str, str]], bool], name: str
) -> None:
    headers = {name: ONE_FIELD[name]}
    fields, _wall = RateLimitHeaderReader().read(headers, lambda: 1_700_000_000.0)
    asked = find(READ_WHEN, headers)
    assert asked == (name in READ_WHEN)
    assert find(READ_WHEN, OnlyContains(headers)) == asked
    if fields is not None:
        assert asked, f"{name} alone tells the reader something, but the gate would not read it"
    if not asked:
        assert fields is None


@pytest.mark.parametrize("find", finders())
def test_any_in_on_empty_and_many(find: Callable[[tuple[str, ...], Mapping[str, str]], bool]) -> None:
    assert not find(READ_WHEN, {})
    assert not find((), {"retry-after": "1"})
    assert find(("a", "b", "c"), {"x": "1", "c": "2"})
    assert not find(("a", "b"), OnlyContains({"x": "1"}))


@needs_c
def test_the_c_any_in_is_the_one_in_use_and_refuses_a_wrong_call() -> None:
    assert any_in is speedups.any_in
    with pytest.raises(TypeError, match="tuple of names"):
        speedups.any_in(["retry-after"], {})
    with pytest.raises(TypeError, match="tuple of names"):
        speedups.any_in(READ_WHEN)


def counters(estimator: Estimator) -> tuple[object, ...]:
    """What `Estimator.on_send` changes on a plain send."""
    meter = estimator.meter
    return (
        estimator.sent,
        estimator.inflight,
        list(estimator.flown),
        meter.start,
        meter.current,
        meter.previous,
    )


async def test_the_gate_counts_each_send_as_on_send_does() -> None:
    clock = FakeClock(start=10.0)
    live: list[Estimator] = []
    expected: list[tuple[object, ...]] = []

    async def handler(request: Request) -> Response:
        # As the request reaches the server, its send is counted as on_send counts it.
        if expected:
            assert counters(live[0]) == expected[-1]
        return Response(200, {"content-type": "application/json"}, b"{}")

    client = AsyncClient(
        "https://api.example.com",
        transport=MockTransport(handler),
        rate_limit=RateLimit(),
        clock=clock,
        retry=RetryPolicy(max_attempts=1),
    )
    async with client:
        estimator = client._shared.limiter._partitions.default.estimator  # type: ignore[union-attr]
        live.append(estimator)
        # While nothing is known of the server, the opening keeps every send's time (the gate
        # hands those sends to on_send); past WINDOW_MAX_QUOTA of them without a 429, it stops.
        for _ in range(WINDOW_MAX_QUOTA + 65):
            await client.send(client.build_request("GET", "/api/v1/users/me"))
        assert estimator.window.opening is None
        for _ in range(8):
            reference = copy.deepcopy(estimator)
            reference.on_send(clock.monotonic())
            expected.append(counters(reference))
            await client.send(client.build_request("GET", "/api/v1/users/me"))
            clock.advance(0.4)  # the send meter rolls its second over on the way
        assert estimator.sent == WINDOW_MAX_QUOTA + 65 + 8
        assert estimator.inflight == 0
        assert estimator.meter.start > 10.0  # it did roll over
