"""The limiter is plain anyio: it runs on trio too (here under trio's own virtual clock)."""

from __future__ import annotations

import trio
import trio.testing

from asyncapi_client import AsyncClient, MockTransport, RateLimit, Response, RetryPolicy


class TrioClock:
    def monotonic(self) -> float:
        return trio.current_time()

    def time(self) -> float:
        return 1_700_000_000.0 + trio.current_time()

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(max(0.0, seconds))


def test_paces_fifo_on_trio() -> None:
    async def main() -> list[tuple[int, float]]:
        clock = TrioClock()
        client = AsyncClient(
            "https://api.example.com",
            transport=MockTransport(lambda r: Response(200, {}, b"{}")),
            rate_limit=RateLimit(rate=4, burst=2),
            clock=clock,
            retry=RetryPolicy(max_attempts=1),
            timeout=None,
        )
        start = clock.monotonic()
        done: list[tuple[int, float]] = []

        async def call(i: int) -> None:
            await client.send(client.build_request("GET", "/x"))
            done.append((i, round(clock.monotonic() - start, 6)))

        async with trio.open_nursery() as nursery:
            for i in range(6):
                nursery.start_soon(call, i)
                await trio.sleep(0.001)
        await client.aclose()
        return done

    done = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [i for i, _ in done] == list(range(6))
    # The probe and one more from the burst of 2, then one every 0.25 s.
    assert [t for _, t in done][2:] == [0.25, 0.5, 0.75, 1.0]
