/**
 * The request path's counters (requests, bytes, accepted, rejected.<reason>, …), held per source in the isolate and
 * carried to the router in the next ingest message of that source (its `counts`): the router adds them to the
 * source's stats once the message is settled, so the request path makes no StatsObject call of its own. Counts no
 * message took within `spillMs` (a source whose requests all fail: 400s, 429s) are handed to the isolate's
 * Telemetry and flushed: one call per source per `spillMs` at most, and only while nothing else carries them.
 */
import type { Tally } from "../pipeline/route.ts";
import type { IngestStats, WaitUntil } from "./ports.ts";

/** Where counts go when no message carried them: the isolate's Telemetry. */
export interface CountsSink extends Tally {
  flush(): Promise<void>;
}

/** How long counts wait for a message to ride before they are written on their own. */
export const SPILL_MS = 10_000;

export class EdgeCounts implements IngestStats {
  private pending = new Map<string, Record<string, number>>();
  private spilling: Promise<void> | undefined;

  constructor(
    private readonly sink: CountsSink,
    private readonly spillMs = SPILL_MS,
  ) {}

  count(scope: string, metric: string, n = 1): void {
    if (n === 0) return;
    let counts = this.pending.get(scope);
    if (!counts) this.pending.set(scope, (counts = {}));
    counts[metric] = (counts[metric] ?? 0) + n;
  }

  /** The scope's pending counts, removed: the caller sends them in a message (or gives them back). */
  take(scope: string): Record<string, number> | undefined {
    const counts = this.pending.get(scope);
    this.pending.delete(scope);
    return counts;
  }

  /** Puts back counts `take` removed, when the message that carried them was not sent. */
  restore(scope: string, counts: Record<string, number> | undefined): void {
    if (counts) for (const [metric, n] of Object.entries(counts)) this.count(scope, metric, n);
  }

  /** Writes, `spillMs` from now, what no message has carried by then; one schedule at a time. */
  spillSoon(waitUntil: WaitUntil): void {
    if (this.spilling || this.pending.size === 0) return;
    this.spilling = (async () => {
      await new Promise((r) => setTimeout(r, this.spillMs));
      this.spilling = undefined;
      const left = this.pending;
      this.pending = new Map();
      for (const [scope, counts] of left) for (const [metric, n] of Object.entries(counts)) this.sink.count(scope, metric, n);
      await this.sink.flush();
    })();
    waitUntil(this.spilling);
  }
}
