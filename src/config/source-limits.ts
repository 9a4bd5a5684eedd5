/**
 * Per-source config for rate limits, dedup and the MTU budget (keys of a source in sluice.yaml).
 *
 * @example
 *   sources:
 *     - id: web
 *       rate_limit: { events_per_second: 500, burst: 1000 }
 *       dedup: { window_hours: 24 }          # or dedup: false
 *       mtu_budget: { monthly: 100000, alert_at: 0.8, destination: hook }
 */
import { s, type Path, type Problem, type Schema } from "./schema.ts";

/** model.ts's ID_PATTERN (not imported: model.ts imports this module). */
const DESTINATION_ID = /^[a-z0-9_-]+$/;

export const RateLimitSchema = s.object({
  events_per_second: s.number({ min: 0.001, max: 1_000_000 }),
  /** Events a quiet source may send at once; default: one second's worth. */
  burst: s.optional(s.number({ integer: true, min: 1, max: 10_000_000 })),
});
export type RateLimitConfig = { events_per_second: number; burst?: number };

const DedupObjectSchema = s.object({
  window_hours: s.withDefault(s.number({ min: 0.01, max: 720 }), 24),
  /**
   * Durable Objects the ids are spread over; changing it forgets the current window. A batch touches every shard,
   * so shards add calls per request; add them only past what one shard sustains (docs/limits.md "Dedup").
   */
  shards: s.withDefault(s.number({ integer: true, min: 1, max: 1024 }), 1),
});
export type DedupConfig = false | { window_hours: number; shards: number };
export const DEFAULT_DEDUP: Exclude<DedupConfig, false> = { window_hours: 24, shards: 1 };

/** `false` (off), `true` (defaults) or `{window_hours, shards}`; problems are reported inside the map. */
export const DedupSchema: Schema<DedupConfig> = {
  describe: "false or a map",
  check(v: unknown, path: Path, problems: Problem[]) {
    if (v === false) return false;
    if (v === true) return { ...DEFAULT_DEDUP };
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      problems.push({ path, message: "expected false or a map {window_hours, shards}" });
      return undefined;
    }
    return DedupObjectSchema.check(v, path, problems);
  },
};

export const MtuBudgetSchema = s.object({
  /** Distinct users (userId, else anonymousId) expected per calendar month (UTC). */
  monthly: s.number({ integer: true, min: 1 }),
  /** Share of `monthly` at which the alert is sent, once per month. */
  alert_at: s.withDefault(s.number({ min: 0.01, max: 10 }), 0.8),
  /** Destination id notified by the budget's `mtu_budget` alert rule (src/config/alerts.ts mtuBudgetAlerts). */
  destination: s.string({ pattern: DESTINATION_ID }),
});
export type MtuBudgetConfig = { monthly: number; alert_at: number; destination: string };

/** A source's dedup settings, defaults applied; undefined when dedup is off. */
export function dedupSettings(dedup: DedupConfig | undefined): { windowMs: number; shards: number } | undefined {
  if (dedup === false) return undefined;
  const d = dedup ?? DEFAULT_DEDUP;
  return { windowMs: Math.round(d.window_hours * 3_600_000), shards: d.shards };
}

/** The bucket of a source's limit: burst defaults to one second of traffic. */
export function bucketLimits(rl: RateLimitConfig): { rate: number; burst: number } {
  return { rate: rl.events_per_second, burst: rl.burst ?? Math.max(1, Math.ceil(rl.events_per_second)) };
}
