"""`RateLimitMiddleware`: acquire, send, observe, apply.

It is two layers of the pipeline (see `_shared_state.py`), one on each side of auth:

* `RateLimitMiddleware` itself, above auth, waits for a token of the request's partition (the
  local bucket, then the shared backend) and hands the grant down as a `Permit` in
  `extensions["rate_limit"]`. The wait comes first, so the access token that auth then
  chooses is the one valid when the request leaves, however long the wait was.
* `limiter.gate`, below auth, spends the permit on the send, feeds every response to the
  partition's `Estimator` and applies its `Decision` to the bucket. A second send in one
  attempt (the replay after a 401) takes a token of its own; the gate takes it *before*
  handing the 401 up, so that the refreshed token is chosen after that wait too.

What to learn and decide is the estimator's job (`_estimator.py`, pure); partitions are in
`_partitions.py`, the shared-bucket wait in `_shared.py`, the bucket in `_bucket.py`, the
status users read in `_status.py`.

It stays whole (about 590 lines): the wait above auth (a token, then a send-log slot) and the
gate below it hand one `Permit` between them, and each path (local, shared bucket, shared
learning) is only readable beside the others.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Final

import anyio

from .._attempt_info import record_limiter_wait
from .._c_builders import speedups
from .._clock import Clock
from .._errors import APITimeoutError
from .._pipeline import CallNext, ViaLayer
from .._stats import ClientStats
from .._types import Request, Response
from ._bucket import WaitTooLong
from ._config import RateLimit, SharedLearningBackend
from ._estimator import FLOWN, Decision
from ._fleet import SHORT_RETRY_AFTER
from ._headers import READ_WHEN, InfoFields, RateLimitHeaderReader, any_in, as_info, parse_rate_limit_headers
from ._partitions import Partition, Partitions, new_partition
from ._shared import SharedBucket, SharedLearning
from ._status import RateLimitStatus

logger = logging.getLogger("asyncapi_client.ratelimit")

PERMIT: Final = "rate_limit"
_THROTTLED: Final = 429
_UNAUTHORIZED: Final = 401


class Permit:
    """One attempt's grant: its partition, and whether it holds a token not yet spent (and
    whether that token is the partition's probe)."""

    __slots__ = ("part", "held", "probe", "waited", "refused", "epoch", "logged")

    def __init__(self, part: Partition) -> None:
        self.part = part
        self.held = False
        self.probe = False
        self.waited = False  # the token came after a wait: the pacing rate was binding
        self.refused: APITimeoutError | None = None
        self.epoch = 0  # shared learning: the fleet's epoch of the slot taken
        self.logged = False  # its send time is in the send log already (`Estimator.take_slot`)


def new_permit(
    part: Partition, held: bool, probe: bool, waited: bool, refused: None, epoch: int, logged: bool
) -> Permit:
    """A `Permit` with these values, in its slots' order (a fresh one's after `part`: whether it
    holds a token and whether that is the probe, then False, None, 0, False)."""
    permit = Permit(part)
    permit.held, permit.probe, permit.waited, permit.refused = held, probe, waited, refused
    permit.epoch, permit.logged = epoch, logged
    return permit


python_new_permit: Final = new_permit

# With the C extension, a permit is made in C (`_speedups.Maker`): there is one per attempt,
# and its Python `__init__` was about a tenth of the limiter's cost per request.
if not TYPE_CHECKING and speedups is not None:
    new_permit = speedups.Maker(Permit, [Permit.__dict__[name] for name in Permit.__slots__]).make


class RateLimitMiddleware(ViaLayer):
    """Per attempt: wait for a token, then (in `gate`) send and learn from the response.
    With `config=None` it never waits, but still counts 429s and keeps the server's view for
    `status()`."""

    def __init__(self, config: RateLimit | None, *, clock: Clock, stats: ClientStats) -> None:
        self.config = config
        self._clock = clock
        self._stats = stats
        self._enabled = enabled = config is not None
        cfg = config or RateLimit(adaptive=False)
        self._learn = cfg.respect_headers
        # Bound once: the header read runs on every response.
        self._read_headers = RateLimitHeaderReader(cfg.reset_format).read
        self._reset_format = cfg.reset_format
        self._wall_time = clock.time
        self._max_wait = cfg.max_wait
        # With a shared backend, the configured rate and burst are the shared bucket's; the
        # local bucket then only follows the server's headers (and 429s).
        # With a backend and no rate, the fleet learns together (`_fleet.py`): the 429s steer the
        # shared rate, not this process's, and the local estimator only reads the headers.
        self._shared: SharedBucket | None = None
        self._fleet: SharedLearning | None = None
        rate, burst = cfg.rate, cfg.burst
        adaptive = cfg.adaptive and enabled
        backend = cfg.backend
        if backend is not None and rate is None and isinstance(backend, SharedLearningBackend):
            self._fleet = SharedLearning(backend, clock=clock)
            adaptive = False
        elif backend is not None:
            self._shared = SharedBucket(backend, rate=rate or 1.0, burst=burst or 1, clock=clock)
            rate = burst = None
        self._local_only = self._shared is None and self._fleet is None
        # Nothing paces a partition until it has heard from the server: a slow start (see the
        # bucket) keeps its opening burst small. A configured or shared rate paces from the start.
        gated = enabled and cfg.respect_headers and cfg.rate is None

        def make(key: str) -> Partition:
            part = new_partition(
                key,
                clock=clock,
                rate=rate if enabled else None,
                burst=burst if enabled else None,
                adaptive=adaptive,
                max_pause=cfg.max_pause,
                gated=gated,
            )
            # Alone at the server, this process may pace a sliding window by its own send log.
            part.estimator.log_pacing = enabled and self._local_only
            return part

        self._partitions = partitions = Partitions(make, cfg.partition, cfg.max_partitions)
        self._single = None if partitions.keyed else partitions.default  # the one, unkeyed
        # Per partition key, the sleeps of requests waiting for a send-log slot: cancelled (to
        # ask again) when the server tells its window whole again and the log is reset.
        self._log_sleepers: dict[str, set[anyio.CancelScope]] = {}
        self.gate = _Gate(self)

    # -- acquire (above auth) -------------------------------------------------------------

    async def _via(self, call_next: CallNext, request: Request) -> Response:
        """The acquire layer's call (`ViaLayer`: linked with no frame of its own)."""
        part = self._single or self._partitions.for_request(request)
        if self._enabled:
            bucket = part.bucket
            if self._local_only and bucket.try_take(self._clock.monotonic()):
                permit = new_permit(part, True, bucket.gated, False, None, 0, False)
            else:
                permit = new_permit(part, False, False, False, None, 0, False)
                await self.take(permit, request)
            if part.estimator.log_paced:
                await self._log_slot(permit, request)
        else:
            permit = new_permit(part, False, False, False, None, 0, False)
        extensions: Any = request.extensions
        if extensions.get(PERMIT, False) is None:
            # The attempt's own extensions: the retry layer builds them for each attempt and
            # leaves this slot for the permit, so it is filled in place (a copy of the request
            # would cost a fifth of the limiter's time on the hot path).
            extensions[PERMIT] = permit
        else:
            extensions = dict(extensions)
            extensions[PERMIT] = permit
            request = Request._trusted(
                request.method, request.url, request.headers, request.content, request.timeout, extensions
            )
        try:
            return await call_next(request)
        finally:
            if permit.held:  # granted but never sent (auth failed, cancelled): give it back
                self._unspent(permit)

    async def take(self, permit: Permit, request: Request) -> None:
        """Wait for a token of the permit's partition (local bucket, then the shared one)."""
        part = permit.part
        bucket = part.bucket
        clock = self._clock
        now = clock.monotonic()
        deadline: float | None = request.extensions.get("deadline")
        max_wait = self._max_wait
        by_max_wait = False
        if max_wait is not None and (deadline is None or now + max_wait < deadline):
            deadline = now + max_wait
            by_max_wait = True
        if not bucket.try_take(now):
            try:
                waited = await bucket.acquire(deadline=deadline)
            except WaitTooLong as exc:
                raise self._too_long(
                    request, exc.wait, server_said=exc.server_said, by_max_wait=by_max_wait
                ) from None
            if waited:
                self._waited(part, waited)
                permit.waited = True
        permit.held = True
        permit.probe = bucket.gated
        fleet = self._fleet
        if fleet is not None:
            try:
                epoch = await fleet.take(part.key, deadline)
            except BaseException:
                self._unspent(permit)
                raise
            if epoch is None:
                self._unspent(permit)
                raise self._too_long(request, math.inf, server_said=True, by_max_wait=by_max_wait)
            permit.epoch = epoch
        shared = self._shared
        if shared is not None:
            try:
                left = None if deadline is None else max(0.0, deadline - clock.monotonic())
                shared_wait = await shared.wait(part.key, left)
            except BaseException:
                self._unspent(permit)
                raise
            if shared_wait is None:
                self._unspent(permit)
                raise self._too_long(request, math.inf, server_said=True, by_max_wait=by_max_wait)
            if shared_wait:
                self._waited(part, shared_wait)

    async def _log_slot(self, permit: Permit, request: Request) -> None:
        """A sliding window paced by the send log: wait (holding the token) for the slot the
        log gives this request; past the call's deadline or max_wait, the token goes back and
        the call gets the limiter's timeout."""
        part = permit.part
        clock = self._clock
        now = clock.monotonic()
        at = part.estimator.take_slot(now)
        permit.logged = at is not None
        if at is None or at <= now:
            return
        deadline: float | None = request.extensions.get("deadline")
        max_wait = self._max_wait
        by_max_wait = max_wait is not None and (deadline is None or now + max_wait < deadline)
        if by_max_wait and max_wait is not None:
            deadline = now + max_wait
        until = at if deadline is None or at <= deadline else deadline
        start = now
        sleepers = self._log_sleepers.setdefault(part.key, set())
        while True:
            scope = anyio.CancelScope()
            sleepers.add(scope)
            try:
                with scope:
                    await clock.sleep(until - now)
            except BaseException:
                self._unspent(permit)
                raise
            finally:
                sleepers.discard(scope)
                if not sleepers:
                    self._log_sleepers.pop(part.key, None)
            if not scope.cancel_called:
                break
            # The server told its window whole again and the log was reset: ask again. (Also
            # when the sleep had already ended as the log was reset: `reslot` counted this
            # request among the waiting and gave its slot back.)
            now = clock.monotonic()
            part.estimator.slot_done(now, sent=False)
            at = part.estimator.take_slot(now)
            permit.logged = at is not None
            if at is None or at <= now:
                self._waited(part, now - start)
                permit.waited = True
                return
            until = at if deadline is None or at <= deadline else deadline
            sleepers = self._log_sleepers.setdefault(part.key, set())
        self._waited(part, until - start)
        permit.waited = True
        if until < at:
            self._unspent(permit)
            raise self._too_long(request, until - start, server_said=False, by_max_wait=by_max_wait)
        if not part.estimator.log_paced and not permit.probe:
            # The log stopped pacing while this waited (a 429 proved its model wrong): the
            # slot goes back, the token (granted by the old pacing) is dropped, and the
            # request waits for a token of the new pacing instead.
            permit.held = permit.logged = False
            part.estimator.slot_done(clock.monotonic(), sent=False)
            await self.take(permit, request)

    def _unspent(self, permit: Permit) -> None:
        permit.held = False
        if permit.logged:
            permit.logged = False
            permit.part.estimator.slot_done(self._clock.monotonic(), sent=False)
        bucket = permit.part.bucket
        now = self._clock.monotonic()
        if permit.probe:
            permit.probe = False
            bucket.probe_done(sent=False, now=now)  # the next waiter probes instead
        else:
            bucket.give_back(now)

    def _waited(self, part: Partition, seconds: float) -> None:
        """Account for time an attempt spent waiting: the partition, the client's stats, and the
        attempt's observer (telemetry), if one listens."""
        part.wait_seconds += seconds
        self._stats.limiter_wait_seconds += seconds
        record_limiter_wait(seconds)

    def _too_long(
        self, request: Request, wait: float, *, server_said: bool, by_max_wait: bool
    ) -> APITimeoutError:
        limit = f"max_wait ({self._max_wait}s)" if by_max_wait else "the call's deadline"
        if server_said:
            shown = "an unbounded time" if wait == math.inf else f"{wait:.3f}s"
            why = f"the rate limiter would wait {shown} (a pause the server set), past {limit}"
        else:
            why = f"the rate limiter waited {wait:.3f}s for a token, until {limit}"
        error = APITimeoutError(f"{request.method} {request.url}: {why}", request=request, request_sent=False)
        # A retry would meet the same wait: the retry layer must not spend an attempt on it.
        error.retryable = False
        return error

    # -- observe and apply (below auth) ---------------------------------------------------

    def observe(
        self,
        part: Partition,
        status: int,
        fields: InfoFields | None,
        wall: float,
        seq: int,
        sent_at: float,
        binding: bool,
    ) -> Decision | None:
        """Feed one response (its status, and what its headers say, read by the gate at Unix
        time `wall`) to the partition's estimator and apply what it decides. The gate calls it
        only when there is something to learn: a 429, rate-limit headers, or a recovery
        going on (`Estimator.learning`)."""
        estimator = part.estimator
        if status == _THROTTLED:
            self._stats.rate_limited += 1
            part.rate_limited += 1
        now = self._clock.monotonic()
        info = None
        if fields is not None:
            most = estimator.observe_settled(status, fields, seq, now, wall)
            if most is not None:
                if self._enabled and self._fleet is None:
                    part.bucket.cap_tokens(most, now)
                return None
            info = as_info(fields)
        resets = estimator.log_resets
        decision = estimator.observe(status, info, seq, sent_at, now, wall, binding)
        if estimator.log_resets != resets:
            sleepers = self._log_sleepers.get(part.key, ())
            estimator.reslot(len(sleepers))
            for scope in sleepers:
                scope.cancel()
        if self._fleet is not None:
            # Shared learning: the fleet's bucket paces (the gate tells it what this answer
            # says); the local one would pace this process as if it were alone at the
            # server, on a sync that cannot count the others' requests. Only a long pause the
            # server set holds it back here too.
            if decision.shared_pause is not None and decision.shared_pause > SHORT_RETRY_AFTER:
                part.bucket.pause_until(now + decision.shared_pause, server=True)
            return decision
        if self._enabled:
            rate, capacity, max_tokens, pause, server_pause, _shared, tokens, min_tokens = decision
            bucket = part.bucket
            bucket.set_capacity(capacity, now)
            bucket.set_rate(rate, now)
            if max_tokens is not None:
                bucket.cap_tokens(max_tokens, now)
            if tokens is not None:
                bucket.set_tokens(tokens, now)
            if min_tokens is not None:
                bucket.hold_at_least(min_tokens, now)
            if pause is not None:
                bucket.pause_until(pause)
            if server_pause is not None:
                bucket.pause_until(server_pause, server=True)
            if status == _THROTTLED and logger.isEnabledFor(logging.DEBUG):
                logger.debug("429 on partition %s: pacing at %.2f/s", part.key[:8], rate)
        return decision

    # -- status and lifecycle -------------------------------------------------------------

    def status(self, key: str | None = None) -> RateLimitStatus:
        """The view of partition `key` (a partition key as given; None: the default one, or
        the most recently used when partitioned)."""
        partitions = self._partitions
        part = partitions.last if key is None else (partitions.get(key) or partitions.default)
        bucket = part.bucket
        estimator = part.estimator
        now = self._clock.monotonic()
        bucket.refill(now)
        enabled = self._enabled
        rate = bucket.rate if enabled and bucket.rate != math.inf else None
        limit, remaining, reset = estimator.limit, estimator.remaining, estimator.reset_wall
        if estimator.unread is not None:
            # The last answers were counted, not read (`Estimator.skim`): the last one's word.
            wall = self._wall_time()
            told = parse_rate_limit_headers(estimator.unread, wall, self._reset_format)
            if told is not None:
                limit = told.limit if told.limit is not None else limit
                remaining = told.remaining if told.remaining is not None else remaining
                reset = wall + told.reset_after if told.reset_after is not None else reset
        if self._fleet is not None:
            rate = self._fleet.rate(part.key)  # the fleet's, as its last lease said
        return RateLimitStatus(
            key=part.key,
            limit=limit,
            remaining=remaining,
            reset=reset,
            server_rate=estimator.server_rate(),
            rate=rate,
            burst=bucket.capacity if enabled and bucket.capacity != math.inf else None,
            tokens=bucket.tokens if enabled and bucket.tokens != math.inf else None,
            paused_for=max(0.0, bucket.paused_until - now),
            adaptive_rate=estimator.adaptive_rate(now),
            rate_limited=self._stats.rate_limited,
            wait_seconds=self._stats.limiter_wait_seconds,
            partitions=len(partitions),
            shared=not self._local_only,
        )

    async def aclose(self) -> None:
        if self._shared is not None:
            await self._shared.aclose()
        if self._fleet is not None:
            await self._fleet.aclose()

    def __repr__(self) -> str:
        return f"<RateLimitMiddleware {self.config!r}>"


class _Gate(ViaLayer):
    """The limiter's layer below auth: spend the permit, send, observe (see the module
    docstring)."""

    __slots__ = ("_limiter", "_clock")

    def __init__(self, limiter: RateLimitMiddleware) -> None:
        self._limiter = limiter
        self._clock = limiter._clock

    async def _via(self, call_next: CallNext, request: Request) -> Response:
        """The gate's call (`ViaLayer`: linked with no frame of its own)."""
        limiter = self._limiter
        permit: Permit | None = request.extensions.get(PERMIT)
        if permit is None:  # a pipeline without the acquire layer above: acquire here
            permit = new_permit(limiter._partitions.for_request(request), False, False, False, None, 0, False)
            if limiter._enabled:
                await limiter.take(permit, request)
        elif not permit.held and limiter._enabled:
            # A second send in one attempt (the replay after a 401): a token of its own.
            if permit.refused is not None:
                raise permit.refused
            await limiter.take(permit, request)
        part = permit.part
        probe = permit.probe
        binding = permit.waited
        epoch = permit.epoch
        logged = permit.logged
        permit.held = False
        if probe or binding or logged:
            permit.probe = permit.waited = permit.logged = False
        estimator = part.estimator
        sent_at = self._clock.monotonic()
        window = estimator.window
        meter = estimator.meter
        if (
            logged
            or estimator.sliding.sends is not None
            or window.opening is not None
            or window.log is not None
            or sent_at - meter.start >= 1.0
        ):
            seq = estimator.on_send(sent_at, logged)
        else:
            # `Estimator.on_send` when no send log keeps this send, inline: every request's case
            # once a server is settled, and a call would be a twentieth of the limiter's cost.
            seq = estimator.sent = estimator.sent + 1
            estimator.flown[seq % FLOWN] = estimator.inflight
            estimator.inflight += 1
            meter.current += 1
        try:
            response = await call_next(request)
        except BaseException:
            estimator.failed()
            if logged:
                estimator.slot_done(self._clock.monotonic(), sent=True, sent_at=sent_at)
            if probe:
                # It failed without an answer: nothing learned, but it did go out.
                part.bucket.probe_done(sent=True, now=self._clock.monotonic())
            raise
        if logged:
            granted = response.status_code != _THROTTLED
            estimator.slot_done(self._clock.monotonic(), sent=True, sent_at=sent_at, granted=granted)
        # What to learn: the answer is read and screened here, not in a call, as most are
        # counted only (`Estimator.skim`, a settled server) or say nothing to learn (no
        # headers, no 429, no recovery: `Estimator.learning`, inline).
        status = response.status_code
        decision = None
        if not (
            estimator.skim_left > 0
            and limiter._local_only
            and estimator.skim(status, response.headers, self._clock.monotonic())
        ):
            fields = None
            wall = 0.0
            if limiter._learn:
                headers = response.headers
                if any_in(READ_WHEN, headers):
                    fields, wall = limiter._read_headers(headers, limiter._wall_time)
            if (
                fields is not None
                or status == _THROTTLED
                or estimator.congestion.cubic is not None
                or estimator.window.active
            ):
                decision = limiter.observe(part, status, fields, wall, seq, sent_at, binding)
            else:
                estimator.inflight -= 1
        fleet = limiter._fleet
        if probe:
            # Headers or a 429 taught the estimator something: pacing takes over from the gate
            # (with shared learning, a 429 is what the fleet's rate learns from).
            if fleet is None:
                learned = estimator.limit is not None or estimator.rate != math.inf
            else:
                # The fleet's: the slow start goes on until the fleet has a rate.
                learned = status == _THROTTLED or fleet.rate(part.key) is not None
            part.bucket.probe_done(sent=True, now=self._clock.monotonic(), learned=learned)
        if fleet is not None:
            await self._tell_fleet(fleet, part, status, epoch, sent_at, decision)
        elif decision is not None and decision.shared_pause is not None and limiter._shared is not None:
            # Retry-After: every process sharing the bucket pauses, not only this one.
            await limiter._shared.pause(part.key, decision.shared_pause)
        if status == _UNAUTHORIZED and limiter._enabled and _replays(request):
            # The auth strategy will refresh and send again: wait for that send's token now,
            # so that the token it then chooses is the one valid when it leaves.
            try:
                await limiter.take(permit, request)
            except APITimeoutError as exc:
                permit.refused = exc  # raised if the replay comes
        return response

    async def _tell_fleet(
        self,
        fleet: SharedLearning,
        part: Partition,
        status: int,
        epoch: int,
        sent_at: float,
        decision: Decision | None,
    ) -> None:
        """Shared learning: what this answer tells the fleet (a cut to propose, the headers'
        ceiling, a pause when the server's bucket is empty or it said Retry-After)."""
        estimator = part.estimator
        retry_after = decision.shared_pause if decision is not None else None
        # A success that leaves the server's bucket empty (after the sync) is a congestion
        # mark, as ECN is to TCP: the fleet cuts before the server has to answer 429.
        empty = decision is not None and decision.max_tokens is not None and decision.max_tokens <= 0
        await fleet.answered(
            part.key,
            status,
            epoch,
            sent_at,
            server_rate=estimator.server_rate(),
            limit=estimator.limit,
            retry_after=retry_after,
            empty=empty and status != _THROTTLED,
            remaining=estimator.remaining,
        )
        if decision is None or status == _THROTTLED:
            return  # a 429's pause went with its cut
        if retry_after is not None:
            await fleet.pause(part.key, retry_after)
        elif empty and estimator.model == "window":
            # A quota per window stays empty until its Reset: the whole fleet waits for it.
            # (Only when the headers say so: `window_like`, a 429 after a send the bucket model
            # allowed, is what a fleet's other processes cause on a token bucket too.)
            until = decision.server_pause_until or decision.pause_until
            if until is not None:
                await fleet.pause(part.key, until - self._clock.monotonic())


def _replays(request: Request) -> bool:
    auth = request.extensions.get("auth")
    return auth is not None and getattr(auth, "replays_on_401", True)
