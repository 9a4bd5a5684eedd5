/**
 * The alert evaluation's ports from the Worker's bindings: counters from the StatsObjects, distinct users from the
 * SourceObjects, state in the AlertObject, alert events on the delivery queue (so they never pass the router and
 * are never counted as a source's traffic).
 */
import type { BuiltConfig } from "../config/model.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { enqueue, type MessageQueue } from "../queue/messages.ts";
import type { AlertPorts, AlertStore } from "./evaluate.ts";
import { compileAlerts, type CompiledAlert, type HourRow } from "./rules.ts";

/** What the evaluation needs of the Worker's env (structural: the storage classes stay out of this folder). */
export interface AlertBindings {
  STATS: { idFromName(name: string): DurableObjectId; get(id: DurableObjectId): { readHours(since: string): Promise<HourRow[]> } };
  SOURCES: { idFromName(name: string): DurableObjectId; get(id: DurableObjectId): { users(since: string): Promise<{ months: { month: string; users: number }[] }> } };
  ALERTS: { idFromName(name: string): DurableObjectId; get(id: DurableObjectId): AlertStore };
  DELIVERIES: MessageQueue;
}

/** The TRACK keys of the source's tracking plan. */
export function plannedEvents(config: BuiltConfig, sourceId: string): string[] {
  const planId = config.sources.find((s) => s.id === sourceId)?.tracking_plan;
  const rules = planId !== undefined && config.plans && Object.hasOwn(config.plans, planId) ? config.plans[planId]! : [];
  return rules.flatMap((r) => (r.type === "TRACK" && r.key ? [r.key] : []));
}

const compiled = new WeakMap<BuiltConfig, CompiledAlert[]>();
/** The config's rules, compiled once per config object (per isolate). */
export function alertRules(config: BuiltConfig): CompiledAlert[] {
  let rules = compiled.get(config);
  if (!rules) compiled.set(config, (rules = compileAlerts(config.alerts ?? [], { plannedEvents: (s) => plannedEvents(config, s), ...(config.naming ? { naming: config.naming } : {}) })));
  return rules;
}

/** The one AlertObject's name. */
export const ALERT_OBJECT = "alerts";
export const alertStore = (env: Pick<AlertBindings, "ALERTS">): AlertStore => env.ALERTS.get(env.ALERTS.idFromName(ALERT_OBJECT));

export function alertPorts(config: BuiltConfig, env: AlertBindings, now: () => number = Date.now): AlertPorts {
  return {
    rules: alertRules(config),
    now,
    hours: (scope, since) => env.STATS.get(env.STATS.idFromName(scope)).readHours(since),
    monthUsers: async (source, month) => (await env.SOURCES.get(env.SOURCES.idFromName(source)).users(`${month}-01`)).months.find((m) => m.month === month)?.users ?? 0,
    store: alertStore(env),
    send: (dest: string, source: string, event: SluiceEvent) => enqueue(env.DELIVERIES, { dest, source, t0: now(), tries: 0 }, [event]),
  };
}
