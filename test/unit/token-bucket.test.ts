import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fullBucket, giveBack, lease, refill, take, type BucketState } from "../../src/limits/token-bucket.ts";

const limits = { rate: 10, burst: 20 };

describe("token bucket", () => {
  it("starts full and grants up to the burst at once", () => {
    const s0 = fullBucket(limits, 0);
    const r = take(s0, 20, limits, 0);
    expect(r).toEqual({ granted: true, state: { tokens: 0, updatedAt: 0 } });
  });

  it("refuses what it does not hold and says when it will", () => {
    const r = take({ tokens: 2, updatedAt: 0 }, 5, limits, 0);
    expect(r.granted).toBe(false);
    expect(r.granted === false && r.retryAfterSeconds).toBeCloseTo(0.3);
    expect(r.state.tokens).toBe(2);
  });

  it("refills at the rate, capped at the burst", () => {
    expect(refill({ tokens: 0, updatedAt: 0 }, limits, 500).tokens).toBeCloseTo(5);
    expect(refill({ tokens: 0, updatedAt: 0 }, limits, 60_000).tokens).toBe(20);
  });

  it("adds nothing when the clock goes backwards", () => {
    expect(refill({ tokens: 3, updatedAt: 1000 }, limits, 500)).toEqual({ tokens: 3, updatedAt: 1000 });
  });

  it("takes back returned tokens, never above the burst", () => {
    expect(giveBack({ tokens: 5, updatedAt: 0 }, 4, limits, 0).tokens).toBe(9);
    expect(giveBack({ tokens: 18, updatedAt: 0 }, 4, limits, 0).tokens).toBe(20);
  });

  it("rejects a take larger than the burst (it could never succeed)", () => {
    expect(() => take(fullBucket(limits, 0), 21, limits, 0)).toThrow(RangeError);
  });

  it("never admits more than burst + rate × elapsed, whatever the sequence of takes", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 20 })), { maxLength: 200 }), (steps) => {
        let state: BucketState = fullBucket(limits, 0);
        let now = 0;
        let admitted = 0;
        for (const [dt, n] of steps) {
          now += dt;
          const r = take(state, n, limits, now);
          state = r.state;
          if (r.granted) admitted += n;
        }
        return admitted <= limits.burst + (limits.rate * now) / 1000 + 1e-9;
      }),
    );
  });
});

describe("lease from the bucket", () => {
  it("grants the wanted lease when the bucket holds it", () => {
    const r = lease(fullBucket(limits, 0), { need: 1, want: 15, min: 7, giveBack: 0 }, limits, 0);
    expect(r.granted).toBe(15);
    expect(r.state.tokens).toBe(5);
  });

  it("grants less than wanted, but at least the minimum", () => {
    const r = lease({ tokens: 9.5, updatedAt: 0 }, { need: 1, want: 15, min: 7, giveBack: 0 }, limits, 0);
    expect(r.granted).toBe(9);
  });

  it("below the minimum, reserves the wanted lease for when the refill brings it (the bucket goes into debt)", () => {
    const r = lease({ tokens: 3, updatedAt: 0 }, { need: 1, want: 15, min: 7, giveBack: 0 }, limits, 0);
    expect(r.granted).toBe(15);
    expect(r.startsInSeconds).toBeCloseTo(1.2);
    expect(r.state.tokens).toBe(-12);
  });

  it("queues later callers behind a reservation, in arrival order", () => {
    const first = lease({ tokens: 0, updatedAt: 0 }, { need: 1, want: 5, min: 3, giveBack: 0 }, limits, 0);
    const second = lease(first.state, { need: 1, want: 5, min: 3, giveBack: 0 }, limits, 0);
    expect(first.startsInSeconds).toBeCloseTo(0.5);
    expect(second.startsInSeconds).toBeCloseTo(1);
  });

  it("denies once the queue of reservations would exceed a burst of debt", () => {
    const r = lease({ tokens: -10, updatedAt: 0 }, { need: 1, want: 15, min: 7, giveBack: 0 }, limits, 0);
    expect(r.granted).toBe(0);
    expect(r.retryAfterSeconds).toBeCloseTo(0.5);
    expect(r.state.tokens).toBe(-10);
  });

  it("never lets leases start faster than burst + rate × elapsed, whatever the calls", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 300 }), need: fc.integer({ min: 1, max: 20 }), want: fc.integer({ min: 1, max: 40 }), back: fc.integer({ min: 0, max: 5 }) }), { maxLength: 200 }),
        (calls) => {
          let state: BucketState = fullBucket(limits, 0);
          let now = 0;
          let returned = 0;
          const starts: [number, number][] = [];
          for (const c of calls) {
            now += c.dt;
            // Only tokens previously granted can be given back.
            const granted = starts.reduce((a, [, g]) => a + g, 0);
            const back = Math.min(c.back, granted - returned);
            returned += back;
            const r = lease(state, { need: c.need, want: c.want, min: Math.ceil(c.want / 2), giveBack: back }, limits, now);
            state = r.state;
            if (r.granted > 0) starts.push([now + (r.startsInSeconds ?? 0) * 1000, r.granted]);
          }
          starts.sort((a, b) => a[0] - b[0]);
          let sum = -returned;
          return starts.every(([t, g]) => (sum += g) <= limits.burst + (limits.rate * t) / 1000 + 1e-6);
        },
      ),
    );
  });

  it("never lets more than burst + rate × (b − a) tokens start within any interval [a, b]", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3000 }), need: fc.integer({ min: 1, max: 20 }), want: fc.integer({ min: 1, max: 40 }) }), { maxLength: 120 }),
        (calls) => {
          let state: BucketState = fullBucket(limits, 0);
          let now = 0;
          const starts: [number, number][] = [];
          for (const c of calls) {
            now += c.dt;
            const r = lease(state, { need: c.need, want: c.want, min: Math.ceil(c.want / 2), giveBack: 0 }, limits, now);
            state = r.state;
            if (r.granted > 0) starts.push([now + (r.startsInSeconds ?? 0) * 1000, r.granted]);
          }
          starts.sort((x, y) => x[0] - y[0]);
          for (let i = 0; i < starts.length; i++) {
            let sum = 0;
            for (let j = i; j < starts.length; j++) {
              sum += starts[j]![1];
              if (sum > limits.burst + (limits.rate * (starts[j]![0] - starts[i]![0])) / 1000 + 1e-6) return false;
            }
          }
          return true;
        },
      ),
    );
  });

  it("counts returned tokens before deciding", () => {
    const r = lease({ tokens: 3, updatedAt: 0 }, { need: 1, want: 8, min: 4, giveBack: 5 }, limits, 0);
    expect(r.granted).toBe(8);
  });

  it("caps everything at the burst", () => {
    const r = lease(fullBucket(limits, 0), { need: 50, want: 500, min: 250, giveBack: 0 }, limits, 0);
    expect(r.granted).toBe(20);
  });
});
