/**
 * The usage report of a source: its per-day counters (StatsObject, scope `source:<id>`) side by side with its
 * distinct users (SourceObject sketches). Pure: the admin route fetches both and calls this.
 */
import type { MtuBudgetConfig } from "../config/source-limits.ts";

/** A scope's counters on one day, as StatsObject.read returns them. */
export interface DayCounters {
  day: string;
  counters: Record<string, number>;
}

/** What SourceObject.users returns. */
export interface DistinctUsers {
  /** Distinct users per UTC day (YYYY-MM-DD), newest first. */
  days: { day: string; users: number }[];
  /** Distinct users per UTC month (YYYY-MM), newest first: the MTU. */
  months: { month: string; users: number; alertSentAt?: string }[];
}

export interface UsageDay {
  day: string;
  requests: number;
  /** Events accepted for delivery: on the queue (duplicates not included). */
  accepted: number;
  /** Request bytes received (inflated JSON). */
  bytes: number;
  /** Events acknowledged but not delivered again: their messageId was accepted within the dedup window. */
  duplicates: number;
  /** Events rejected, by code (`rate_limited`, `missing_field`, …). */
  rejected: Record<string, number>;
  /** Distinct users (userId, else anonymousId) that day; estimated (HyperLogLog, ±1.6 %). */
  users: number;
}

export interface UsageMonth {
  month: string;
  /** Monthly tracked users: distinct users over the month (estimated). */
  mtu: number;
  budget?: number;
  /** mtu / budget. */
  share?: number;
  alertSentAt?: string;
}

export interface SourceUsage {
  source: string;
  days: UsageDay[];
  months: UsageMonth[];
}

/**
 * @example usageReport("web", [{ day: "2026-05-01", counters: { requests: 2, accepted: 3 } }], { days: [], months: [] }).days[0].accepted // 3
 */
export function usageReport(source: string, counters: readonly DayCounters[], users: DistinctUsers, budget?: MtuBudgetConfig): SourceUsage {
  const byDay = new Map<string, UsageDay>();
  const dayOf = (day: string): UsageDay => {
    let d = byDay.get(day);
    if (!d) byDay.set(day, (d = { day, requests: 0, accepted: 0, bytes: 0, duplicates: 0, rejected: {}, users: 0 }));
    return d;
  };
  for (const { day, counters: c } of counters) {
    const d = dayOf(day);
    d.requests = c.requests ?? 0;
    // `accepted` is counted as events are routed; those whose enqueueing then failed were answered 503.
    d.accepted = (c.accepted ?? 0) - (c.enqueue_failed ?? 0);
    d.bytes = c.bytes ?? 0;
    d.duplicates = c.duplicates ?? 0;
    for (const [name, n] of Object.entries(c)) if (name.startsWith("rejected.")) d.rejected[name.slice("rejected.".length)] = n;
  }
  for (const { day, users: n } of users.days) dayOf(day).users = n;
  const months = users.months.map((m): UsageMonth => ({
    month: m.month,
    mtu: m.users,
    ...(budget ? { budget: budget.monthly, share: Math.round((m.users / budget.monthly) * 1000) / 1000 } : {}),
    ...(m.alertSentAt ? { alertSentAt: m.alertSentAt } : {}),
  }));
  return { source, days: [...byDay.values()].sort((a, b) => (a.day < b.day ? 1 : -1)), months };
}
