/**
 * The life of one alert (a rule, or a rule and an event name): fires once after `fireAfter` consecutive breached
 * periods, reminds at most every `remindMs` while still breached, resolves after `resolveAfter` consecutive clear
 * periods (so a value hovering at the threshold does not flap). A period is counted once however many evaluations
 * see it (hourly rules are evaluated every 5 minutes). Pure.
 */

export interface Observation {
  /** The alert's id: the rule id, or `<rule id>:<event name>` for rules over several events. */
  key: string;
  breach: boolean;
  /** What was judged: an evaluation time for window rules, an hour for hourly ones, a month for the MTU. */
  period: string;
  observed: number;
  expected: number;
  message: string;
  source?: string;
  destination?: string;
  event_name?: string;
  suggestion?: string;
}

export interface AlertState {
  key: string;
  rule: string;
  status: "ok" | "firing";
  /** Consecutive breached (or, while firing, clear) periods so far, the current one included. */
  streak: number;
  /** The streak before the current period (a period judged again, e.g. hourly, recounts from here). */
  base?: number;
  lastPeriod?: string;
  firedAt?: number;
  lastSentAt?: number;
  /** The latest observation (for GET /admin/alerts). */
  last?: Omit<Observation, "key">;
}

export interface Policy {
  fireAfter: number;
  resolveAfter: number;
  remindMs: number;
}

export type Transition = "fired" | "reminded" | "resolved";

/** Applies one observation at time `now` (ms); returns the new state and what to send, if anything. */
export function step(prev: AlertState | undefined, rule: string, obs: Observation, now: number, policy: Policy): { state: AlertState; send?: Transition } {
  const { key: _key, ...last } = obs;
  const state: AlertState = { ...(prev ?? { key: obs.key, rule, status: "ok", streak: 0 }), last };
  if (state.lastPeriod !== obs.period) state.base = state.streak;
  state.lastPeriod = obs.period;
  const base = state.base ?? 0;
  if (state.status === "ok") {
    state.streak = obs.breach ? base + 1 : 0;
    if (obs.breach && state.streak >= policy.fireAfter) {
      return { state: { ...state, status: "firing", streak: 0, base: 0, firedAt: now, lastSentAt: now }, send: "fired" };
    }
    return { state };
  }
  state.streak = obs.breach ? 0 : base + 1;
  if (!obs.breach && state.streak >= policy.resolveAfter) {
    return { state: { ...state, status: "ok", streak: 0, base: 0, lastSentAt: now }, send: "resolved" };
  }
  if (obs.breach && now - (state.lastSentAt ?? 0) >= policy.remindMs) return { state: { ...state, lastSentAt: now }, send: "reminded" };
  return { state };
}
