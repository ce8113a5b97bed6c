"""Shared learning: a fleet of processes on one Redis state paces as one client (pure parts).

`RateLimit(backend=RedisRateLimitBackend(url))` with no `rate`: the processes sharing the
backend's prefix learn the server's limit together. The state lives in Redis (`_fleet_script`),
every change atomic and timed by the Redis server's clock (`TIME`):

- **One congestion event, one cut.** The fleet starts open (each process slow-starting on its
  own, as a single client does, until the fleet has a rate). A 429 anywhere is a *proposed
  cut* against the epoch of the slot its request was sent with; the script accepts it only if
  that epoch is still the current one and the request left after the last event settled (once
  the slots leased before it are due, plus a round trip). A burst of 429s across the processes
  is therefore one event: the epoch moves once, the rate is cut once (to `BETA` times what the
  fleet was sending, no more than the server granted), and every proposal against the old epoch
  is ignored. A success whose headers say the server's bucket is empty is a *mark* (as ECN is to
  TCP): a cut of `MARK_BETA`, proposed once until the bucket was seen half full again. While
  the fleet is open the mark comes sooner, at the first answer that finds the bucket below
  `FULL_SHARE`: the processes' slow starts double what is in flight each round trip, and the
  rest of the burst absorbs it. (An empty bucket pauses the fleet until its Reset only when the headers say the limit is a quota
  per window: a token bucket the other processes drain looks empty early to each one.)
- **Probing up once, for the fleet.** Every rise is decided *in the script* on the Redis clock:
  no process raises on its own. A process says with each lease whether its latest answer saw
  the server's bucket near full (`FULL_SHARE` of its burst: the fleet is below the server's
  rate; the first answers that find it draining stop the rise), and sends the
  rate its headers allow (the upper bound on the server's refill) as a ceiling (times
  `HEADER_MARGIN`; the lowest proposal wins until none confirms it for 2 s).
  - *With rate-limit headers* (a process reported the server's burst), the fleet paces at a
    rate of its own rather than a probing curve: an event sets it to beta times what the fleet
    was leasing (its first event from open: what it leased since the run began, less the
    burst, over the time; an event that answers a step up made less than 0.5 s before: half
    way, geometrically, between the rates either side of that step, if lower) and remembers
    what it was leasing as *too fast*. While the latest answers say near full, the script
    steps it up, at most every 0.1 s for the fleet (two steps' worth at most when the last is
    longer ago): 40% while no event has measured a rate too fast, 5% up to just below it, 0.5%
    past it for a second after the event, 5% after that; never past the ceiling. The headers'
    Remaining thus decides every step, and a mark (the bucket found empty) comes before the
    server has to answer 429.
  - *Without headers* (a 429 is the only signal) the rate climbs along the CUBIC curve (a
    search after the first event); the half-full reports cannot come, the curve alone probes.
- **Leases, not a round trip per request.** A process reserves several consecutive slots of the
  fleet's bucket in one round trip (`Lease`): about `LEASE_SECONDS` of the fleet's rate (at
  least 1, at most `MAX_LEASE`; `OPEN_LEASE` while the fleet is open), slot `i` due when the
  script says, and hands them to its own requests with no Redis call. It asks for the next lease
  only when its last slot is `FETCH_AHEAD` (a round trip) away, so no process holds more than
  about one lease ahead. A slot unused `LEASE_TTL` past its due time (demand fell) goes back to the
  fleet's bucket. When the rate is cut (the epoch moved: this process's own cut, or the epoch a
  later lease reply carries), the process gives back every slot it still holds, to be leased
  again at the new rate; the others learn of a cut within one lease of theirs.
- **Pauses.** A Retry-After longer than `SHORT_RETRY_AFTER` pauses every process (capped by
  `max_pause`, in the script too); a shorter one (a token bucket's "within the second") is
  answered by the cut, and only the call that got it waits it out (the retry layer). A quota
  per window found empty pauses the fleet until its Reset.

The local bucket of each process does not pace (its sync could not count the other processes'
requests in flight); it keeps the slow start and the long server pauses. `Lease` and
`FleetLearner` are pure (times in, decisions out); `_shared.SharedLearning` does the I/O and the
sleeping; the middleware feeds it the responses.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final, NamedTuple

from ._adaptive import BETA

LEASE_SECONDS: Final = 0.025  # a lease is about this long at the fleet's rate
MAX_LEASE: Final = 16
OPEN_LEASE: Final = 2  # slots per lease while the fleet has no rate (the first answers bring one)
LEASE_TTL: Final = 0.25  # a slot unused this long after it was due goes back
# The next lease is asked for this long before the last slot held is due (about a round trip):
# the fewer slots the fleet has leased ahead, the sooner a cut takes effect.
FETCH_AHEAD: Final = 0.01
HEADER_MARGIN: Final = 0.98  # the fleet paces at this share of the rate the headers allow
# A 429's Retry-After this short (a token bucket's "within the second") is answered by the cut
# alone; a longer one pauses the fleet (the script holds the same figure).
SHORT_RETRY_AFTER: Final = 1.0
# A success that finds the server's bucket empty is a warning, not a refusal (as an ECN mark is
# to TCP): the cut is shallower than a 429's `BETA`.
MARK_BETA: Final = 0.95
# The share of its burst the server's bucket must hold for the fleet to step its rate up.
FULL_SHARE: Final = 0.8


class Grant(NamedTuple):
    """A lease reply of the fleet script: `granted` slots (0: refused), the seconds until the
    fleet's bucket resumes (`base`), its level before the lease, the fleet's rate (None: open)
    and the epoch; `accepted` is the script's verdict (a cut: whether it was a new event)."""

    granted: int
    base: float
    level: float
    rate: float | None
    epoch: int
    accepted: bool

    @classmethod
    def parse(cls, reply: list[object]) -> Grant:
        granted, base, level, rate, epoch, accepted = reply
        parsed = float(_text(rate))
        return cls(
            int(_text(granted)),
            float(_text(base)),
            float(_text(level)),
            None if parsed < 0 else parsed,
            int(_text(epoch)),
            int(_text(accepted)) == 1,
        )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Lease:
    """The slots this process holds: their due times (local monotonic), sorted, and the epoch
    they were leased in."""

    __slots__ = ("due", "epoch", "rate", "last_due")

    def __init__(self) -> None:
        self.due: deque[float] = deque()
        self.epoch = 0
        self.rate: float | None = None  # the fleet's rate at the last reply (None: open)
        self.last_due = -math.inf  # the latest slot handed out or held

    def want(self) -> int:
        """How many slots to ask for."""
        rate = self.rate
        if rate is None:
            return OPEN_LEASE
        return max(1, min(MAX_LEASE, math.ceil(rate * LEASE_SECONDS)))

    def fetch_at(self, now: float) -> float:
        """When to ask for the next lease: now, or a round trip before the last slot is due."""
        return max(now, self.last_due - FETCH_AHEAD)

    def fill(self, grant: Grant, now: float) -> int:
        """Take in a lease reply at `now`; returns the slots to give back (those of an older
        epoch: the rate was cut since they were leased)."""
        give_back = self.renew(grant.epoch)
        self.rate = grant.rate
        rate = grant.rate
        start = now + max(0.0, grant.base)
        for i in range(grant.granted):
            at = start if rate is None else start + max(0.0, i + 1 - grant.level) / rate
            self.due.append(at)
        if self.due:
            self.last_due = max(self.last_due, self.due[-1])
        return give_back

    def renew(self, epoch: int) -> int:
        """The fleet is at `epoch` now: drop the slots of an older one; how many were dropped."""
        if epoch <= self.epoch:
            return 0
        self.epoch = epoch
        dropped = len(self.due)
        self.due.clear()
        # Nothing is held now: the next lease is asked for at once (waiting for the last slot
        # dropped would stall this process while its slots sit unused in the fleet's bucket).
        self.last_due = -math.inf
        return dropped

    def take(self) -> float | None:
        """The earliest slot held (its due time), or None."""
        return self.due.popleft() if self.due else None

    def put_back(self, at: float) -> None:
        """A slot handed out but not used (its request was cancelled while it waited)."""
        due = self.due
        if not due or at >= due[-1]:
            due.append(at)
            return
        for i, other in enumerate(due):
            if at < other:
                due.insert(i, at)
                return

    def expire(self, now: float) -> int:
        """Drop the slots unused for `LEASE_TTL` past their due time; how many."""
        due = self.due
        dropped = 0
        while due and due[0] < now - LEASE_TTL:
            due.popleft()
            dropped += 1
        return dropped


class Cut(NamedTuple):
    """A cut to propose: the epoch the 429's request was sent in, how long ago it left, the
    pause its Retry-After asked for and how deep to cut (`beta`)."""

    epoch: int
    sent_ago: float
    pause: float
    beta: float = BETA


class FleetLearner:
    """What one process tells the fleet (pure): the answers granted since the last report, the
    ceiling the headers allow, the burst, and the cuts to propose."""

    __slots__ = ("granted", "ceiling", "burst", "known_epoch", "armed", "below")

    def __init__(self) -> None:
        self.granted = 0
        # An empty server bucket is a mark only once it was seen at least half full since the
        # last mark: it stays empty a while after a cut (refilling at the difference of the
        # rates), and each answer meanwhile would otherwise cut again.
        self.armed = True
        self.below = False  # the latest answer since the last lease saw the server near full
        self.ceiling: float | None = None
        self.burst: int | None = None
        self.known_epoch = 0

    def answered(
        self,
        status: int,
        epoch: int,
        sent_at: float,
        now: float,
        *,
        server_rate: float | None,
        limit: int | None,
        retry_after: float | None,
        empty: bool = False,
        remaining: int | None = None,
        open_fleet: bool = False,
    ) -> Cut | None:
        """A response to a request sent in `epoch` (`remaining`: the server's bucket as its
        headers said; `open_fleet`: the fleet has no rate yet): the cut to propose, if it is a
        429 (or a success that left the server's bucket `empty`) of the current epoch; one of
        an older epoch belongs to a cut already made."""
        if server_rate is not None and server_rate > 0:
            self.ceiling = server_rate * HEADER_MARGIN
        if limit is not None and limit >= 1:
            # The server's burst less the one-token reserve the sync keeps.
            self.burst = max(1, limit - 1)
        if status != 429:
            self.granted += 1
            full = half_full = False
            if remaining is not None and limit:
                half_full = 2 * remaining >= limit
                # The fleet may step up only while the server's bucket stays near full: the
                # first answers that find it draining stop the rise (half empty is too late
                # for a bucket of 10, whose rest goes in a few hundredths of a second).
                full = remaining >= FULL_SHARE * limit
                # While the fleet is open its processes slow-start on their own, doubling what
                # they have in flight each round trip: by the time one finds the bucket empty,
                # that much more is on its way to 429s. The first answer that finds it draining
                # is the mark then, and the rest of the burst absorbs what is in flight.
                empty = empty or (open_fleet and not full)
            # `below`: the latest answer's, not any since the last lease (one from before the
            # fleet's last step up must not vouch for the next).
            self.below = full
            if half_full:
                self.armed = True
            if not (empty and self.armed):
                return None
            self.armed = False
            if epoch < self.known_epoch:
                return None
            return Cut(epoch, max(0.0, now - sent_at), 0.0, MARK_BETA)
        if epoch < self.known_epoch:
            return None
        return Cut(epoch, max(0.0, now - sent_at), retry_after or 0.0)

    def report(self) -> int:
        """The granted answers to send with the next call (and count from zero again)."""
        granted = self.granted
        self.granted = 0
        return granted

    def report_below(self) -> bool:
        """Whether the latest answer since the last lease saw the server's bucket near full
        (and forget it)."""
        below = self.below
        self.below = False
        return below
