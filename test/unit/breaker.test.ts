import { describe, expect, it } from "vitest";
import { admit, Breakers, CLOSED, record, type BreakerPolicy, type BreakerState } from "../../src/delivery/breaker.ts";

const policy: BreakerPolicy = { failuresToOpen: 3, cooldownMs: 1000, maxCooldownMs: 4000 };

describe("circuit breaker states", () => {
  it("stays closed while failures stay under the threshold, and a success resets the count", () => {
    let s: BreakerState = CLOSED;
    s = record(s, false, 0, policy);
    s = record(s, false, 0, policy);
    expect(s).toEqual({ kind: "closed", failures: 2 });
    expect(record(s, true, 0, policy)).toEqual(CLOSED);
  });

  it("opens after the threshold and refuses calls until the cooldown ends", () => {
    let s: BreakerState = CLOSED;
    for (let i = 0; i < 3; i++) s = record(s, false, 100, policy);
    expect(s).toEqual({ kind: "open", until: 1100, cooldownMs: 1000 });
    expect(admit(s, 600, policy)).toEqual({ allowed: false, waitMs: 500, state: s });
  });

  it("lets one probe through after the cooldown (half-open) and refuses others meanwhile", () => {
    const open: BreakerState = { kind: "open", until: 1000, cooldownMs: 1000 };
    const probe = admit(open, 1000, policy);
    expect(probe).toEqual({ allowed: true, state: { kind: "half-open", cooldownMs: 1000, probeStartedAt: 1000 } });
    expect(admit(probe.state, 1500, policy).allowed).toBe(false);
    // A probe that never reported back is given up after a cooldown.
    expect(admit(probe.state, 2000, policy).allowed).toBe(true);
  });

  it("closes when the probe succeeds", () => {
    expect(record({ kind: "half-open", cooldownMs: 1000, probeStartedAt: 0 }, true, 10, policy)).toEqual(CLOSED);
  });

  it("reopens with a doubled cooldown, capped, when the probe fails", () => {
    expect(record({ kind: "half-open", cooldownMs: 1000, probeStartedAt: 0 }, false, 10, policy)).toEqual({ kind: "open", until: 2010, cooldownMs: 2000 });
    expect(record({ kind: "half-open", cooldownMs: 4000, probeStartedAt: 0 }, false, 10, policy)).toEqual({ kind: "open", until: 4010, cooldownMs: 4000 });
  });

  it("keeps one breaker per destination", () => {
    const b = new Breakers();
    for (let i = 0; i < 3; i++) b.record("down", false, 0, policy);
    expect(b.admit("down", 10, policy).allowed).toBe(false);
    expect(b.admit("up", 10, policy).allowed).toBe(true);
  });
});
