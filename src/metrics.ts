/**
 * Delivery metrics from the counters: latency histogram buckets, percentiles, and the OpenMetrics text form.
 */

/** Upper bounds (ms) of the latency histogram, from acceptance to delivery. */
export const LATENCY_BOUNDS_MS = [50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 14_400_000] as const;

/**
 * The counter suffix for a latency: `le_<bound>` or `le_inf`.
 * @example latencyBucket(730) // "le_1000"
 */
export function latencyBucket(ms: number): string {
  for (const bound of LATENCY_BOUNDS_MS) if (ms <= bound) return `le_${bound}`;
  return "le_inf";
}

/**
 * Percentile from histogram counters (`latency_ms.le_<bound>` → count), as the upper bound of the bucket that
 * holds it (so p95 = 1000 means "95% within 1 s"). Undefined without data.
 * @example latencyPercentile({ "latency_ms.le_100": 9, "latency_ms.le_1000": 1 }, 0.95) // 1000
 */
export function latencyPercentile(counters: Record<string, number>, q: number): number | undefined {
  const buckets = [...LATENCY_BOUNDS_MS.map((b) => [b, counters[`latency_ms.le_${b}`] ?? 0] as const), [Number.POSITIVE_INFINITY, counters["latency_ms.le_inf"] ?? 0] as const];
  const total = buckets.reduce((a, [, n]) => a + n, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (const [bound, n] of buckets) {
    seen += n;
    if (seen >= q * total) return bound;
  }
  return Number.POSITIVE_INFINITY;
}

export interface DestinationMetrics {
  routed: number;
  delivered: number;
  /** Not sent by choice: filters, sampling, the integrations object. */
  filtered: Record<string, number>;
  retried: number;
  failed: Record<string, number>;
  dead_lettered: number;
  latency_ms: { p50?: number; p95?: number };
}

/** Sums day counters and shapes them per destination. */
export function destinationMetrics(days: { counters: Record<string, number> }[]): DestinationMetrics {
  const c: Record<string, number> = {};
  for (const d of days) for (const [k, v] of Object.entries(d.counters)) c[k] = (c[k] ?? 0) + v;
  const pick = (prefix: string) => Object.fromEntries(Object.entries(c).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  return {
    routed: c.routed ?? 0,
    delivered: c.delivered ?? 0,
    filtered: pick("dropped."),
    retried: c.retried ?? 0,
    failed: pick("failed."),
    dead_lettered: c.dead_lettered ?? 0,
    latency_ms: { p50: latencyPercentile(c, 0.5), p95: latencyPercentile(c, 0.95) },
  };
}

function label(v: string): string {
  return `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * OpenMetrics text for per-scope counters (summed over the days given).
 * @example openMetrics({ "destination:hook": [{ counters: { delivered: 3 } }] })
 */
export function openMetrics(scopes: Record<string, { counters: Record<string, number> }[]>): string {
  const events: string[] = [];
  const latency: string[] = [];
  for (const [scope, days] of Object.entries(scopes)) {
    const [kind, id = ""] = scope.split(":", 2) as [string, string?];
    const c: Record<string, number> = {};
    for (const d of days) for (const [k, v] of Object.entries(d.counters)) c[k] = (c[k] ?? 0) + v;
    let cumulative = 0;
    for (const bound of [...LATENCY_BOUNDS_MS.map(String), "inf"]) {
      cumulative += c[`latency_ms.le_${bound}`] ?? 0;
      if (kind === "destination") latency.push(`sluice_delivery_latency_seconds_bucket{destination=${label(id)},le=${label(bound === "inf" ? "+Inf" : String(Number(bound) / 1000))}} ${cumulative}`);
    }
    if (kind === "destination") latency.push(`sluice_delivery_latency_seconds_count{destination=${label(id)}} ${cumulative}`);
    for (const [name, value] of Object.entries(c)) {
      if (name.startsWith("latency_ms.")) continue;
      const dot = name.indexOf(".");
      const outcome = dot === -1 ? name : name.slice(0, dot);
      const reason = dot === -1 ? "" : name.slice(dot + 1);
      events.push(`sluice_events_total{scope=${label(kind)},id=${label(id)},outcome=${label(outcome)}${reason ? `,reason=${label(reason)}` : ""}} ${value}`);
    }
  }
  return [
    "# TYPE sluice_events counter",
    "# HELP sluice_events Events per source, destination or tracking plan by outcome (accepted, rejected, dropped, routed, delivered, retried, failed, dead_lettered; validated, blocked, quarantined, replayed, …).",
    ...events,
    "# TYPE sluice_delivery_latency_seconds histogram",
    "# HELP sluice_delivery_latency_seconds Time from acceptance to delivery.",
    ...latency,
    "# EOF",
    "",
  ].join("\n");
}
