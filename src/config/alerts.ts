/**
 * `alerts:` and `naming:` in sluice.yaml (docs/alerts.md). Rules are checked here (shape) and in checkAlerts
 * (references to sources and destinations); src/alerts/rules.ts compiles them.
 *
 * @example
 *   alerts:
 *     - id: hook-delivery
 *       when: delivery_rate_below
 *       destination: hook
 *       threshold: 0.95
 *       notify: [ops-slack]
 *   naming: { events: Object Action, properties: snake_case }
 */
import { CONVENTIONS, follows, inConvention } from "../plans/naming.ts";
import type { PlanRule } from "../plans/types.ts";
import { s, type Infer, type Path } from "./schema.ts";

/** model.ts's ID_PATTERN (not imported: model.ts imports this module). */
const ID = /^[a-z0-9_-]+$/;

const common = {
  id: s.string({ pattern: ID }),
  /** Destination ids that receive `Alert Fired` / `Alert Resolved` track events. */
  notify: s.array(s.string({ pattern: ID }), { minItems: 1 }),
  /** While firing, the alert is sent again at most this often. */
  remind_hours: s.withDefault(s.number({ min: 0.25, max: 720 }), 4),
  /** Clear periods in a row before it resolves (no flapping around the threshold). */
  resolve_after: s.withDefault(s.number({ integer: true, min: 1, max: 100 }), 2),
  /** A link sent along with the alert (e.g. a dashboard). */
  console_url: s.optional(s.string({ pattern: /^https?:\/\// })),
};

/** Breached evaluations in a row before a window rule fires. */
const consecutive = s.withDefault(s.number({ integer: true, min: 1, max: 100 }), 1);
/** The rule's window; counters are kept per hour, so a window is cut from the evaluations' own samples. */
const windowMinutes = (fallback: number) => s.withDefault(s.number({ integer: true, min: 5, max: 7 * 24 * 60 }), fallback);
const destination = s.string({ pattern: ID });
const source = s.string({ pattern: ID });
/** Events to watch; absent: every event seen on average at least `min_daily` times a day over the last week. */
const events = s.optional(s.array(s.string({ minLength: 1 }), { minItems: 1 }));
/** Volume rules judge hours, or UTC days (for events too rare to judge per hour). */
const period = s.withDefault(s.literal("hour", "day"), "hour");
/** Consecutive complete periods past the bound before it fires. */
const periods = s.withDefault(s.number({ integer: true, min: 1, max: 48 }), 2);
const minBaseline = s.withDefault(s.number({ min: 1 }), 20);
const minDaily = s.withDefault(s.number({ min: 1 }), 100);

const variants = {
  delivery_rate_below: s.object({
    ...common,
    when: s.literal("delivery_rate_below"),
    destination,
    /** delivered / attempted (delivered + failed attempts) over the window. */
    threshold: s.number({ min: 0, max: 1 }),
    window_minutes: windowMinutes(60),
    consecutive,
    /** Fewer attempts in the window than this: not judged. */
    min_attempts: s.withDefault(s.number({ integer: true, min: 1 }), 10),
  }),
  retries_above: s.object({ ...common, when: s.literal("retries_above"), destination, threshold: s.number({ integer: true, min: 0 }), window_minutes: windowMinutes(60), consecutive }),
  dead_letters_above: s.object({ ...common, when: s.literal("dead_letters_above"), destination, threshold: s.withDefault(s.number({ integer: true, min: 0 }), 0), window_minutes: windowMinutes(60), consecutive }),
  event_volume_drop: s.object({
    ...common,
    when: s.literal("event_volume_drop"),
    source,
    events,
    /** Fires when the hour's count is below fraction × baseline. */
    fraction: s.withDefault(s.number({ min: 0, max: 1 }), 0.2),
    period,
    periods,
    min_baseline: minBaseline,
    min_daily: minDaily,
  }),
  event_volume_spike: s.object({
    ...common,
    when: s.literal("event_volume_spike"),
    source,
    events,
    /** Fires when the hour's count is above factor × baseline. */
    factor: s.withDefault(s.number({ min: 1 }), 5),
    period,
    periods,
    min_baseline: minBaseline,
    min_daily: minDaily,
  }),
  new_unplanned_event: s.object({
    ...common,
    when: s.literal("new_unplanned_event"),
    source,
    window_minutes: windowMinutes(60),
    /** A name seen in this many days before the window is not new. */
    lookback_days: s.withDefault(s.number({ integer: true, min: 1, max: 60 }), 7),
  }),
  mtu_budget: s.object({
    ...common,
    when: s.literal("mtu_budget"),
    source,
    /** Distinct users (userId, else anonymousId) expected per calendar month (UTC). */
    monthly: s.number({ integer: true, min: 1 }),
    alert_at: s.withDefault(s.number({ min: 0.01, max: 10 }), 0.8),
  }),
};

export const AlertSchema = s.tagged("when", variants);
export type AlertRule = Infer<typeof AlertSchema>;
export type AlertKind = AlertRule["when"];

export const NamingSchema = s.object({
  events: s.optional(s.literal(...CONVENTIONS)),
  properties: s.optional(s.literal(...CONVENTIONS)),
});
export type NamingConfig = Infer<typeof NamingSchema>;

/** Reference problems of the alert rules: duplicate ids, unknown sources and destinations. */
export function alertReferenceProblems(alerts: readonly (AlertRule | undefined)[], sources: ReadonlySet<string>, destinations: ReadonlySet<string>): { path: Path; message: string }[] {
  const out: { path: Path; message: string }[] = [];
  const ids = new Set<string>();
  alerts.forEach((rule, i) => {
    if (!rule) return;
    if (ids.has(rule.id)) out.push({ path: ["alerts", i, "id"], message: `duplicate alert id "${rule.id}"` });
    ids.add(rule.id);
    rule.notify.forEach((d, k) => {
      if (!destinations.has(d)) out.push({ path: ["alerts", i, "notify", k], message: `unknown destination "${d}"` });
    });
    if ("destination" in rule && !destinations.has(rule.destination)) out.push({ path: ["alerts", i, "destination"], message: `unknown destination "${rule.destination}"` });
    if ("source" in rule && !sources.has(rule.source)) out.push({ path: ["alerts", i, "source"], message: `unknown source "${rule.source}"` });
  });
  return out;
}

/** Names a tracking plan declares: TRACK event names, and the top-level property names of their `properties`. */
function planNames(rules: readonly PlanRule[]): { events: string[]; properties: string[] } {
  const events: string[] = [];
  const properties = new Set<string>();
  for (const r of rules) {
    if (r.type !== "TRACK" || !r.key) continue;
    events.push(r.key);
    const props = (r.jsonSchema as { properties?: { properties?: { properties?: Record<string, unknown> } } }).properties?.properties?.properties;
    for (const k of Object.keys(props ?? {})) properties.add(k);
  }
  return { events, properties: [...properties] };
}

/** Planned names that break the `naming:` conventions, reported at the convention's key. */
export function namingProblems(naming: NamingConfig | undefined, plans: Readonly<Record<string, readonly PlanRule[]>>): { path: Path; message: string }[] {
  const out: { path: Path; message: string }[] = [];
  for (const [plan, rules] of Object.entries(plans)) {
    const names = planNames(rules);
    for (const what of ["events", "properties"] as const) {
      const convention = naming?.[what];
      if (!convention) continue;
      for (const n of names[what])
        if (!follows(n, convention)) out.push({ path: ["naming", what], message: `plan "${plan}": ${what === "events" ? "event" : "property"} ${JSON.stringify(n)} is not ${convention} (did you mean ${JSON.stringify(inConvention(n, convention))}?)` });
    }
  }
  return out;
}

/** The id of the alert a source's `mtu_budget` with a destination becomes. */
export const mtuBudgetAlertId = (source: string): string => `mtu-budget-${source}`;

/**
 * A source's `mtu_budget: {monthly, alert_at, destination}` is an `mtu_budget` alert rule notifying that destination
 * (id `mtu-budget-<source>`), unless `alerts:` already has an `mtu_budget` rule for the source.
 */
export function mtuBudgetAlerts(sources: readonly { id: string; mtu_budget?: { monthly: number; alert_at: number; destination: string } }[], alerts: readonly AlertRule[]): AlertRule[] {
  const covered = new Set(alerts.flatMap((a) => (a.when === "mtu_budget" ? [a.source] : [])));
  return sources.flatMap((s) =>
    s.mtu_budget && !covered.has(s.id)
      ? [{ id: mtuBudgetAlertId(s.id), when: "mtu_budget" as const, source: s.id, monthly: s.mtu_budget.monthly, alert_at: s.mtu_budget.alert_at, notify: [s.mtu_budget.destination], remind_hours: 4, resolve_after: 1 }]
      : [],
  );
}
