import { describe, expect, it } from "vitest";
import { leaseGrant, TokenLease, type Admission, type LeaseGrant } from "../../src/limits/lease.ts";
import { fullBucket, lease, type BucketLimits, type BucketState, type LeaseRequest } from "../../src/limits/token-bucket.ts";

/** A bucket as the SourceObject keeps it, on a simulated clock, recording every call. */
function fakeSource(limits: BucketLimits, clock: { now: number }) {
  let state: BucketState = fullBucket(limits, clock.now);
  const calls: LeaseRequest[] = [];
  const times: number[] = [];
  return {
    calls,
    times,
    tokens: () => state.tokens,
    acquire: async (req: LeaseRequest): Promise<LeaseGrant> => {
      calls.push(req);
      times.push(clock.now);
      const r = lease(state, req, limits, clock.now);
      state = r.state;
      return leaseGrant(r);
    },
  };
}

describe("token lease (isolate side)", () => {
  const limits = { rate: 100, burst: 200 };

  it("spends a lease locally: one call for many requests", async () => {
    const clock = { now: 0 };
    const source = fakeSource(limits, clock);
    const holder = new TokenLease({ limits, acquire: source.acquire, now: () => clock.now });
    let admitted = 0;
    // 50 events/s for 10 s, 1 event per request.
    for (let i = 0; i < 500; i++) {
      clock.now = i * 20;
      if ((await holder.take(1)).admitted) admitted++;
    }
    expect(admitted).toBe(500);
    // The lease doubles while the traffic estimate ramps up, then about one call a second.
    expect(source.calls.length).toBeLessThanOrEqual(20);
    expect(source.calls.filter((_, i) => source.times[i]! >= 4000).length).toBeLessThanOrEqual(7);
  });

  it("sizes the lease from the isolate's recent traffic, bounded by the burst", async () => {
    const clock = { now: 0 };
    const source = fakeSource({ rate: 1000, burst: 300 }, clock);
    const holder = new TokenLease({ limits: { rate: 1000, burst: 300 }, acquire: source.acquire, now: () => clock.now });
    for (let i = 0; i < 2000; i++) {
      clock.now = i; // 1000 events/s
      await holder.take(1);
    }
    const wants = source.calls.map((c) => c.want);
    expect(Math.max(...wants)).toBe(300);
    // The first request: 30 s of its 1 event/s estimate (a quarter of burst is 75).
    expect(wants[0]).toBe(30);
  });

  it("leases half a minute of traffic to an isolate far under the limit: one call per ~30 s", async () => {
    const clock = { now: 0 };
    const big = { rate: 1_000_000, burst: 1_000_000 };
    const source = fakeSource(big, clock);
    const holder = new TokenLease({ limits: big, acquire: source.acquire, now: () => clock.now });
    // 100 single-event requests a second for 5 minutes.
    for (let i = 0; i < 30_000; i++) {
      clock.now = i * 10;
      expect((await holder.take(1)).admitted).toBe(true);
    }
    // After the estimate has ramped up (a few calls in the first seconds), a call per ~30 s: ≤ 1 per 1,000 events.
    const later = source.times.filter((t) => t >= 10_000);
    expect(later.length).toBeGreaterThanOrEqual(8);
    expect(later.length).toBeLessThanOrEqual(11);
    expect(Math.max(...source.calls.map((c) => c.want))).toBeLessThanOrEqual(3_100);
    expect(source.calls.length).toBeLessThanOrEqual(30);
  });

  it("keeps a long lease to a quarter of burst, and to about a second of traffic once that is more", async () => {
    const clock = { now: 0 };
    const tight = { rate: 1000, burst: 1000 };
    const source = fakeSource(tight, clock);
    const holder = new TokenLease({ limits: tight, acquire: source.acquire, now: () => clock.now });
    for (let i = 0; i < 2_000; i++) {
      clock.now = i * 10; // 100 events/s: 30 s of it is 3,000, over a quarter of burst
      await holder.take(1);
    }
    const wants = source.calls.slice(3).map((c) => c.want);
    expect(Math.max(...wants)).toBe(250);
    for (let i = 0; i < 2_000; i++) {
      clock.now = 20_000 + i * 2; // 500 events/s: a second of it is more than a quarter of burst
      await holder.take(1);
    }
    expect(source.calls.at(-1)!.want).toBeGreaterThan(400);
    expect(source.calls.at(-1)!.want).toBeLessThanOrEqual(600);
  });

  it("denies over the limit with a Retry-After in whole seconds, without calling again meanwhile", async () => {
    const clock = { now: 0 };
    const small = { rate: 1, burst: 5 };
    const source = fakeSource(small, clock);
    const holder = new TokenLease({ limits: small, acquire: source.acquire, now: () => clock.now });
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await holder.take(1));
    expect(results.filter((r) => r.admitted)).toHaveLength(5);
    const denied = results.filter((r) => !r.admitted);
    expect(denied.every((r) => !r.admitted && r.retryAfterSeconds >= 1 && Number.isInteger(r.retryAfterSeconds))).toBe(true);
    const callsAtDenial = source.calls.length;
    for (let i = 0; i < 100; i++) await holder.take(1);
    expect(source.calls.length).toBe(callsAtDenial);
  });

  it("admits again once the Retry-After has passed", async () => {
    const clock = { now: 0 };
    const small = { rate: 1, burst: 5 };
    const source = fakeSource(small, clock);
    const holder = new TokenLease({ limits: small, acquire: source.acquire, now: () => clock.now });
    for (let i = 0; i < 5; i++) await holder.take(1);
    const denied = await holder.take(1);
    expect(denied.admitted).toBe(false);
    clock.now += (denied as { retryAfterSeconds: number }).retryAfterSeconds * 1000;
    expect((await holder.take(1)).admitted).toBe(true);
  });

  it("stops spending an expired lease and returns its tokens with the next call", async () => {
    const clock = { now: 0 };
    const source = fakeSource(limits, clock);
    const holder = new TokenLease({ limits, acquire: source.acquire, now: () => clock.now, ttlSeconds: 2 });
    for (let i = 0; i < 20; i++) await holder.take(5); // demand builds up: a large lease
    const held = holder.held();
    expect(held).toBeGreaterThan(0);
    clock.now = 2500;
    expect(holder.held()).toBe(0);
    await holder.take(1);
    expect(source.calls.at(-1)!.giveBack).toBe(held);
  });

  it("shares one call among concurrent requests", async () => {
    const clock = { now: 0 };
    const source = fakeSource(limits, clock);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const holder = new TokenLease({
      limits,
      now: () => clock.now,
      acquire: async (req) => {
        await gate;
        return source.acquire({ ...req, want: 50, min: 50 });
      },
    });
    const pending = Array.from({ length: 10 }, () => holder.take(2));
    release();
    const results = await Promise.all(pending);
    expect(results.every((r) => r.admitted)).toBe(true);
    expect(source.calls).toHaveLength(1);
  });

  it("admits when the bucket cannot be reached, and backs off from asking", async () => {
    const clock = { now: 0 };
    let calls = 0;
    const errors: unknown[] = [];
    const holder = new TokenLease({
      limits,
      now: () => clock.now,
      acquire: async () => {
        calls++;
        throw new Error("object unavailable");
      },
      onAcquireError: (e) => errors.push(e),
    });
    for (let i = 0; i < 20; i++) expect((await holder.take(1)).admitted).toBe(true);
    expect(calls).toBe(1);
    expect(errors).toHaveLength(1);
    expect(holder.stats.failedOpen).toBe(20);
  });

  describe("refunds", () => {
    const small = { rate: 1, burst: 3 };
    /** A lease on a fresh bucket of burst 3 whose Durable Object can be taken down. */
    function smallLease() {
      const clock = { now: 0 };
      const source = fakeSource(small, clock);
      const state = { down: false };
      const acquire = async (req: LeaseRequest) => {
        if (state.down) throw new Error("object unavailable");
        return source.acquire(req);
      };
      return { source, state, holder: new TokenLease({ limits: small, acquire, now: () => clock.now }) };
    }
    const taken = (a: Admission) => (a.admitted ? a.taken : 0);

    it("keeps refunded tokens of a request that was not accepted", async () => {
      const { source, holder } = smallLease();
      const first = await holder.take(3);
      expect(first).toEqual({ admitted: true, taken: 3 });
      holder.refund(taken(first));
      expect((await holder.take(3)).admitted).toBe(true);
      expect(source.calls).toHaveLength(1);
    });

    it("refunds what a request took, which is at most the burst, not its number of events", async () => {
      const { holder } = smallLease();
      const big = await holder.take(10);
      expect(big).toEqual({ admitted: true, taken: 3 });
      holder.refund(taken(big));
      expect(holder.held()).toBe(3);
      // The bucket granted 3 tokens in all: 3 admitted events, then a denial.
      for (let i = 0; i < 3; i++) expect((await holder.take(1)).admitted).toBe(true);
      expect((await holder.take(1)).admitted).toBe(false);
    });

    it("takes nothing and so refunds nothing for a request admitted while the bucket is unreachable", async () => {
      const { state, holder } = smallLease();
      expect((await holder.take(3)).admitted).toBe(true);
      state.down = true;
      const open = await holder.take(2);
      expect(open).toEqual({ admitted: true, taken: 0 });
      holder.refund(taken(open));
      expect(holder.held()).toBe(0);
    });
  });

  it("with several isolates, admits about the configured rate under 150 % load", async () => {
    const clock = { now: 0 };
    const lim = { rate: 200, burst: 200 };
    const source = fakeSource(lim, clock);
    const isolates = Array.from({ length: 4 }, () => new TokenLease({ limits: lim, acquire: source.acquire, now: () => clock.now }));
    let admitted = 0;
    // 300 events/s in requests of 3 events for 20 s, round-robin over the isolates.
    const perSecond = 100;
    for (let i = 0; i < 20 * perSecond; i++) {
      clock.now = (i * 1000) / perSecond;
      if ((await isolates[i % 4]!.take(3)).admitted && clock.now >= 10_000) admitted += 3;
    }
    // Second half only (the first includes the initial burst).
    expect(admitted / 10 / lim.rate).toBeGreaterThan(0.9);
    expect(admitted / 10 / lim.rate).toBeLessThan(1.1);
  });
});
