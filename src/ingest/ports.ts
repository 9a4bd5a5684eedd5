/**
 * What the Tracking API request path (accept.ts) asks of the world: no dedup, tracking plan or R2 (the router's). The HTTP shell (src/http/app.ts) builds these
 * from the Worker's bindings; tests and benchmarks from in-memory fakes.
 */
import type { SourceConfig } from "../config/model.ts";
import type { Admission } from "../limits/lease.ts";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import type { Tally } from "../pipeline/route.ts";
import type { MessageQueue } from "../queue/messages.ts";

export type WaitUntil = (p: Promise<unknown>) => void;

/** Per-source rate limit and usage (src/http/guards.ts binds them to the request's env). */
export interface IngestGuards {
  /** Rate limit: `events` tokens from the source's bucket. */
  admit(source: SourceConfig, events: number): Promise<Admission>;
  /** Gives back what `admit` took, for a request whose events were not accepted after all. */
  refund(source: SourceConfig, admission: Admission): void;
  /** After the events are queued: count the users. */
  accepted(source: SourceConfig, events: readonly SluiceEvent[], day: string): void;
}

/** Counters: aggregated in memory, flushed soon after (Telemetry). */
export interface IngestStats extends Tally {
  flushSoon(waitUntil: WaitUntil): void;
}

export interface IngestPorts {
  /** The compiled config, asked for once the route is known (an unknown route compiles nothing). */
  pipeline: () => CompiledPipeline;
  stats: IngestStats;
  /** The ingest queue (`sluice-ingest`), the router's input. */
  ingest: MessageQueue;
  /** Without them: no rate limit or usage. */
  guards?: IngestGuards;
  /** When the request was received (after its body was read). */
  clock: () => Date;
  newMessageId: () => string;
  /** Keeps background work (flushes) alive after the answer. */
  waitUntil: WaitUntil;
}
