/**
 * Typed telemetry: counts of what happened to events (accepted, rejected with a reason, dropped by a filter,
 * delivered, retried, dead-lettered), aggregated per isolate and flushed to one StatsObject per scope.
 * Never logs payloads: events carry personal data.
 */
import type { Tally } from "./pipeline/route.ts";
import type { StatsObject } from "./storage/stats-object.ts";

type Pending = Map<string, Map<string, number>>;

export class Telemetry implements Tally {
  private pending: Pending = new Map();
  private flushing: Promise<void> | undefined;

  constructor(private readonly stats: () => DurableObjectNamespace<StatsObject>) {}

  count(scope: string, metric: string, n = 1): void {
    if (n === 0) return;
    let m = this.pending.get(scope);
    if (!m) this.pending.set(scope, (m = new Map()));
    m.set(metric, (m.get(metric) ?? 0) + n);
  }

  /** Writes pending counts now; on failure they are put back and retried at the next flush. */
  async flush(now = Date.now()): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const hour = new Date(now).toISOString().slice(0, 13);
    const ns = this.stats();
    const results = await Promise.allSettled(
      [...batch].map(([scope, counts]) => ns.get(ns.idFromName(scope)).add(hour, Object.fromEntries(counts))),
    );
    const scopes = [...batch.keys()];
    results.forEach((r, i) => {
      if (r.status === "rejected") {
        console.error(JSON.stringify({ msg: "telemetry flush failed", scope: scopes[i], error: String(r.reason) }));
        for (const [metric, n] of batch.get(scopes[i]!)!) this.count(scopes[i]!, metric, n);
      }
    });
  }

  /**
   * For invocations that must not linger a second (queue batches): their counts join a flush already scheduled
   * (its invocation's waitUntil carries it), else they are written now.
   */
  flushJoin(waitUntil: (p: Promise<unknown>) => void): void {
    if (!this.flushing) waitUntil(this.flush());
  }

  /**
   * Coalesces flushes: the first request after a flush schedules one `delayMs` later; requests in between
   * only add to memory. Keeps Durable Object calls to about one per scope per second per isolate.
   */
  flushSoon(waitUntil: (p: Promise<unknown>) => void, delayMs = 1000): void {
    if (this.flushing || this.pending.size === 0) return;
    this.flushing = (async () => {
      await new Promise((r) => setTimeout(r, delayMs));
      this.flushing = undefined;
      await this.flush();
    })();
    waitUntil(this.flushing);
  }
}
