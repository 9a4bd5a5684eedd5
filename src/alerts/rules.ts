/**
 * Alert rules compiled once into closures: each says which counters it reads (a StatsObject scope, how far back)
 * and judges them into observations (./state.ts runs their life). Pure.
 */
import type { AlertRule, NamingConfig } from "../config/alerts.ts";
import { checkName, nameSuggester } from "../plans/naming.ts";
import { DAY_MS, HOUR_MS, hourOf, hourStart, judgeVolume, type HourSeries } from "./anomaly.ts";
import type { Observation, Policy } from "./state.ts";
import { EVENT_PREFIX, OTHER_EVENT } from "./event-names.ts";

export type Counts = Record<string, number>;
/** A scope's counters per UTC hour, as StatsObject.readHours returns them (newest first). */
export interface HourRow {
  hour: string;
  counters: Counts;
}

/** The per-event-name counters' overflow, without EVENT_PREFIX. */
const OTHER_EVENTS = OTHER_EVENT.slice(EVENT_PREFIX.length);

export interface JudgeInput {
  now: number;
  /** The rule's scope, newest hour first, from `now - lookbackHours` on. */
  hours: readonly HourRow[];
  /** Window rules: the counts within the window (./window.ts). */
  window?: Counts;
  /** mtu_budget: distinct users this month so far. */
  monthUsers?: number;
  /** Keys of this rule's alerts that have state (to clear those no longer observed as breached). */
  known: readonly string[];
}

export interface CompiledAlert {
  id: string;
  kind: AlertRule["when"];
  notify: readonly string[];
  policy: Policy;
  consoleUrl?: string;
  /** StatsObject scope read (`source:<id>`, `destination:<id>`). */
  scope: string;
  lookbackHours: number;
  /** Minutes of the window to cut from evaluation samples; absent for hourly rules. */
  windowMinutes?: number;
  /** The period an hourly or daily rule judges, in minutes (alert events' window_minutes). */
  periodMinutes?: number;
  /** mtu_budget: the source whose distinct users are read. */
  mtuSource?: string;
  judge(input: JudgeInput): Observation[];
  /** The rule as configured (GET /admin/alerts). */
  rule: AlertRule;
}

/** What compiling needs besides the rules: planned event names per source (its tracking plan's TRACK keys). */
export interface AlertContext {
  plannedEvents(source: string): readonly string[];
  naming?: NamingConfig;
}

const pct = (x: number) => `${(Math.round(x * 1000) / 10).toString()}%`;
const sum = (c: Counts | undefined, match: (name: string) => boolean) => Object.entries(c ?? {}).reduce((n, [k, v]) => (match(k) ? n + v : n), 0);

/** Event names with their counts over rows, most frequent first. */
export function eventCounts(rows: readonly HourRow[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows)
    for (const [k, v] of Object.entries(r.counters)) if (k.startsWith(EVENT_PREFIX)) out.set(k.slice(EVENT_PREFIX.length), (out.get(k.slice(EVENT_PREFIX.length)) ?? 0) + v);
  return new Map([...out].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
}

/** One event's series from the scope's hourly rows (newest first): per hour, or per UTC day (summed hours). */
function seriesOf(rows: readonly HourRow[], name: string, daily: boolean): HourSeries {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const key = daily ? r.hour.slice(0, 10) : r.hour;
    counts.set(key, (counts.get(key) ?? 0) + (r.counters[EVENT_PREFIX + name] ?? 0));
  }
  const oldest = rows[rows.length - 1];
  if (!oldest) return { counts, since: Number.POSITIVE_INFINITY, daily };
  const first = hourStart(oldest.hour);
  // A day is known only from its first hour on: the oldest day counts only if it starts there.
  return { counts, since: daily && !oldest.hour.endsWith("T00") ? Math.ceil(first / DAY_MS) * DAY_MS : first, daily };
}

export function compileAlert(rule: AlertRule, ctx: AlertContext): CompiledAlert {
  const base = {
    id: rule.id,
    kind: rule.when,
    notify: rule.notify,
    rule,
    ...(rule.console_url ? { consoleUrl: rule.console_url } : {}),
    policy: { fireAfter: 1, resolveAfter: rule.resolve_after, remindMs: rule.remind_hours * HOUR_MS },
  };
  switch (rule.when) {
    case "delivery_rate_below":
    case "retries_above":
    case "dead_letters_above": {
      const dest = rule.destination;
      const window = rule.window_minutes;
      const measure =
        rule.when === "delivery_rate_below"
          ? (w: Counts) => {
              const delivered = w.delivered ?? 0;
              // A filter that threw (failed.filter_error) made no delivery attempt.
              const attempted = delivered + sum(w, (k) => k.startsWith("failed.") && k !== "failed.filter_error");
              if (attempted < rule.min_attempts) return undefined;
              const rate = delivered / attempted;
              return { value: rate, breach: rate < rule.threshold, message: `delivery rate to "${dest}" is ${pct(rate)} over the last ${window} min (${delivered} of ${attempted} attempted; threshold ${pct(rule.threshold)})` };
            }
          : rule.when === "retries_above"
            ? (w: Counts) => {
                const n = w.retried ?? 0;
                return { value: n, breach: n > rule.threshold, message: `${n} events to "${dest}" were retried in the last ${window} min (threshold ${rule.threshold})` };
              }
            : (w: Counts) => {
                const n = w.dead_lettered ?? 0;
                return { value: n, breach: n > rule.threshold, message: `${n} events to "${dest}" were dead-lettered in the last ${window} min (threshold ${rule.threshold})` };
              };
      return {
        ...base,
        policy: { ...base.policy, fireAfter: rule.consecutive },
        scope: `destination:${dest}`,
        lookbackHours: Math.ceil(window / 60) + 1,
        windowMinutes: window,
        judge({ now, window: w }) {
          const m = measure(w ?? {});
          if (!m) return [];
          return [{ key: rule.id, breach: m.breach, period: new Date(now).toISOString(), observed: m.value, expected: rule.threshold, message: m.message, destination: dest }];
        },
      };
    }
    case "event_volume_drop":
    case "event_volume_spike": {
      const drop = rule.when === "event_volume_drop";
      const test = { direction: drop ? ("drop" as const) : ("spike" as const), ratio: drop ? rule.fraction : rule.factor, periods: rule.periods, minBaseline: rule.min_baseline };
      const source = rule.source;
      const daily = rule.period === "day";
      const unit = daily ? "day" : "hour";
      return {
        ...base,
        scope: `source:${source}`,
        lookbackHours: daily ? (28 + rule.periods + 1) * 24 : 4 * 168 + rule.periods + 1,
        periodMinutes: daily ? 1440 : 60,
        judge({ now, hours }) {
          const lastWeek = hours.filter((r) => hourStart(r.hour) >= now - 7 * 24 * HOUR_MS);
          const names = rule.events ?? [...eventCounts(lastWeek)].filter(([n, c]) => n !== OTHER_EVENTS && c >= 7 * rule.min_daily).map(([n]) => n);
          const out: Observation[] = [];
          for (const name of names) {
            const v = judgeVolume(seriesOf(hours, name, daily), now, test);
            if (!v) continue;
            const bound = drop ? `below ${pct(rule.fraction)}` : `above ${rule.factor}×`;
            out.push({
              key: `${rule.id}:${name}`,
              breach: v.breach,
              period: v.period,
              observed: v.observed,
              expected: v.expected,
              message: `"${name}" from source "${source}": ${v.observed} in the ${unit} ${daily ? v.period : `${v.period}:00Z`}, baseline ${v.expected} (${bound} for ${rule.periods} ${unit}(s) in a row fires)`,
              source,
              event_name: name,
            });
          }
          return out;
        },
      };
    }
    case "new_unplanned_event": {
      const source = rule.source;
      const planned = new Set(ctx.plannedEvents(source));
      const convention = ctx.naming?.events;
      return {
        ...base,
        scope: `source:${source}`,
        lookbackHours: rule.lookback_days * 24 + Math.ceil(rule.window_minutes / 60) + 1,
        judge({ now, hours, known }) {
          const windowStart = hourOf(now - rule.window_minutes * 60_000);
          // Without counters from before the window (a new deploy, a new source) every name would look new.
          if (!hours.some((r) => r.hour < windowStart)) return [];
          const recent = eventCounts(hours.filter((r) => r.hour >= windowStart));
          const before = eventCounts(hours.filter((r) => r.hour < windowStart));
          const suggest = nameSuggester(planned, before.keys());
          const out: Observation[] = [];
          const seen = new Set<string>();
          for (const [name, n] of recent) {
            if (name === OTHER_EVENTS || planned.has(name) || before.has(name)) continue;
            const key = `${rule.id}:${name}`;
            seen.add(key);
            const check = checkName(name, suggest, convention);
            const hint = check.suggestion ? ` (did you mean "${check.suggestion}"?)` : "";
            const off = check.convention_ok === false ? ` It does not follow the ${convention} convention.` : "";
            out.push({
              key,
              breach: true,
              period: hourOf(now),
              observed: n,
              expected: 0,
              message: `new event "${name}" from source "${source}"${planned.size > 0 ? ", not in its tracking plan" : ""}${hint}.${off}`,
              source,
              event_name: name,
              ...(check.suggestion ? { suggestion: check.suggestion } : {}),
            });
          }
          // Alerts of names no longer new (seen before the window by now) clear.
          for (const key of known)
            if (!seen.has(key)) {
              const name = key.slice(rule.id.length + 1);
              out.push({ key, breach: false, period: hourOf(now), observed: recent.get(name) ?? 0, expected: 0, message: `"${name}" from source "${source}" is no longer new`, source, event_name: name });
            }
          return out;
        },
      };
    }
    case "mtu_budget": {
      const source = rule.source;
      const limit = rule.alert_at * rule.monthly;
      return {
        ...base,
        // As the budget alert always was: once a month (no reminders); it resolves when the month turns.
        policy: { ...base.policy, resolveAfter: 1, remindMs: Number.POSITIVE_INFINITY },
        scope: `source:${source}`,
        lookbackHours: 0,
        mtuSource: source,
        judge({ now, monthUsers }) {
          if (monthUsers === undefined) return [];
          const users = Math.round(monthUsers);
          const month = new Date(now).toISOString().slice(0, 7);
          return [
            {
              key: rule.id,
              breach: users >= limit,
              period: month,
              observed: users,
              expected: rule.monthly,
              message: `source "${source}" has ${users} distinct users in ${month}, ${pct(users / rule.monthly)} of its monthly budget ${rule.monthly} (alert at ${pct(rule.alert_at)})`,
              source,
            },
          ];
        },
      };
    }
  }
}

/** Compiles every rule of the config (once per isolate). */
export function compileAlerts(rules: readonly AlertRule[], ctx: AlertContext): CompiledAlert[] {
  return rules.map((r) => compileAlert(r, ctx));
}
