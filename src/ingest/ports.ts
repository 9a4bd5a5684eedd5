/**
 * What the Tracking API request path (accept.ts) asks of the world: no dedup, tracking plan or R2 (the router's). The HTTP shell (src/http/app.ts) builds these
 * from the Worker's bindings; tests and benchmarks from in-memory fakes.
 */
import type { SourceConfig } from "../config/model.ts";
import type { Admission } from "../limits/lease.ts";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import type { Tally } from "../pipeline/route.ts";
import type { MessageQueue } from "../queue/messages.ts";

export type WaitUntil = (p: Promise<unknown>) => void;

/** Per-source rate limit (src/http/guards.ts binds it to the request's env). Users are counted by the router. */
export interface IngestGuards {
  /** Rate limit: `events` tokens from the source's bucket. */
  admit(source: SourceConfig, events: number): Promise<Admission>;
  /** Gives back what `admit` took, for a request whose events were not accepted after all. */
  refund(source: SourceConfig, admission: Admission): void;
}

/**
 * Counters per source scope, held in the isolate (./counts.ts EdgeCounts): `take` hands them to the source's next
 * ingest message (the router writes them); what no message carries is written by `spillSoon`.
 */
export interface IngestStats extends Tally {
  take(scope: string): Record<string, number> | undefined;
  restore(scope: string, counts: Record<string, number> | undefined): void;
  spillSoon(waitUntil: WaitUntil): void;
}

export interface IngestPorts {
  /** The compiled config, asked for once the route is known (an unknown route compiles nothing). */
  pipeline: () => CompiledPipeline;
  stats: IngestStats;
  /** The ingest queue (`sluice-ingest`), the router's input. */
  ingest: MessageQueue;
  /** Without them: no rate limit. */
  guards?: IngestGuards;
  /** When the request was received (after its body was read). */
  clock: () => Date;
  newMessageId: () => string;
  /** Keeps background work (a spill of counts) alive after the answer. */
  waitUntil: WaitUntil;
}
