/**
 * The isolate's side of a leased rate limit. A Durable Object serves about a thousand calls a second, so the
 * request path must not call it per request: an isolate leases a block of tokens from the source's bucket and
 * spends it locally, asking again only when the block runs low or expires (and returning what it did not
 * spend). The block is sized from this isolate's recent traffic: up to `leaseSeconds` (30) of it while that is at
 * most a quarter of the bucket's burst (a source well under its limit: one call per half minute per isolate), else
 * about one second of it, bounded by the burst (a source near its limit: a busy isolate calls about once a second,
 * and none holds many tokens others might need). A lease may be spent for twice the time its traffic needs to spend
 * it (at least 2 s, at most `leaseSeconds` + 2 s); what is left then goes back with the next call.
 *
 * No Workers APIs: the clock and the call to the bucket (`acquire`) are injected, so the logic is tested and
 * benchmarked with a simulated clock against the real bucket maths.
 *
 * @example
 *   const holder = new TokenLease({ limits: { rate: 100, burst: 200 }, acquire: (req) => stub.lease(limits, req) });
 *   const a = await holder.take(10); // { admitted: true } or { admitted: false, retryAfterSeconds: 1 }
 */
import type { BucketLimits, LeaseRequest, LeaseResult } from "./token-bucket.ts";

export interface LeaseGrant {
  /** Tokens granted; 0 when denied. */
  granted: number;
  /** When the tokens were reserved ahead of time (the source is at its limit): seconds until they may be spent. */
  startsInSeconds?: number;
  /** When denied: seconds until asking again can succeed. */
  retryAfterSeconds?: number;
}

export type Acquire = (req: LeaseRequest) => Promise<LeaseGrant>;

/** The part of the bucket's answer an isolate receives. */
export function leaseGrant(r: LeaseResult): LeaseGrant {
  if (r.granted === 0) return { granted: 0, retryAfterSeconds: r.retryAfterSeconds ?? 0 };
  return r.startsInSeconds === undefined ? { granted: r.granted } : { granted: r.granted, startsInSeconds: r.startsInSeconds };
}

export interface LeaseOptions {
  limits: BucketLimits;
  acquire: Acquire;
  /** ms since the epoch. */
  now?: () => number;
  /** A long lease: this many seconds of the isolate's recent traffic, while that fits `longShare` of burst (default 30). */
  leaseSeconds?: number;
  /** The share of burst a long lease may hold (default 0.25); above it a lease is about a second of traffic. */
  longShare?: number;
  /** A lease is spent within twice its traffic's time, at least this many seconds (default 2), at most `leaseSeconds` more. */
  ttlSeconds?: number;
  /** Time constant of the traffic estimate, in seconds (default 1). */
  rateWindowSeconds?: number;
  /** After `acquire` fails, admit without asking for this many seconds (default 1). */
  failOpenSeconds?: number;
  /** Told when `acquire` fails (the request is then admitted: a limiter outage must not lose events). */
  onAcquireError?: (err: unknown) => void;
}

/** `taken`: the tokens spent on the request, all that a refund may give back (0 when admitted without a lease). */
export type Admission = { admitted: true; taken: number } | { admitted: false; retryAfterSeconds: number };

export interface LeaseStats {
  /** Calls made to `acquire`. */
  calls: number;
  admittedRequests: number;
  admittedTokens: number;
  deniedRequests: number;
  /** Requests admitted without asking because `acquire` had failed. */
  failedOpen: number;
}

/** One per source per isolate. Concurrent requests share one call to `acquire` at a time. */
export class TokenLease {
  readonly stats: LeaseStats = { calls: 0, admittedRequests: 0, admittedTokens: 0, deniedRequests: 0, failedOpen: 0 };
  private tokens = 0;
  private validFrom = 0;
  private expiresAt = 0;
  /** Until then, requests are refused without asking (a denial, or a lease that has not started). */
  private blockedUntil = 0;
  private openUntil = 0;
  /** Exponentially decaying sum of requested tokens; divided by the time constant it is a rate. */
  private demand = 0;
  private demandAt = 0;
  private inflight: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly leaseMs: number;
  private readonly longShare: number;
  private readonly ttlMs: number;
  private readonly tauMs: number;
  private readonly failOpenMs: number;

  constructor(private readonly options: LeaseOptions) {
    this.now = options.now ?? Date.now;
    this.leaseMs = (options.leaseSeconds ?? 30) * 1000;
    this.longShare = options.longShare ?? 0.25;
    this.ttlMs = (options.ttlSeconds ?? 2) * 1000;
    this.tauMs = (options.rateWindowSeconds ?? 1) * 1000;
    this.failOpenMs = (options.failOpenSeconds ?? 1) * 1000;
  }

  get limits(): BucketLimits {
    return this.options.limits;
  }

  /** Tokens this isolate could still spend right now without asking. */
  held(now = this.now()): number {
    return now >= this.validFrom && now < this.expiresAt ? this.tokens : 0;
  }

  /** This isolate's recent demand, in tokens per second. */
  demandRate(now = this.now()): number {
    return (this.decayedDemand(now) / this.tauMs) * 1000;
  }

  /**
   * Admits a request of `n` events (n above burst counts as burst: a bucket never holds more) or says when to
   * retry. Calls `acquire` only when the local lease cannot pay.
   */
  async take(n: number): Promise<Admission> {
    const cost = Math.max(1, Math.min(Math.ceil(n), this.options.limits.burst));
    this.observe(cost, this.now());
    for (;;) {
      const local = this.trySpend(cost);
      if (local) return local;
      if (this.inflight) {
        await this.inflight;
        continue;
      }
      const now = this.now();
      this.inflight = this.renew(cost, now);
      try {
        await this.inflight;
      } finally {
        this.inflight = undefined;
      }
      // A grant covers this request unless concurrent waiters spent it first (then loop and ask again);
      // a denial or an outage is decided by trySpend on the next turn.
    }
  }

  /**
   * Gives back the tokens an admitted request took (its Admission's `taken`) when it was not accepted after all
   * (e.g. the queue failed). Never more: tokens a refund adds that the bucket did not grant would exceed the limit.
   */
  refund(taken: number): void {
    if (taken > 0 && this.now() < this.expiresAt) this.tokens += taken;
  }

  /** Synchronous part of take: undefined means a call to the bucket is needed. */
  private trySpend(cost: number): Admission | undefined {
    const now = this.now();
    if (now < this.openUntil) {
      this.stats.admittedRequests++;
      this.stats.admittedTokens += cost;
      this.stats.failedOpen++;
      return { admitted: true, taken: 0 };
    }
    if (now >= this.validFrom && now < this.expiresAt && this.tokens >= cost) {
      this.tokens -= cost;
      this.stats.admittedRequests++;
      this.stats.admittedTokens += cost;
      return { admitted: true, taken: cost };
    }
    if (now < this.blockedUntil) {
      this.stats.deniedRequests++;
      return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil((this.blockedUntil - now) / 1000)) };
    }
    return undefined;
  }

  private async renew(cost: number, now: number): Promise<void> {
    // What is left (too little for this request, or expired) goes back to the bucket with the call.
    const rate = this.demandRate(now);
    const long = Math.min(Math.ceil((rate * this.leaseMs) / 1000), Math.floor(this.options.limits.burst * this.longShare));
    const want = Math.max(cost, Math.ceil(rate), long);
    const req: LeaseRequest = {
      need: cost,
      want: Math.min(want, this.options.limits.burst),
      min: Math.max(cost, Math.floor(want / 2)),
      giveBack: this.tokens,
    };
    this.tokens = 0;
    this.stats.calls++;
    let grant: LeaseGrant;
    try {
      grant = await this.options.acquire(req);
    } catch (err) {
      this.options.onAcquireError?.(err);
      this.openUntil = this.now() + this.failOpenMs;
      return;
    }
    const at = this.now();
    if (grant.granted > 0) {
      this.tokens += grant.granted;
      this.validFrom = at + (grant.startsInSeconds ?? 0) * 1000;
      // Twice the time the isolate's traffic needs to spend the lease, within [ttl, ttl + leaseSeconds].
      const spendMs = rate > 0 ? (this.tokens / rate) * 1000 : 0;
      this.expiresAt = this.validFrom + Math.min(this.ttlMs + this.leaseMs, Math.max(this.ttlMs, 2 * spendMs));
      this.blockedUntil = this.validFrom;
    } else {
      this.blockedUntil = at + Math.max(1, (grant.retryAfterSeconds ?? 1) * 1000);
    }
  }

  private decayedDemand(now: number): number {
    const dt = Math.max(0, now - this.demandAt);
    return this.demand * Math.exp(-dt / this.tauMs);
  }

  private observe(n: number, now: number): void {
    this.demand = this.decayedDemand(now) + n;
    this.demandAt = now;
  }
}
