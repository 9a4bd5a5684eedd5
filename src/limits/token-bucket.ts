/**
 * Token-bucket maths as pure functions of `now` (ms): no clock, no storage. The SourceObject keeps one state per
 * source and calls these; the lease holder (lease.ts) and the benchmark run the very same functions.
 *
 * @example
 *   const limits = { rate: 100, burst: 200 };
 *   let state = fullBucket(limits, 0);
 *   const r = take(state, 150, limits, 0); // { granted: true, state: { tokens: 50, updatedAt: 0 } }
 */

/** `rate` tokens (events) per second, at most `burst` saved up. */
export interface BucketLimits {
  rate: number;
  burst: number;
}

export interface BucketState {
  tokens: number;
  /** When `tokens` was last brought up to date (ms since the epoch). */
  updatedAt: number;
}

export type TakeResult =
  | { granted: true; state: BucketState }
  | { granted: false; state: BucketState; retryAfterSeconds: number };

export function fullBucket(limits: BucketLimits, now: number): BucketState {
  return { tokens: limits.burst, updatedAt: now };
}

/**
 * The state at `now`: tokens added for the time passed, capped at `burst`. A clock that went backwards (another
 * machine's clock) adds nothing rather than removing tokens.
 */
export function refill(state: BucketState, limits: BucketLimits, now: number): BucketState {
  const elapsed = Math.max(0, now - state.updatedAt) / 1000;
  const tokens = Math.min(limits.burst, Math.min(state.tokens, limits.burst) + elapsed * limits.rate);
  return { tokens, updatedAt: Math.max(now, state.updatedAt) };
}

/** Seconds until the bucket holds `n` tokens, from an up-to-date state. */
function secondsUntil(state: BucketState, n: number, limits: BucketLimits): number {
  return Math.max(0, n - state.tokens) / limits.rate;
}

/**
 * Takes `n` tokens if the bucket holds them at `now`; otherwise takes nothing and says how long until it would.
 * @throws RangeError when `n` exceeds `burst` (it could never be granted; callers cap requests at `burst`).
 */
export function take(state: BucketState, n: number, limits: BucketLimits, now: number): TakeResult {
  if (n > limits.burst) throw new RangeError(`cannot take ${n} tokens from a bucket of burst ${limits.burst}`);
  const current = refill(state, limits, now);
  if (current.tokens >= n) return { granted: true, state: { tokens: current.tokens - n, updatedAt: current.updatedAt } };
  return { granted: false, state: current, retryAfterSeconds: secondsUntil(current, n, limits) };
}

/** Puts back tokens that were taken but not spent (capped at `burst`). */
export function giveBack(state: BucketState, n: number, limits: BucketLimits, now: number): BucketState {
  const current = refill(state, limits, now);
  return { tokens: Math.min(limits.burst, current.tokens + Math.max(0, n)), updatedAt: current.updatedAt };
}

/** What an isolate asks the bucket for (see lease.ts). */
export interface LeaseRequest {
  /** Tokens the request waiting for this lease needs. */
  need: number;
  /** Tokens the isolate would like to hold (up to 30 s of its traffic, or about a second near the limit: lease.ts). */
  want: number;
  /** The smallest immediate grant worth a round trip; below it the lease is reserved instead (see `lease`). */
  min: number;
  /** Unspent tokens of the isolate's previous lease, returned first. */
  giveBack: number;
}

export interface LeaseResult {
  /** 0 when denied. */
  granted: number;
  state: BucketState;
  /** When granted ahead of time: seconds until the lease may be spent. */
  startsInSeconds?: number;
  /** When denied: seconds until asking again can succeed. */
  retryAfterSeconds?: number;
}

/**
 * Leases tokens to an isolate. When the bucket holds at least `min`, grants up to `want` of what it holds, now.
 * Otherwise (the source is at its limit) it reserves `want` tokens that the refill will bring, and says when
 * they may be spent: the bucket goes into debt, and later callers queue behind. Every call under saturation
 * thus yields a full lease in arrival order, instead of isolates racing for what trickles in. The queue is
 * bounded: beyond `burst` tokens of debt (a second at burst = rate), the call is denied.
 * @example lease(fullBucket({ rate: 10, burst: 20 }, 0), { need: 1, want: 15, min: 7, giveBack: 0 }, { rate: 10, burst: 20 }, 0).granted // 15
 */
export function lease(state: BucketState, req: LeaseRequest, limits: BucketLimits, now: number): LeaseResult {
  const current = giveBack(state, req.giveBack, limits, now);
  const need = Math.min(Math.max(1, Math.ceil(req.need)), limits.burst);
  const min = Math.min(Math.max(need, Math.ceil(req.min)), limits.burst);
  const want = Math.min(Math.max(min, Math.floor(req.want)), limits.burst);
  if (current.tokens >= min) {
    const granted = Math.min(want, Math.floor(current.tokens));
    return { granted, state: { tokens: current.tokens - granted, updatedAt: current.updatedAt } };
  }
  const after = current.tokens - want;
  if (after < -limits.burst) return { granted: 0, state: current, retryAfterSeconds: (-limits.burst - after) / limits.rate };
  return { granted: want, state: { tokens: after, updatedAt: current.updatedAt }, startsInSeconds: -after / limits.rate };
}
