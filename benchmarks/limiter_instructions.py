"""The limiter's cost per request in instructions, which neither the machine's speed nor its
load moves (the microseconds of `ratelimit.py cost` do: the same code measured 2.3 us on one
machine and 4.3 us on a slower one).

    python benchmarks/limiter_instructions.py      # needs valgrind (Debian's package)

The chain is `ratelimit.py`'s cost chain: the default limiter's two layers around canned
answers, without rate-limit headers and with X-RateLimit headers whose Remaining goes down by
one per answer, and the base, two pass-through layers. Each is run in a child under
`valgrind --tool=cachegrind --cache-sim=no` (with PYTHONHASHSEED=0 and, where `setarch` is
there, no address randomisation), once for 2,000 and once for 6,000 requests after the same
warm-up and with the answers of both built before the count: the difference over 4,000 is one
request's instructions, start-up and set-up cancelled out. With headers, how many answers are
read in full depends on the clock (one each 20 ms, `SETTLED_EVERY`), and valgrind slows the
child down about fifty times, so that figure overstates what a real run reads.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from asyncapi_client import RateLimit
from asyncapi_client._clock import SYSTEM_CLOCK
from asyncapi_client._ratelimit import RateLimitMiddleware
from asyncapi_client._stats import ClientStats
from benchmarks.ratelimit import cost_answers, cost_chain, cost_request

WARM_UP = 2000
FEWER, MORE = 2000, 6000
KINDS = {"base": None, "no rate-limit headers": False, "X-RateLimit headers": True}


async def child(kind: str, n: int) -> RateLimitMiddleware | None:
    """Warm up, then send `n` requests through the chain of `kind`; returns its limiter."""
    with_headers = KINDS[kind]
    limiter = None
    if with_headers is not None:
        limiter = RateLimitMiddleware(RateLimit(), clock=SYSTEM_CLOCK, stats=ClientStats())
    served: dict[str, object] = {}
    chain = cost_chain(limiter, served, kind)
    served[kind] = iter(cost_answers(0, WARM_UP, bool(with_headers))).__next__
    for _ in range(WARM_UP):
        await chain(cost_request())
    served[kind] = iter(cost_answers(WARM_UP, MORE, bool(with_headers))).__next__
    for _ in range(n):
        await chain(cost_request())
    return limiter


def count(kind: str, n: int) -> int:
    """The instructions of a child that sends `n` requests of `kind`."""
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        kind,
        str(n),
    ]
    if shutil.which("setarch"):
        command = ["setarch", os.uname().machine, "-R", *command]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"cachegrind printed no count: {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def per_request(kind: str) -> float:
    return (count(kind, MORE) - count(kind, FEWER)) / (MORE - FEWER)


def main() -> int:
    if shutil.which("valgrind") is None:
        print("limiter instructions: valgrind is not installed (apt-get install valgrind); nothing counted")
        return 0
    print("limiter instructions per request (cachegrind), over the base chain of two pass-through layers")
    base = per_request("base")
    print(f"  {'base chain':<48} {base:>10,.0f}")
    for kind in ("no rate-limit headers", "X-RateLimit headers"):
        figure = per_request(kind)
        print(f"  {'default RateLimit(), ' + kind:<48} {figure - base:>10,.0f} over the base")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        asyncio.run(child(sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit(main())
