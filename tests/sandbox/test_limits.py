"""The sandbox's limiter modes and header dialects (`asyncapi_sandbox._limits`), with explicit
times (exact, no clock); then the modes chosen through `Sandbox(...)`, `POST /_sandbox/config`
and the CLI."""

from __future__ import annotations

import argparse

import httpx
import pytest

from asyncapi_client._ratelimit import parse_rate_limit_headers
from asyncapi_sandbox import Sandbox, SandboxConfig
from asyncapi_sandbox._cli import add_serve_command, config_from_args
from asyncapi_sandbox._limits import (
    FixedWindow,
    SlidingWindow,
    TokenBucket,
    Verdict,
    limit_headers,
    retry_after_seconds,
)

pytestmark = pytest.mark.anyio

WALL = 1_699_999_980.0  # a whole minute: fixed windows align to the epoch


def takes(limiter: TokenBucket | FixedWindow | SlidingWindow, times: list[float]) -> list[Verdict]:
    return [limiter.take(t, WALL + t) for t in times]


def test_token_bucket_refills_at_its_rate() -> None:
    verdicts = takes(TokenBucket(10.0, 3, 0.0), [0.0, 0.0, 0.0, 0.0, 0.05, 0.1])
    assert [v.allowed for v in verdicts] == [True, True, True, False, False, True]
    assert verdicts[2].remaining == 0 and verdicts[2].reset_after == pytest.approx(0.3)
    assert verdicts[3].retry_after == pytest.approx(0.1) and retry_after_seconds(verdicts[3]) == 1


def test_fixed_window_gives_everything_back_at_its_end() -> None:
    verdicts = takes(FixedWindow(3, 2.0, WALL), [0.0, 0.1, 0.2, 1.5, 1.99, 2.0])
    assert [v.allowed for v in verdicts] == [True, True, True, False, False, True]
    assert verdicts[3].retry_after == pytest.approx(0.5)  # until the window's end, 2 s after the epoch second
    assert verdicts[5].remaining == 2 and verdicts[5].reset_after == pytest.approx(2.0)


def test_sliding_window_gives_each_request_back_a_window_after_it() -> None:
    verdicts = takes(SlidingWindow(2, 1.0), [0.0, 0.5, 0.7, 1.0, 1.2, 1.5])
    assert [v.allowed for v in verdicts] == [True, True, False, True, False, True]
    assert verdicts[2].retry_after == pytest.approx(0.3)  # the first grant leaves at 1.0
    assert verdicts[3].reset_after == pytest.approx(1.0)  # whole again a window after the last


def test_a_sliding_window_in_the_ietf_dialect_tells_when_its_oldest_grant_ages_out() -> None:
    """Draft 10's `t`: the seconds until more quota is made available, which a sliding window
    does as each grant ages out, not when the whole window is free again (X-RateLimit-Reset,
    our contract's "whole again", keeps the latter)."""
    limiter = SlidingWindow(3, 2.0)
    verdicts = takes(limiter, [0.0, 0.6, 1.2])
    ietf = {k.decode(): v.decode() for k, v in limit_headers("ietf", verdicts[2], WALL + 1.2)}
    assert ietf == {"ratelimit": '"default";r=0;t=1', "ratelimit-policy": '"default";q=3;w=2'}
    assert verdicts[2].more_after == pytest.approx(0.8)  # the grant at 0.0 leaves at 2.0
    x = {k.decode(): v.decode() for k, v in limit_headers("x-ratelimit", verdicts[2], WALL + 1.2)}
    assert x["x-ratelimit-reset"] == str(int(WALL) + 4)  # whole again at 3.2, rounded up


@pytest.mark.parametrize(
    ("dialect", "names"),
    [
        ("x-ratelimit", {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}),
        (
            "github",
            {
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "x-ratelimit-used",
                "x-ratelimit-resource",
            },
        ),
        ("ietf", {"ratelimit", "ratelimit-policy"}),
        ("none", set()),
    ],
)
def test_each_dialect_says_what_the_client_reads(dialect: str, names: set[str]) -> None:
    verdict = FixedWindow(100, 60.0, WALL).take(0.0, WALL + 20.0)
    headers = {k.decode(): v.decode() for k, v in limit_headers(dialect, verdict, WALL + 20.0)}
    assert set(headers) == names
    info = parse_rate_limit_headers(headers, WALL + 20.0)
    if dialect == "none":
        assert info is None
        return
    assert info is not None
    assert (info.limit, info.remaining) == (100, 99)
    assert info.reset_after == pytest.approx(40.0)
    # Our contract is a bucket; GitHub's Used, and the IETF policy, mark a quota per window.
    assert info.model == ("bucket" if dialect == "x-ratelimit" else "window")
    if dialect == "ietf":
        assert (info.quota, info.window) == (100, 60.0)


def test_a_bucket_in_the_ietf_dialect_tells_its_refill_per_second() -> None:
    verdict = TokenBucket(50.0, 10, 0.0).take(0.0, WALL)
    headers = {k.decode(): v.decode() for k, v in limit_headers("ietf", verdict, WALL, 50.0)}
    assert headers == {"ratelimit": '"default";r=9;t=1', "ratelimit-policy": '"default";q=50;w=1'}


def test_config_validates_the_modes() -> None:
    with pytest.raises(ValueError, match="limiter must be one of"):
        SandboxConfig(limiter="leaky")
    with pytest.raises(ValueError, match="limit_headers must be one of"):
        SandboxConfig(limit_headers="draft-99")
    with pytest.raises(ValueError, match="retry_after must be true or false"):
        SandboxConfig(retry_after="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        SandboxConfig(window=0)
    assert SandboxConfig(rate=50, window=2).quota == 100
    assert SandboxConfig(rate=50, burst=7, window=2).quota == 7


def test_the_cli_takes_the_modes() -> None:
    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers())
    args = parser.parse_args(
        [
            "serve",
            "--rate", "50",
            "--limiter", "fixed_window",
            "--window", "3600",
            "--limit-headers", "github",
            "--retry-after", "off",
            "--secondary-rate", "5",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert (
        config.limiter,
        config.window,
        config.limit_headers,
        config.retry_after,
        config.secondary_rate,
    ) == (
        "fixed_window",
        3600.0,
        "github",
        False,
        5.0,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--retry-after", "maybe"])


async def test_modes_through_the_running_server() -> None:
    """GitHub's dialect on a fixed window with a secondary limit: the secondary limit's 429
    carries Retry-After while the primary headers still show quota left; with Retry-After off
    and no headers, a 429 says nothing but its status."""
    async with Sandbox(
        rate=100, burst=100, limiter="fixed_window", window=3600, limit_headers="github", secondary_rate=2
    ) as sb, httpx.AsyncClient(base_url=sb.base_url) as http:
        token = (
            await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(sb.client_id, sb.client_secret),
            )
        ).json()["access_token"]
        auth = {"authorization": f"Bearer {token}"}
        replies = [await http.get("/api/v1/users/me", headers=auth) for _ in range(3)]
        assert [r.status_code for r in replies] == [200, 200, 429]
        assert replies[0].headers["x-ratelimit-limit"] == "100"
        assert replies[0].headers["x-ratelimit-used"] == "1"
        assert int(replies[2].headers["x-ratelimit-remaining"]) > 0  # the primary is not spent
        assert int(replies[2].headers["retry-after"]) >= 1

        await sb.configure(
            rate=1,
            burst=1,
            limiter="token_bucket",
            limit_headers="none",
            retry_after=False,
            secondary_rate=0,
        )
        first = await http.get("/api/v1/users/me", headers=auth)
        second = await http.get("/api/v1/users/me", headers=auth)
        assert (first.status_code, second.status_code) == (200, 429)
        assert not any(
            name.startswith(("x-ratelimit", "ratelimit", "retry-after")) for name in second.headers
        )
        assert second.json()["error"]["code"] == "RATE_LIMITED"
