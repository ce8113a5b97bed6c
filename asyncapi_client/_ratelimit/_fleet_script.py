"""The Lua script that keeps a fleet's learned rate in Redis (see `_fleet.py` for the design).

One hash per partition key holds the fleet's bucket and what the fleet has learned; every
operation is one atomic run of this script, timed by the Redis server's own clock (`TIME`), so
processes on hosts with skewed clocks agree on when a cut happened and how far the curve has
climbed since. The curve is `_adaptive.Cubic`'s (the same constants, passed in as arguments so
that the two cannot drift apart).

Fields: `tokens`, `ts` (the bucket's level at Redis time `ts`; negative: slots already leased
ahead), `paused` (no slot before this), `epoch` (congestion events so far), `w_max`, `k`,
`since`, `search` (the curve; `w_max` 0: no event yet, the fleet is open), `settled` (a 429 for
a request sent before this belongs to the last event), `ceiling` (the rate the headers allow;
0: none; the lowest proposal, until none has confirmed it for 2 s) and `ceiling_at`, `burst`,
`raised_at` and `cut_at` (the last step up, the last event), two one-second meters (`l*`:
slots leased, `g*`: answers granted); with headers (`burst` > 0) `hrate` (the fleet's own rate
in place of the curve; 0: none yet), `mrate` (the rate the last event found too fast; 0:
not measured) and `prev` (the rate before the last step up), and the busy run's start `t0`,
slots leased since `lt` and last lease `la`.

ARGV: op, max_pause, BETA, CUBIC_C, MIN_RATE, DOUBLING, FORGET_AFTER, then per op:

- `lease` want, granted (answers since the last call), ceiling (<= 0: none), burst (<= 0: a
  tenth of a second at the rate), max_wait (< 0: unbounded), raise (1: the proposer's latest
  answer saw the server's bucket near full; the rate steps up, at most every 0.1 s
  for the fleet: `hrate` as `_fleet.py` says, else the curve 5%). Reserves `want` consecutive
  slots (refused, nothing taken, when the first would wait past max_wait).
- `cut` epoch, sent_ago (seconds since the 429's request left), pause (Retry-After, seconds),
  granted, beta (the rate restarts at beta times the event's rate: `BETA` for a 429,
  `MARK_BETA` for a success that found the server's bucket empty). A new congestion event
  only when `epoch` is the current one and the request left after the last event settled;
  otherwise nothing changes.
- `give` n: slots not used go back.
- `pause` seconds: the server's bucket is empty (or it said Retry-After): no slot before then.

Returns {granted slots, seconds until the bucket resumes (string; slot i of a lease is due
that long plus max(0, i + 1 - level) / rate from now), level before (string),
rate (string; "-1": open), epoch, accepted (1: the lease was granted / the cut was a new event)}.
"""

from __future__ import annotations

FLEET_SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local key = KEYS[1]
local op = ARGV[1]
local max_pause = tonumber(ARGV[2])
local BETA, C, MIN, DOUBLING, FORGET = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7])
local f = redis.call('HMGET', key, 'tokens', 'ts', 'paused', 'epoch', 'w_max', 'k', 'since',
  'search', 'settled', 'ceiling', 'burst', 'ls', 'lp', 'lc', 'gs', 'gp', 'gc', 'ceiling_at', 'raised_at', 'cut_at',
  'hrate', 'mrate', 't0', 'lt', 'la', 'prev')
local function num(v, d) local n = tonumber(v); if n == nil or n ~= n then return d end; return n end
local tokens, ts, paused = num(f[1], nil), num(f[2], nil), num(f[3], 0)
local epoch, w_max, k, since = num(f[4], 0), num(f[5], 0), num(f[6], 0), num(f[7], now)
local search, settled, ceiling, burst = num(f[8], 0), num(f[9], 0), num(f[10], 0), num(f[11], 0)
local ls, lp, lc, gs, gp, gc = num(f[12], now), num(f[13], 0), num(f[14], 0), num(f[15], now),
  num(f[16], 0), num(f[17], 0)
local ceiling_at, raised_at, cut_at, hrate = num(f[18], 0), num(f[19], 0), num(f[20], 0), num(f[21], 0)
local mrate, t0, lt, la, prev = num(f[22], 0), num(f[23], 0), num(f[24], 0), num(f[25], 0), num(f[26], 0)
local RAISE_EVERY, RAISE_STEP, LEASE_SECONDS = 0.1, 1.05, 0.025
local NEAR, CREEP_STEP, CREEP_FOR, FAST_STEP, PREV_FOR = 0.99, 1.005, 1, 1.4, 0.5
if paused > now + max_pause then paused = now + max_pause end
if since > now + max_pause then since = now + max_pause end

-- A one-second sliding-window counter: {start, previous, current}.
local function roll(s, p, c)
  if now - s >= 1 then
    local w = math.floor(now - s)
    if w == 1 then p = c else p = 0 end
    c = 0
    s = s + w
  end
  return s, p, c
end
local function per_second(s, p, c) return p * (1 - (now - s)) + c end
ls, lp, lc = roll(ls, lp, lc)
gs, gp, gc = roll(gs, gp, gc)

local function curve()
  if w_max <= 0 then return -1 end
  local x = now - since
  if x < 0 then x = 0 end
  local r
  if search == 1 then
    r = w_max * BETA * math.pow(2, x / DOUBLING)
  else
    x = x - k
    r = C * x * x * x + w_max
  end
  if r < MIN then r = MIN end
  return r
end
-- Forget the 429s once the curve is far past them and quiet for long.
if w_max > 0 and now - since > FORGET and curve() > 2 * w_max then w_max = 0 end
local function pacing()
  local r = curve()
  if hrate > 0 then r = hrate end
  if ceiling > 0 and (r < 0 or ceiling < r) then r = ceiling end
  return r
end

local granted, wait, before, accepted = 0, 0, 0, 0
local rate = pacing()
local function capacity(r)
  if burst > 0 then return burst end
  if r <= 0 then return 1 end
  return math.max(1, math.ceil(r * 0.1))
end
local function refill(r)
  if tokens == nil or ts == nil then tokens = capacity(r); ts = now end
  local at = now
  if paused > at then at = paused end
  if at > ts then
    if r > 0 then tokens = math.min(capacity(r), tokens + (at - ts) * r) end
    ts = at
  end
end

if op == 'lease' then
  local want = tonumber(ARGV[8])
  gc = gc + tonumber(ARGV[9])
  local proposed = tonumber(ARGV[10])
  -- Every process's ceiling is an upper bound on the server's rate: the lowest is kept, and
  -- one that nobody has confirmed for CEILING_TTL seconds gives way to the next proposal.
  if proposed > 0 and (ceiling <= 0 or proposed <= ceiling * 1.02 or now - ceiling_at > 2) then
    if ceiling <= 0 or proposed < ceiling or now - ceiling_at > 2 then ceiling = proposed end
    ceiling_at = now
  end
  burst = tonumber(ARGV[11])
  local max_wait = tonumber(ARGV[12])
  -- The proposer saw the server's bucket near full: the fleet is below the server's
  -- rate. The curve steps up RAISE_STEP from where it is, once per RAISE_EVERY seconds for
  -- the whole fleet however many processes propose it.
  if tonumber(ARGV[13]) == 1 and hrate > 0 and now >= since and now - raised_at >= RAISE_EVERY then
    -- Paced by the headers: step up while the server's bucket is near full, to the ceiling;
    -- quickly back to just below the rate the last event found too fast, slowly past it.
    -- The steps compound over the time since the last (reports come with leases, rarer at a
    -- low rate), at most two steps' worth.
    local steps = math.min(now - raised_at, 2 * RAISE_EVERY) / RAISE_EVERY
    local near = mrate * NEAR
    prev = hrate
    if mrate <= 0 then
      hrate = hrate * math.pow(FAST_STEP, steps)  -- no rate found too fast yet
    elseif hrate * 1.001 < near then  -- (not stuck a rounding below `near`)
      hrate = math.min(near, hrate * math.pow(RAISE_STEP, steps))
    elseif now - cut_at < CREEP_FOR then
      hrate = hrate * math.pow(CREEP_STEP, steps)
    else
      hrate = hrate * math.pow(RAISE_STEP, steps)  -- full long past the last event: the server may have sped up
    end
    if ceiling > 0 and hrate > ceiling then hrate = ceiling end
    raised_at = now
  elseif tonumber(ARGV[13]) == 1 and w_max > 0 and search == 0 and now >= since and now - raised_at >= RAISE_EVERY then
    local r = curve()
    if ceiling <= 0 or r < ceiling then
      w_max = r * RAISE_STEP
      k = 0
      search = 0
      since = now
      raised_at = now
    end
  end
  rate = pacing()
  if rate < 0 then
    granted, accepted = want, 1
    if paused > now then wait = paused - now end
  else
    refill(rate)
    before = tokens
    wait = ts - now
    local first = wait
    if tokens < 1 then first = first + (1 - tokens) / rate end
    if max_wait < 0 or first <= max_wait then
      granted, accepted = want, 1
      tokens = tokens - want
    end
  end
  lc = lc + granted
  -- A busy run starts (after a second idle the server's bucket is taken to be full again).
  if granted > 0 and now - la >= 1 then t0, lt = now, 0 end
  if granted > 0 then la = now end
  lt = lt + granted
elseif op == 'cut' then
  local seen, sent_ago, pause = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
  gc = gc + tonumber(ARGV[11])
  local beta = tonumber(ARGV[12])
  if seen == epoch and now - sent_ago >= settled then
    accepted = 1
    -- The rate the event happened at: what the fleet leased in the last second, no more than
    -- the pacing rate (which it is when slots were queued on it), and (once measured) no more
    -- than the server granted, nor below half.
    local at = per_second(ls, lp, lc)
    if rate > 0 and (rate < at or (tokens ~= nil and tokens < 0)) then
      at = rate  -- slots were queued on the pacing rate: that is what the fleet sent
    end
    -- The server's grants since the last event (over its last second once that is longer).
    local span, good = now - cut_at, nil
    if span >= 1 then good = per_second(gs, gp, gc) elseif span >= 0.25 then good = gc / span end
    if w_max > 0 and good ~= nil and good < at then at = math.max(good, at / 2) end
    -- A Retry-After of a second or less is what a token bucket says of a burst (a token is due
    -- within it): the cut answers it and the fleet does not stall on it (the process that got
    -- it waits it out alone). A longer one pauses every process.
    if pause <= 1 then pause = 0 end
    if pause > max_pause then pause = max_pause end
    if pause < 0 then pause = 0 end
    local resume = now + pause
    -- The fleet's first event searches (doubling) when it is a 429, the one signal a server
    -- without headers gives; a mark (a shallower cut) means headers, whose half-full answers
    -- step the rate up without overshooting into 429s.
    if burst > 0 then
      -- The server sends rate-limit headers (a process reported its burst): the fleet paces
      -- at beta times what it was sending (no more than the server granted) and steps up
      -- only while the headers show the server's bucket near full, never past the ceiling.
      -- No curve: its probing past the server's rate is what the headers make needless.
      if hrate <= 0 and t0 > 0 and now - t0 >= 0.1 then
        -- The fleet's first event: the server's bucket, full when the fleet began, is empty
        -- now, so what the fleet sent since is about its burst plus its rate times the time.
        local est = (lt - burst - 1) / (now - t0)
        if est > at then at = est end
      end
      if ceiling > 0 and at > ceiling then at = ceiling end
      -- The rate found too fast; unknown when the fleet was open (its slow start sent bursts,
      -- which find a bucket empty below its rate).
      if hrate > 0 then mrate = at else mrate = 0 end
      local new = at * beta
      if prev > 0 and now - raised_at < PREV_FOR and prev * at < new * new then
        -- The event answers the last step up: the rate before it was below the server's and
        -- the one after it too fast. Half way between them (geometrically), not beta below
        -- the too fast one, which a step of FAST_STEP puts above the server's rate still.
        new = math.sqrt(prev * at)
      end
      prev = 0
      hrate = math.max(new, MIN)
      w_max, k, search = 0, 0, 0
    else
      if w_max <= 0 and beta <= BETA then search = 1 else search = 0 end
      w_max = math.max(at, MIN)
      k = math.pow(w_max * (1 - beta) / C, 1 / 3)
    end
    -- Slots leased before the cut are still being sent (and 429'd) after it: the event lasts
    -- until they are all due, plus a round trip.
    local ahead = LEASE_SECONDS  -- slots already handed to requests that are not queued here
    if tokens ~= nil and tokens < 0 and rate > 0 then ahead = -tokens / rate end
    if ts ~= nil and ts > now then ahead = ahead + (ts - now) end
    since = resume
    settled = resume + ahead + sent_ago
    epoch = epoch + 1
    if resume > paused then paused = resume end
    rate = pacing()
    refill(rate)
    if tokens > 0 then tokens = 0 end
    gs, gp, gc = now, 0, 0
    cut_at = now
  end
elseif op == 'give' then
  refill(rate)
  tokens = math.min(capacity(rate), tokens + tonumber(ARGV[8]))
elseif op == 'pause' then
  local s = tonumber(ARGV[8])
  if s > max_pause then s = max_pause end
  if now + s > paused then paused = now + s end
  refill(rate)
  if tokens > 0 then tokens = 0 end
end
if tokens == nil then tokens = capacity(rate); ts = now end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(ts), 'paused', tostring(paused),
  'epoch', epoch, 'w_max', tostring(w_max), 'k', tostring(k), 'since', tostring(since),
  'search', search, 'settled', tostring(settled), 'ceiling', tostring(ceiling),
  'burst', tostring(burst), 'ls', tostring(ls), 'lp', lp, 'lc', lc, 'gs', tostring(gs),
  'gp', gp, 'gc', gc, 'ceiling_at', tostring(ceiling_at), 'raised_at', tostring(raised_at), 'cut_at', tostring(cut_at),
  'hrate', tostring(hrate), 'mrate', tostring(mrate), 't0', tostring(t0), 'lt', lt, 'la', tostring(la), 'prev', tostring(prev))
-- What was learned outlives an idle minute or two, no more; a pause never outlives max_pause.
redis.call('PEXPIRE', key, math.ceil((FORGET + max_pause) * 1000))
return {granted, tostring(wait), tostring(before), tostring(rate), epoch, accepted}
"""
