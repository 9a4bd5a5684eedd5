/**
 * Circuit breaker per destination, as a pure state machine of `now`. A destination that keeps failing is
 * "open": its messages wait (delayed retry) instead of hammering it; after a cooldown one probe is let through
 * ("half-open"); success closes the circuit, failure reopens it with a longer cooldown.
 * Held in memory per isolate: a fresh isolate starts closed, which is itself a probe.
 */
export interface BreakerPolicy {
  /** Consecutive failed calls that open the circuit. */
  failuresToOpen: number;
  /** First cooldown; doubles on every failed probe up to maxCooldownMs. */
  cooldownMs: number;
  maxCooldownMs: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = { failuresToOpen: 10, cooldownMs: 15_000, maxCooldownMs: 600_000 };

export type BreakerState =
  | { kind: "closed"; failures: number }
  | { kind: "open"; until: number; cooldownMs: number }
  | { kind: "half-open"; cooldownMs: number; probeStartedAt: number };

export const CLOSED: BreakerState = { kind: "closed", failures: 0 };

/**
 * May a call go to the destination now? When open, says how long to wait. Half-open admits one probe at a time
 * (a probe that never reports back is given up after a cooldown).
 * @example admit(CLOSED, Date.now(), policy) // { allowed: true, state: CLOSED }
 */
export function admit(state: BreakerState, now: number, policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): { allowed: true; state: BreakerState } | { allowed: false; waitMs: number; state: BreakerState } {
  switch (state.kind) {
    case "closed":
      return { allowed: true, state };
    case "open":
      if (now < state.until) return { allowed: false, waitMs: state.until - now, state };
      return { allowed: true, state: { kind: "half-open", cooldownMs: state.cooldownMs, probeStartedAt: now } };
    case "half-open":
      if (now - state.probeStartedAt < state.cooldownMs) return { allowed: false, waitMs: state.cooldownMs, state };
      return { allowed: true, state: { ...state, probeStartedAt: now } };
  }
}

/**
 * Records the outcome of a call that `admit` allowed. Only destination-side failures count (retryable errors:
 * timeouts, 5xx, 429); a permanent 4xx means the destination is up.
 */
export function record(state: BreakerState, ok: boolean, now: number, policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): BreakerState {
  if (ok) return CLOSED;
  switch (state.kind) {
    case "closed": {
      const failures = state.failures + 1;
      return failures >= policy.failuresToOpen ? { kind: "open", until: now + policy.cooldownMs, cooldownMs: policy.cooldownMs } : { kind: "closed", failures };
    }
    case "half-open": {
      const cooldownMs = Math.min(state.cooldownMs * 2, policy.maxCooldownMs);
      return { kind: "open", until: now + cooldownMs, cooldownMs };
    }
    case "open":
      return state;
  }
}

/** The breakers of one isolate, by destination id (each destination brings its own policy). */
export class Breakers {
  private readonly states = new Map<string, BreakerState>();

  state(id: string): BreakerState {
    return this.states.get(id) ?? CLOSED;
  }

  admit(id: string, now: number, policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): { allowed: true } | { allowed: false; waitMs: number } {
    const verdict = admit(this.state(id), now, policy);
    this.states.set(id, verdict.state);
    return verdict.allowed ? { allowed: true } : { allowed: false, waitMs: verdict.waitMs };
  }

  record(id: string, ok: boolean, now: number, policy: BreakerPolicy = DEFAULT_BREAKER_POLICY): void {
    this.states.set(id, record(this.state(id), ok, now, policy));
  }
}
