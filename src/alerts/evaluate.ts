/**
 * One evaluation of every alert rule (the 5-minute Cron Trigger), as a plain function of ports: reads the
 * counters each rule needs (one read per scope), cuts windows from the evaluations' own samples, judges, runs each
 * alert's state machine and sends `Alert Fired` / `Alert Resolved` track events to the rule's `notify`
 * destinations. The state it needs and leaves lives in the AlertObject (src/storage/alert-object.ts).
 */
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { hourOf } from "./anomaly.ts";
import type { CompiledAlert, Counts, HourRow } from "./rules.ts";
import { step, type AlertState, type Observation, type Transition } from "./state.ts";

/** A destination scope's counters of the current hour as an evaluation saw them (to cut windows finer than hours). */
export interface Sample {
  scope: string;
  at: number;
  hour: string;
  counters: Counts;
}

export interface HistoryEntry {
  at: number;
  key: string;
  rule: string;
  transition: Transition;
  message: string;
  observed: number;
  expected: number;
}

export interface AlertStore {
  load(): Promise<{ states: AlertState[]; samples: Sample[] }>;
  /** Saves the states that changed, the new samples (and drops those older than `keepSamplesSince`), history. */
  save(update: { states: AlertState[]; samples: Sample[]; keepSamplesSince: number; history: HistoryEntry[] }): Promise<void>;
}

export interface AlertPorts {
  rules: readonly CompiledAlert[];
  now(): number;
  /** StatsObject.readHours of a scope. */
  hours(scope: string, sinceHour: string): Promise<HourRow[]>;
  /** Distinct users of a source this month (SourceObject). */
  monthUsers(source: string, month: string): Promise<number>;
  store: AlertStore;
  /** Puts an alert event on the delivery queue for one destination. */
  send(destination: string, source: string, event: SluiceEvent): Promise<void>;
}

/** Counters kept in samples: those window rules read. */
const SAMPLED = (k: string) => k === "delivered" || k === "retried" || k === "dead_lettered" || k.startsWith("failed.");

function pick(c: Counts): Counts {
  const out: Counts = {};
  for (const [k, v] of Object.entries(c)) if (SAMPLED(k)) out[k] = v;
  return out;
}

/**
 * Counts within the last `minutes` before `now`: the rows since the hour of the newest sample taken at or before
 * the window's start, minus that sample; with no sample that old, the oldest sample (the window then starts at the
 * first evaluation); with no sample at all, the whole hours the window touches.
 */
export function windowCounts(rows: readonly HourRow[], samples: readonly Sample[], now: number, minutes: number): Counts {
  const start = now - minutes * 60_000;
  let base: Sample | undefined;
  for (const s of samples) if (s.at <= start && (!base || s.at > base.at)) base = s;
  if (!base) for (const s of samples) if (!base || s.at < base.at) base = s;
  const fromHour = base ? base.hour : hourOf(start);
  const out: Counts = {};
  for (const r of rows) if (r.hour >= fromHour) for (const [k, v] of Object.entries(r.counters)) if (SAMPLED(k)) out[k] = (out[k] ?? 0) + v;
  if (base) for (const [k, v] of Object.entries(base.counters)) out[k] = (out[k] ?? 0) - v;
  return out;
}

const ruleThreshold = (a: CompiledAlert): number => {
  const r = a.rule;
  switch (r.when) {
    case "event_volume_drop":
      return r.fraction;
    case "event_volume_spike":
      return r.factor;
    case "new_unplanned_event":
      return 0;
    case "mtu_budget":
      return r.alert_at;
    default:
      return r.threshold;
  }
};

/** The Segment track event of a transition (properties as docs/alerts.md lists them). */
export function alertEvent(alert: CompiledAlert, obs: Observation, state: AlertState, transition: Transition, now: number): SluiceEvent {
  const at = new Date(now).toISOString();
  const firedAt = new Date(state.firedAt ?? now).toISOString();
  const properties: Record<string, unknown> = {
    alert_id: obs.key,
    kind: alert.kind,
    message: transition === "reminded" ? `still firing since ${firedAt}: ${obs.message}` : obs.message,
    observed: obs.observed,
    expected: obs.expected,
    threshold: ruleThreshold(alert),
    window_minutes: alert.windowMinutes ?? alert.periodMinutes ?? 60,
    ...(obs.source !== undefined ? { source: obs.source } : {}),
    ...(obs.destination !== undefined ? { destination: obs.destination } : {}),
    ...(obs.event_name !== undefined ? { event_name: obs.event_name } : {}),
    ...(obs.suggestion !== undefined ? { suggestion: obs.suggestion } : {}),
    fired_at: firedAt,
    ...(alert.consoleUrl ? { console_url: alert.consoleUrl } : {}),
  };
  return {
    type: "track",
    event: transition === "resolved" ? "Alert Resolved" : "Alert Fired",
    userId: "sluice:alerts",
    // One per alert and transition: a receiver dedupes redeliveries by messageId.
    messageId: `alert-${obs.key}-${transition}-${now}`,
    receivedAt: at,
    timestamp: at,
    properties,
    context: { library: { name: "sluice" } },
  };
}

export interface EvaluationResult {
  observations: number;
  sent: { key: string; transition: Transition; destinations: string[] }[];
  failed: { key: string; error: string }[];
}

/** Runs every rule once. An alert whose event could not be queued keeps its previous state (tried again next time). */
export async function evaluateAlerts(ports: AlertPorts): Promise<EvaluationResult> {
  // No rules: not even the AlertObject is called.
  if (ports.rules.length === 0) return { observations: 0, sent: [], failed: [] };
  const now = ports.now();
  const { states, samples } = await ports.store.load();
  const stateOf = new Map(states.map((s) => [s.key, s]));

  // One read per scope, as far back as its rules need.
  const lookback = new Map<string, number>();
  for (const a of ports.rules) if (a.lookbackHours > 0) lookback.set(a.scope, Math.max(lookback.get(a.scope) ?? 0, a.lookbackHours));
  const rows = new Map(await Promise.all([...lookback].map(async ([scope, h]) => [scope, await ports.hours(scope, hourOf(now - h * 3_600_000))] as const)));
  const month = new Date(now).toISOString().slice(0, 7);
  const users = new Map(await Promise.all([...new Set(ports.rules.flatMap((a) => (a.mtuSource ? [a.mtuSource] : [])))].map(async (s) => [s, await ports.monthUsers(s, month)] as const)));

  const result: EvaluationResult = { observations: 0, sent: [], failed: [] };
  const changed: AlertState[] = [];
  const history: HistoryEntry[] = [];
  const newSamples = new Map<string, Sample>();
  let keepSince = now;
  for (const alert of ports.rules) {
    const hours = rows.get(alert.scope) ?? [];
    let window: Counts | undefined;
    if (alert.windowMinutes !== undefined) {
      window = windowCounts(hours, samples.filter((s) => s.scope === alert.scope), now, alert.windowMinutes);
      keepSince = Math.min(keepSince, now - alert.windowMinutes * 60_000);
      const current = hours.find((r) => r.hour === hourOf(now));
      newSamples.set(alert.scope, { scope: alert.scope, at: now, hour: hourOf(now), counters: pick(current?.counters ?? {}) });
    }
    const known = states.filter((s) => s.rule === alert.id).map((s) => s.key);
    const mtu = alert.mtuSource !== undefined ? users.get(alert.mtuSource) : undefined;
    const observations = alert.judge({ now, hours, known, ...(window ? { window } : {}), ...(mtu !== undefined ? { monthUsers: mtu } : {}) });
    result.observations += observations.length;
    for (const obs of observations) {
      const { state, send } = step(stateOf.get(obs.key), alert.id, obs, now, alert.policy);
      if (send) {
        const event = alertEvent(alert, obs, state, send, now);
        const source = obs.source ?? "sluice";
        try {
          await Promise.all(alert.notify.map((d) => ports.send(d, source, event)));
        } catch (err) {
          result.failed.push({ key: obs.key, error: String(err) });
          continue;
        }
        result.sent.push({ key: obs.key, transition: send, destinations: [...alert.notify] });
        history.push({ at: now, key: obs.key, rule: alert.id, transition: send, message: obs.message, observed: obs.observed, expected: obs.expected });
      }
      stateOf.set(obs.key, state);
      changed.push(state);
    }
  }
  // The newest sample older than every window is kept: it is the base of the longest window.
  const oldEnough = samples.filter((s) => s.at <= keepSince).reduce((m, s) => Math.max(m, s.at), Number.NEGATIVE_INFINITY);
  await ports.store.save({ states: changed, samples: [...newSamples.values()], keepSamplesSince: Math.min(keepSince, oldEnough), history });
  return result;
}
