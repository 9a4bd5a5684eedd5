/**
 * What the Tracking API request path (accept.ts) asks of the world. The HTTP shell (src/http/app.ts) builds these
 * from the Worker's bindings; tests and benchmarks from in-memory fakes.
 */
import type { SourceConfig } from "../config/model.ts";
import type { ArchiveEntry } from "../storage/archive-object.ts";
import type { QuarantineRecord } from "../archive/quarantine.ts";
import type { Admission } from "../limits/lease.ts";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import type { Tally } from "../pipeline/route.ts";
import type { DeliveryQueues } from "../queue/messages.ts";

export type WaitUntil = (p: Promise<unknown>) => void;

export interface DedupResult<E> {
  /** Events to deliver, in request order. */
  fresh: E[];
  /** Events acknowledged but not delivered: repeated in the request or accepted within the window. */
  duplicates: number;
  /** Ids whose shard could not be reached (treated as new). */
  unchecked: number;
  /** Undo the claims: the request failed and the client will retry. */
  release(): Promise<void>;
  /** Make the claims final: the events are on the queue. */
  commit(): void;
}

/** Per-source rate limit, dedup and usage (src/http/guards.ts binds them to the request's env). */
export interface IngestGuards {
  /** Rate limit: `events` tokens from the source's bucket. */
  admit(source: SourceConfig, events: number): Promise<Admission>;
  /** Gives back what `admit` took, for a request whose events were not accepted after all. */
  refund(source: SourceConfig, admission: Admission): void;
  /** Sets aside events seen within the window and claims the others; throws ApiError 503 `in_flight`. */
  dedup<E extends SluiceEvent>(source: SourceConfig, events: E[], assigned: ReadonlySet<string>): Promise<DedupResult<E>>;
  /** After the events are queued: commit the claims, count the users. */
  accepted(source: SourceConfig, events: readonly SluiceEvent[], day: string, claim: DedupResult<SluiceEvent> | undefined): void;
}

/** Where quarantined events are held (src/archive/quarantine.ts: R2 + index). */
export interface QuarantineStore {
  /** Stores the records; throws when it could not (the request is then answered 503). */
  store(records: readonly QuarantineRecord[]): Promise<ArchiveEntry[]>;
  /** Undoes `store` (the request failed after all and the client will resend). */
  remove(entries: readonly ArchiveEntry[]): Promise<void>;
}

/** Counters: aggregated in memory, flushed soon after (Telemetry). */
export interface IngestStats extends Tally {
  flushSoon(waitUntil: WaitUntil): void;
}

export interface IngestPorts {
  /** The compiled config, asked for once the route is known (an unknown route compiles nothing). */
  pipeline: () => CompiledPipeline;
  stats: IngestStats;
  queues: DeliveryQueues;
  quarantine: QuarantineStore;
  /** Without them: no rate limit, dedup or usage. */
  guards?: IngestGuards;
  /** When the request was received (after its body was read). */
  clock: () => Date;
  newMessageId: () => string;
  /** Keeps background work (flushes, rollbacks) alive after the answer. */
  waitUntil: WaitUntil;
}
